"""What a tile's dominant modes are made of: SVD of tile blocks, energy shares, labels, tracking.

A singular vector w of a tile Jacobian is a field on the tile's cells (Q = b, or b + 2r for
the halo columns): w = (Φ, v_1..v_D, S), ‖w‖ = 1. Its energy splits into

```
e_Φ = Σ Φ²,   e_S = Σ S²,   e_v = Σ |v|² = e_drift + e_compressive + e_rotational
e_drift       = Qᴰ |v̄|²                               (the tile-mean flow: a uniform drift)
e_compressive = (e_v − e_drift) · a / (a + c),   a = Σ (∇·v)²
e_rotational  = (e_v − e_drift) · c / (a + c),   c = Σ |∇×v|²
```

with ∇·v and ∇×v the lattice's central differences (`_lattice.divergence` / `curl`) taken on
the tile's interior cells only, so the tile is never wrapped onto itself (no periodicity is
assumed inside a tile). A flow whose divergence and curl both vanish there (a → 0, c → 0)
is split evenly. In 1D there is no rotation (c = 0). The shares sum to 1.

The label is the largest of e_Φ ("scalar sink/source"), e_drift + e_compressive
("compressive drift": potential flow, converging, diverging or translating), e_rotational
("vortex") and e_S ("entropy wave").
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from ._blas import lapacke, single_threaded_blas

SHARES = ("phi", "v_drift", "v_compressive", "v_rotational", "S")
LABELS = ("scalar sink/source", "compressive drift", "vortex", "entropy wave")


@dataclasses.dataclass(frozen=True)
class TileSVD:
    """Singular values and the top-k singular vectors of a batch of tile Jacobians.

    `sigma` (..., min(m, n)) descending; `U` (..., m, k) output directions; `V` (..., n, k)
    input directions (columns), each signed so that its largest-magnitude entry is positive.
    """

    sigma: jax.Array
    U: jax.Array
    V: jax.Array


jax.tree_util.register_dataclass(TileSVD, data_fields=["sigma", "U", "V"], meta_fields=[])


def _fix_signs(U, V):
    """Make each pair (u_i, v_i) deterministic: flip both so v_i's largest |entry| is positive."""
    idx = jnp.argmax(jnp.abs(V), axis=-2, keepdims=True)
    sign = jnp.sign(jnp.take_along_axis(V, idx, axis=-2))
    sign = jnp.where(sign == 0, 1.0, sign)
    return U * sign, V * sign


@jax.jit
def _svd_vectors(J):
    U, s, Vt = jnp.linalg.svd(J, full_matrices=False)
    return s, U, jnp.swapaxes(Vt, -1, -2)


@jax.jit
def _svd_values(J):
    return jnp.linalg.svd(J, compute_uv=False)


SVD_METHODS = ("gram", "svd")
GRAM_RTOL = 1e-8  # the largest relative error of any σ_i the Gram route may have (else: LAPACK SVD)


