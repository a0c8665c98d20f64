r"""Matrix-free singular triplets: a linear map touched only through products A w (and Aᵀ u).

- `lanczos_svd`: Golub–Kahan–Lanczos bidiagonalisation with full reorthogonalisation
  (`matfree.decomp.bidiag`, Golub & Kahan 1965): m steps give A V_m = U_m B_m, and the SVD of
  the small bidiagonal B_m gives the Ritz triplets. One A w and one Aᵀ u per step (matfree
  transposes the product with `jax.vjp`).
- `randomized_svd`: randomized subspace iteration (Halko, Martinsson & Tropp 2011):
  Y = (A Aᵀ)^q A Ω, Q = qr(Y), SVD of Qᵀ A. Its products come in blocks, so a block of vectors
  can go through one `vmap`ped product (e.g. several tangents through one rollout).
- `block_krylov_svd`: randomized block Krylov (Musco & Musco 2015, *NeurIPS*): Rayleigh–Ritz
  on the whole space [AΩ, (AAᵀ)AΩ, …, (AAᵀ)^q AΩ] (or its input-side twin [Ω, (AᵀA)Ω, …])
  rather than on its last block. For the same
  products it converges far faster than subspace iteration where the spectrum is flat (a
  propagator over a short horizon: every σ near 1). Its products come in blocks of p vectors of
  one shape, so a jitted product compiles once.
- `lanczos_quadrature`, `gauss_nodes`: stochastic Lanczos quadrature of a symmetric operator (the
  spectral density of AᵀA), probes advancing together through block products.
- `residual_norms`: max(‖A v_i − σ_i u_i‖, ‖Aᵀ u_i − σ_i v_i‖) of each triplet.

Vectors are pytrees of arrays (a lattice state (C, *N), a prompt's embeddings (T, d)); the
triplets come back as `SingularTriplets`, vectors as rows, signed by `align_signs`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._triplets import SingularTriplets, align_signs


def lanczos_svd(matvec, v0, k: int, steps: int, *, reference=None) -> SingularTriplets:
    """The top-k singular triplets of w ↦ `matvec(w)` from `steps` GKL steps started at `v0`.

    `steps` ≥ k (more steps, better converged triplets: 2k + 16 is a good start). Traceable.
    `reference`: see `align_signs`. No residuals (see `residual_norms`).
    """
    import matfree.decomp
    import matfree.eig

    U, s, V = matfree.eig.svd_partial(matfree.decomp.bidiag(int(steps)))(matvec, v0)
    U, V = align_signs(U[:k], V[:k], reference, vector_ndim=U.ndim - 1)
    return SingularTriplets(s[:k], U, V)


def randomized_svd(apply, apply_t, omega, k: int, power_iters: int = 2, *, reference=None) -> SingularTriplets:
    """Top-k triplets by randomized subspace iteration on a block of p = `omega.shape[0]` ≥ k vectors.

    `apply(W)` maps a block of input vectors (p, *in) to (p, *out) (A on each), `apply_t` the
    reverse (Aᵀ on each); write them with `jax.vmap` or `lax.map` over the block. `omega`: the
    random start block (p, *in). Traceable.
    """
    p = omega.shape[0]
    in_shape = omega.shape[1:]
    flat = lambda B: B.reshape(B.shape[0], -1).T  # noqa: E731  (p, *shape) → (n, p) columns
    orth = lambda B: jnp.linalg.qr(flat(B))[0]  # noqa: E731
    Y = apply(omega)
    out_shape = Y.shape[1:]
    for _ in range(power_iters):
        Z = apply_t(orth(Y).T.reshape((p, *out_shape)))
        Y = apply(orth(Z).T.reshape((p, *in_shape)))
    Q = orth(Y)  # (m, p)
    Bt = flat(apply_t(Q.T.reshape((p, *out_shape))))  # (n, p) = (QᵀA)ᵀ
    W, s, Zt = jnp.linalg.svd(Bt, full_matrices=False)  # Bᵀ = W s Zᵀ → QᵀA = Z s Wᵀ
    U = (Q @ Zt.T)[:, :k].T.reshape((k, *out_shape))
    V = W[:, :k].T.reshape((k, *in_shape))
    U, V = align_signs(U, V, reference, vector_ndim=len(out_shape))
    return SingularTriplets(s[:k], U, V)


def orthonormal_rows(B):
    """An orthonormal basis, as rows (min(p, n), *shape), of the span of the rows of B (p, *shape) (QR)."""
    Q, _ = jnp.linalg.qr(B.reshape(B.shape[0], -1).T)
    return Q.T.reshape((Q.shape[1], *B.shape[1:]))


def map_blocks(fn, W, p: int):
    """`fn` (a block product on p rows) applied to the rows of W (m, *shape) in blocks of p, the
    last block zero-padded: every call has the same shape, so a jitted `fn` compiles once."""
    m = W.shape[0]
    n_blocks = -(-m // p)
    if n_blocks * p > m:
        W = jnp.concatenate([W, jnp.zeros((n_blocks * p - m, *W.shape[1:]), W.dtype)])
    return jnp.concatenate([fn(W[i * p:(i + 1) * p]) for i in range(n_blocks)])[:m]


def block_krylov_svd(forward, adjoint, omega, k: int, depth: int, *, side: str = "output", reference=None):
    """Top-k triplets of A from the block Krylov space of depth `depth` started at `omega` (p, *in).

    `forward(W)` / `adjoint(U)`: A and Aᵀ on blocks of p rows (jitted, they compile once: the
    loops here are Python, so call this eagerly, or under `jit` to unroll them). Returns
    `(triplets, first)`: the `SingularTriplets` (no residuals) and A·omega (the first block, e.g.
    for Hutchinson's estimator ‖A‖²_F ≈ mean ‖A ω‖² over Gaussian ω).

    `side` is where the space lives:

    - `"output"`: [AΩ, (AAᵀ)AΩ, …, (AAᵀ)^depth AΩ], Rayleigh–Ritz by Aᵀ on its basis; then
      ‖A v_i − σ_i u_i‖ is the residual to check (Aᵀu_i = σ_i v_i holds by construction).
      Products: p·(depth + 1) forward, p·(2·depth + 1) adjoint.
    - `"input"`: [Ω, (AᵀA)Ω, …, (AᵀA)^depth Ω], Rayleigh–Ritz by A; then ‖Aᵀu_i − σ_i v_i‖ is
      the residual (A v_i = σ_i u_i by construction). Products: p·(2·depth + 2) forward (the
      first block included), p·depth adjoint: the choice where the adjoint costs more than the
      forward product (a tangent-linear model's: several times more).

    `depth`·p ≤ n keeps every block full rank.
    """
    if side not in ("output", "input"):
        raise ValueError(f"side {side!r} is invalid; 'output' or 'input'")
    p = omega.shape[0]
    first = forward(omega)
    if side == "input":
        blocks, Y = [omega], first
        for i in range(depth):
            Z = adjoint(orthonormal_rows(Y))
            blocks.append(Z)
            if i < depth - 1:
                Y = forward(orthonormal_rows(Z))
        in_shape = omega.shape[1:]
        Q = orthonormal_rows(jnp.concatenate(blocks))  # (m, *in)
        B = map_blocks(forward, Q, p)
        out_shape = B.shape[1:]
        Ub, s, Wt = jnp.linalg.svd(B.reshape(Q.shape[0], -1).T, full_matrices=False)  # A Qᵀ = Ub s Wt
        U = Ub[:, :k].T.reshape((k, *out_shape))
        V = jnp.einsum("ij,jn->in", Wt[:k], Q.reshape(Q.shape[0], -1)).reshape((k, *in_shape))
        U, V = align_signs(U, V, reference, vector_ndim=len(out_shape))
        return SingularTriplets(s[:k], U, V), first
    blocks, Y = [first], first
    for _ in range(depth):
        Y = forward(orthonormal_rows(adjoint(orthonormal_rows(Y))))
        blocks.append(Y)
    # (depth + 1)·p vectors may exceed the n dimensions: the basis then spans all of them (n rows).
    out_shape = first.shape[1:]
    Q = orthonormal_rows(jnp.concatenate(blocks))  # (m, *out): the space's basis
    Bt = map_blocks(adjoint, Q, p).reshape(Q.shape[0], -1).T  # (n, m) = (QᵀA)ᵀ
    W, s, Zt = jnp.linalg.svd(Bt, full_matrices=False)  # QᵀA = Z s Wᵀ
    U = jnp.einsum("ij,jn->in", Zt[:k], Q.reshape(Q.shape[0], -1)).reshape((k, *out_shape))
    V = W[:, :k].T.reshape((k, *omega.shape[1:]))
    U, V = align_signs(U, V, reference, vector_ndim=len(out_shape))
    return SingularTriplets(s[:k], U, V), first


def rayleigh_ritz(X, AX, k: int, *, rtol=None, reference=None) -> SingularTriplets:
    """The top-k triplets of A on the span of the rows of X (m, *in), from their images AX (m, *out).

    No product is made: the span's orthonormal basis is X's right singular vectors (X = P S Wᵀ,
    rows of Wᵀ with S > `rtol`·S₁ kept, default √eps), and its image follows by linearity,
    A W = (AX)ᵀ P S⁻¹. The rows of X may be any vectors whose images are known, e.g. the Lanczos
    vectors of several stochastic-quadrature probes (each set orthonormal, the sets not). Rounding
    in AX grows by at most 1/(`rtol`·S₁) in the kept directions, so A v_i = σ_i u_i holds to about
    √eps, not exactly: check both residuals (`residual_norms`).
    """
    m = X.shape[0]
    Xf, Yf = X.reshape(m, -1), AX.reshape(m, -1)
    P, S, Wt = jnp.linalg.svd(Xf, full_matrices=False)
    tol = (jnp.finfo(Xf.dtype).eps ** 0.5 if rtol is None else rtol) * S[0]
    keep = S > tol
    # coefficients of the kept basis rows in terms of X's rows: W_j = Σ_i X_i P_ij / S_j
    C = jnp.where(keep[None, :], P / jnp.where(keep, S, 1.0)[None, :], 0.0)  # (m, r)
    B = C.T @ Yf  # (r, n_out): the rows A w_j (zero for the dropped directions)
    Ub, s, Zt = jnp.linalg.svd(B.T, full_matrices=False)  # A Wᵀ = Ub s Zt
    Wk = jnp.where(keep[:, None], Wt, 0.0)
    U = Ub[:, :k].T.reshape((k, *AX.shape[1:]))
    V = (Zt[:k] @ Wk).reshape((k, *X.shape[1:]))
    U, V = align_signs(U, V, reference, vector_ndim=AX.ndim - 1)
    return SingularTriplets(s[:k], U, V)


def lanczos_quadrature(matvec_block, probes, steps: int):
    """Gauss quadrature of a symmetric positive semi-definite operator B from Lanczos on each probe.

    `matvec_block(Z)`: B applied to each row of Z (P, *shape); `probes` (P, *shape), e.g.
    Rademacher vectors; `steps` Lanczos steps per probe, with full reorthogonalisation (all probes
    advance together, one block product per step). Returns the tridiagonal matrices (P, m, m):
    their eigenvalues θ_j are the nodes and (first components of their eigenvectors)² the weights
    τ_j, so that zᵀ f(B) z ≈ ‖z‖² Σ_j τ_j f(θ_j) (stochastic Lanczos quadrature; Golub & Meurant
    1994, Ubaru, Chen & Saad 2017). See `gauss_nodes`.
    """
    P = probes.shape[0]
    flat = lambda Z: Z.reshape(P, -1)  # noqa: E731
    q = flat(probes) / jnp.linalg.norm(flat(probes), axis=1, keepdims=True)
    basis, alphas, betas = [q], [], []
    tiny = jnp.finfo(q.dtype).tiny ** 0.5
    for j in range(steps):
        w = flat(matvec_block(basis[-1].reshape(probes.shape)))
        a = jnp.sum(w * basis[-1], axis=1)
        w = w - a[:, None] * basis[-1] - (betas[-1][:, None] * basis[-2] if j else 0.0)
        Qs = jnp.stack(basis, 1)  # (P, j+1, n): full reorthogonalisation, twice is enough
        for _ in range(2):
            w = w - jnp.einsum("pj,pjn->pn", jnp.einsum("pn,pjn->pj", w, Qs), Qs)
        b = jnp.linalg.norm(w, axis=1)
        alphas.append(a)
        if j < steps - 1:
            betas.append(jnp.where(b > tiny, b, 0.0))
            basis.append(jnp.where((b > tiny)[:, None], w / jnp.where(b > tiny, b, 1.0)[:, None], 0.0))
    T = jax.vmap(jnp.diag)(jnp.stack(alphas, 1))
    if betas:
        off = jax.vmap(lambda b: jnp.diag(b, 1))(jnp.stack(betas, 1))
        T = T + off + jnp.swapaxes(off, 1, 2)
    return T


def gauss_nodes(T):
    """Nodes θ (P, m), clipped at 0, and weights τ (P, m) of the quadratures tridiagonal T (P, m, m)."""
    theta, Y = jnp.linalg.eigh(T)
    return jnp.maximum(theta, 0.0), Y[:, 0, :] ** 2


def residual_norms(matvec, rmatvec, t: SingularTriplets) -> jax.Array:
    """max(‖A v_i − σ_i u_i‖, ‖Aᵀ u_i − σ_i v_i‖) for each triplet of `t` (one product each way)."""
    norm = lambda R: jnp.sqrt(jnp.sum(R.reshape(R.shape[0], -1) ** 2, axis=1))  # noqa: E731
    s_u = t.sigma[: t.U.shape[0]].reshape((-1,) + (1,) * (t.U.ndim - 1))
    s_v = t.sigma[: t.V.shape[0]].reshape((-1,) + (1,) * (t.V.ndim - 1))
    return jnp.maximum(norm(jax.lax.map(matvec, t.V) - s_u * t.U), norm(jax.lax.map(rmatvec, t.U) - s_v * t.V))


__all__ = ["lanczos_svd", "randomized_svd", "block_krylov_svd", "rayleigh_ritz", "residual_norms", "orthonormal_rows", "map_blocks",
           "lanczos_quadrature", "gauss_nodes"]
