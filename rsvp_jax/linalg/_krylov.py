r"""Matrix-free singular triplets: a linear map touched only through products A w (and Aᵀ u).

- `lanczos_svd`: Golub–Kahan–Lanczos bidiagonalisation with full reorthogonalisation
  (`matfree.decomp.bidiag`, Golub & Kahan 1965): m steps give A V_m = U_m B_m, and the SVD of
  the small bidiagonal B_m gives the Ritz triplets. One A w and one Aᵀ u per step (matfree
  transposes the product with `jax.vjp`).
- `randomized_svd`: randomized subspace iteration (Halko, Martinsson & Tropp 2011):
  Y = (A Aᵀ)^q A Ω, Q = qr(Y), SVD of Qᵀ A. Its products come in blocks, so a block of vectors
  can go through one `vmap`ped product (e.g. several tangents through one rollout).
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


def residual_norms(matvec, rmatvec, t: SingularTriplets) -> jax.Array:
    """max(‖A v_i − σ_i u_i‖, ‖Aᵀ u_i − σ_i v_i‖) for each triplet of `t` (one product each way)."""
    norm = lambda R: jnp.sqrt(jnp.sum(R.reshape(R.shape[0], -1) ** 2, axis=1))  # noqa: E731
    s_u = t.sigma[: t.U.shape[0]].reshape((-1,) + (1,) * (t.U.ndim - 1))
    s_v = t.sigma[: t.V.shape[0]].reshape((-1,) + (1,) * (t.V.ndim - 1))
    return jnp.maximum(norm(jax.lax.map(matvec, t.V) - s_u * t.U), norm(jax.lax.map(rmatvec, t.U) - s_v * t.V))


__all__ = ["lanczos_svd", "randomized_svd", "residual_norms"]