def tile_svd(J, k: int = 1, chunk: int = 256, method: str = "gram") -> TileSVD:
    """SVD of every block of `J` (..., m, n): every singular value and the top `k` singular pairs.

    - `"gram"` (default): σ² are the eigenvalues of the smaller Gram matrix G (JᵀJ or JJᵀ),
      formed and diagonalised in float64 (one tridiagonalisation: LAPACK `dsterf` for all values,
      `dstebz` + `dstein` for the top k vectors; the other side is J v / σ or Jᵀ u / σ), on one
      thread per core. Squaring costs accuracy only for ill-conditioned blocks: σ_i is good to
      about n·u·κ² (u = 2⁻⁵³, κ = σ₁/σ_min), and any block where that bound exceeds
      `GRAM_RTOL` = 1e-8 (or G is singular) is redone by LAPACK's SVD. A step's tile
      Jacobian is close to the identity (κ ≈ 1–2), so in practice the fallback is rare.
    - `"svd"`: LAPACK `gesdd` (`jnp.linalg.svd`) on every block.

    Each LAPACK call runs on one thread (see `_blas`). Results are in J's dtype; `k = 0`: values only.
    """
    if method not in SVD_METHODS:
        raise ValueError(f"tile_svd method {method!r} is unknown; valid methods are {', '.join(SVD_METHODS)}")
    J = jnp.asarray(J)
    batch, (m, n) = J.shape[:-2], J.shape[-2:]
    k = int(min(k, m, n))
    if method == "gram":
        with single_threaded_blas():
            sigma, U, V = _gram_svd(np.asarray(J).reshape((-1, m, n)), k, chunk)
        dt = J.dtype
        return TileSVD(jnp.asarray(sigma, dt).reshape(batch + (min(m, n),)), jnp.asarray(U, dt).reshape(batch + (m, k)),
                       jnp.asarray(V, dt).reshape(batch + (n, k)))
    flat = J.reshape((-1, m, n))
    sig, Us, Vs = [], [], []
    with single_threaded_blas():  # many small LAPACK calls: threads would only wait on each other
        for i in range(0, flat.shape[0], chunk):
            block = flat[i : i + chunk]
            if k:
                s, U, V = _svd_vectors(block)
                U, V = _fix_signs(U[..., :k], V[..., :k])
                Us.append(U)
                Vs.append(V)
            else:
                s = _svd_values(block)
            sig.append(jax.block_until_ready(s))
    sigma = jnp.concatenate(sig).reshape(batch + (min(m, n),))
    if k:
        U = jnp.concatenate(Us).reshape(batch + (m, k))
        V = jnp.concatenate(Vs).reshape(batch + (n, k))
    else:
        U, V = jnp.zeros(batch + (m, 0), J.dtype), jnp.zeros(batch + (n, 0), J.dtype)
    return TileSVD(sigma, U, V)


def _gram_svd(J: np.ndarray, k: int, chunk: int):
    """The `"gram"` route of `tile_svd` on blocks J (B, m, n), in float64 NumPy / LAPACK.

    Chunks of blocks run on one thread per core (`_workers`) where LAPACKE is bound (its ctypes
    calls release the GIL); else one at a time through SciPy.
    """
    B, m, n = J.shape
    p = min(m, n)
    wide = m < n  # diagonalise J Jᵀ (its eigenvectors are U) rather than JᵀJ
    sigma = np.zeros((B, p))
    U, V = np.zeros((B, m, k)), np.zeros((B, n, k))
    eps = np.finfo(np.float64).eps
    lp = lapacke()

    def work(i0):
        Jc = np.asarray(J[i0 : i0 + chunk], np.float64)
        G = Jc @ np.swapaxes(Jc, 1, 2) if wide else np.swapaxes(Jc, 1, 2) @ Jc
        for j, g in enumerate(G):
            b = i0 + j
            eig = _eig_lapacke(lp, g, k) if lp is not None else _eig_scipy(g, k)
            lam = eig[0] if eig is not None else None
            if lam is None or not (lam[0] > 0 and p * eps * lam[-1] / lam[0] <= GRAM_RTOL):
                u, s, vt = np.linalg.svd(Jc[j], full_matrices=False)  # ill-conditioned: LAPACK SVD
                sigma[b], U[b], V[b] = s, u[:, :k], vt[:k].T
                continue
            sigma[b] = np.sqrt(lam[::-1])
            if k:
                X = eig[1]
                if wide:
                    U[b], V[b] = X, Jc[j].T @ X / sigma[b, :k]
                else:
                    V[b], U[b] = X, Jc[j] @ X / sigma[b, :k]

    starts = range(0, B, chunk)
    workers = min(_workers(), len(starts)) if lp is not None else 1
    if workers > 1:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, starts))  # list(): re-raises a worker's exception here
    else:
        for i0 in starts:
            work(i0)
    if k:
        idx = np.argmax(np.abs(V), axis=1)[:, None, :]
        sign = np.sign(np.take_along_axis(V, idx, axis=1))
        sign[sign == 0] = 1.0
        U, V = U * sign, V * sign
    return sigma, U, V


def _workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _eig_scipy(g, k):
    """All eigenvalues (ascending) of the symmetric g, and the top-k eigenvectors (descending), SciPy."""
    import scipy.linalg as sl

    p = g.shape[0]
    lam = sl.eigvalsh(g, driver="evd", check_finite=False)
    if not k:
        return lam, None
    _, X = sl.eigh(g, subset_by_index=[p - k, p - 1], driver="evr", check_finite=False)
    return lam, X[:, ::-1]


_ABSTOL = 2 * np.finfo(np.float64).tiny  # dstebz: bisect to full accuracy


def _eig_lapacke(lp, g, k):
    """`_eig_scipy` with one tridiagonalisation: `dsytrd`, then `dsterf` for every eigenvalue and
    `dstebz` + `dstein` + `dormtr` for the top k vectors. None if LAPACK reports a failure."""
    p = g.shape[0]
    a = np.array(g, np.float64, order="F")  # symmetric: LAPACK reads the lower triangle
    d, e, tau = np.empty(p), np.zeros(max(p - 1, 1)), np.zeros(max(p - 1, 1))
    ptr = lambda arr: arr.ctypes.data  # noqa: E731
    if lp.dsytrd(102, b"L", p, ptr(a), p, ptr(d), ptr(e), ptr(tau)):
        return None
    lam, e2 = d.copy(), e.copy()
    if lp.dsterf(p, ptr(lam), ptr(e2)):  # ascending
        return None
    if not k:
        return lam, None
    found, nsplit = ctypes.c_int(), ctypes.c_int()
    w, iblock, isplit = np.empty(p), np.empty(p, np.int32), np.empty(p, np.int32)
    if lp.dstebz(b"I", b"B", p, 0.0, 0.0, p - k + 1, p, _ABSTOL, ptr(d), ptr(e), ctypes.byref(found),
                 ctypes.byref(nsplit), ptr(w), ptr(iblock), ptr(isplit)) or found.value != k:
        return None
    Z = np.empty((k, p))  # column-major p × k
    ifail = np.empty(k, np.int32)
    if lp.dstein(102, p, ptr(d), ptr(e), k, ptr(w), ptr(iblock), ptr(isplit), ptr(Z), p, ptr(ifail)):
        return None
    if lp.dormtr(102, b"L", b"L", b"N", p, k, ptr(a), p, ptr(tau), ptr(Z), p):  # Z ← Q Z
        return None
    return lam, Z[np.argsort(w[:k])[::-1]].T


# ---- make-up ---------------------------------------------------------------------------------


def _interior_derivative(f, d: int, D: int):
    """(f_{i+1} − f_{i−1}) / 2 along cell axis d, on the cells interior in every axis (h = 1)."""
    inner = [slice(1, -1)] * D
    plus, minus = list(inner), list(inner)
    plus[d], minus[d] = slice(2, None), slice(None, -2)
    return 0.5 * (f[(Ellipsis, *plus)] - f[(Ellipsis, *minus)])


def mode_makeup(w, cells) -> dict:
    """The energy shares (module docstring) of mode vectors w (..., C·Πcells), C = D + 2.

    Returns a dict with one array (...,) per name in `SHARES`; they sum to ‖w‖².
    """
    cells = tuple(int(q) for q in cells)
    D = len(cells)
    w = jnp.asarray(w)
    fields = w.reshape(w.shape[:-1] + (D + 2,) + cells)
    axes = tuple(range(-D, 0))
    comp = -D - 1
    phi, S = jnp.take(fields, 0, axis=comp), jnp.take(fields, D + 1, axis=comp)
    v = jax.lax.slice_in_dim(fields, 1, 1 + D, axis=fields.ndim + comp)
    e_phi, e_S = jnp.sum(phi**2, axis=axes), jnp.sum(S**2, axis=axes)
    e_v = jnp.sum(v**2, axis=(comp, *axes))
    mean = jnp.mean(v, axis=axes)  # (..., D)
    e_drift = math.prod(cells) * jnp.sum(mean**2, axis=-1)
    e_fluct = jnp.maximum(e_v - e_drift, 0.0)
    if min(cells) >= 3:
        dv = [[_interior_derivative(jnp.take(v, i, axis=comp), d, D) for d in range(D)] for i in range(D)]
        div = sum(dv[d][d] for d in range(D))
        a = jnp.sum(div**2, axis=axes)
        if D == 1:
            c = jnp.zeros_like(a)
        elif D == 2:
            c = jnp.sum((dv[1][0] - dv[0][1]) ** 2, axis=axes)
        else:
            c = sum(jnp.sum((dv[i][j] - dv[j][i]) ** 2, axis=axes) for i, j in ((2, 1), (0, 2), (1, 0)))
        total = a + c
        frac = jnp.where(total > 0, a / jnp.where(total > 0, total, 1.0), 0.5)
    else:  # a tile too small to have interior cells: no derivative to split by
        frac = jnp.full_like(e_v, 0.5)
    return {
        "phi": e_phi,
        "v_drift": e_drift,
        "v_compressive": e_fluct * frac,
        "v_rotational": e_fluct * (1.0 - frac),
        "S": e_S,
    }


def shares_array(makeup: dict):
    """The shares as one array (..., len(SHARES)), normalised to sum to 1."""
    arr = jnp.stack([makeup[k] for k in SHARES], axis=-1)
    total = jnp.sum(arr, axis=-1, keepdims=True)
    return arr / jnp.where(total > 0, total, 1.0)


def mode_labels(shares):
    """Label codes (indices into `LABELS`) from shares (..., len(SHARES))."""
    shares = jnp.asarray(shares)
    scores = jnp.stack([shares[..., 0], shares[..., 1] + shares[..., 2], shares[..., 3], shares[..., 4]], axis=-1)
    return jnp.argmax(scores, axis=-1)


def label_names(codes) -> np.ndarray:
    """Label codes → their names, as a NumPy array of strings."""
    return np.asarray(LABELS, dtype=object)[np.asarray(codes)]


# ---- tracking modes between times ------------------------------------------------------------


def match_modes(V_prev, V_next):
    """Greedy matching of the top-k modes of two times by overlap |⟨v_i(t), v_j(t′)⟩|.

    V_prev, V_next: (..., n, k) orthonormal columns. Returns `(match, overlap)`, both (..., k):
    mode i at the earlier time continues as mode `match[i]`, with overlap `overlap[i]` ∈ [0, 1].
    Pairs are taken in order of decreasing overlap, each mode used once.
    """
    M = np.abs(np.einsum("...ni,...nj->...ij", np.asarray(V_prev), np.asarray(V_next)))
    batch, k = M.shape[:-2], M.shape[-1]
    M = M.reshape((-1, k, k)).copy()
    match = np.zeros((M.shape[0], k), int)
    overlap = np.zeros((M.shape[0], k), M.dtype)
    rows = np.arange(M.shape[0])
    work = M.copy()
    for _ in range(k):
        flat = work.reshape(work.shape[0], -1).argmax(axis=1)
        i, j = np.divmod(flat, k)
        match[rows, i] = j
        overlap[rows, i] = M[rows, i, j]
        work[rows, i, :] = -1.0
        work[rows, :, j] = -1.0
    return match.reshape(batch + (k,)), overlap.reshape(batch + (k,))


__all__ = ["TileSVD", "tile_svd", "mode_makeup", "shares_array", "mode_labels", "label_names", "match_modes",
           "SHARES", "LABELS"]
