"""SVDs of many small blocks at once: every singular value, and the top-k singular pairs.

Two routes, the same results (to round-off):

- `"gram"` (CPU): σ² are the eigenvalues of the smaller Gram matrix G (JᵀJ or JJᵀ), formed and
  diagonalised in float64 on the host (one tridiagonalisation: LAPACK `dsterf` for all values,
  `dstebz` + `dstein` for the top k vectors; the other side is J v / σ or Jᵀ u / σ), one worker
  thread per core through LAPACKE (`_lapacke`, no GIL). Squaring costs accuracy only for
  ill-conditioned blocks: σ_i is good to about n·u·κ² (u = 2⁻⁵³, κ = σ₁/σ_min), and any block
  where that bound exceeds `GRAM_RTOL` = 1e-8 (or G is singular) is redone by LAPACK's SVD. A
  step's tile Jacobian is close to the identity (κ ≈ 1–2), so the fallback is rare.
- `"svd"`: `jnp.linalg.svd` (LAPACK `gesdd` on CPU, the vendor solver on a GPU), on whatever
  device holds the blocks, in chunks.

`"auto"` takes `"gram"` on the CPU backend and `"svd"` elsewhere (the host LAPACK path exists
only on CPU). LAPACK calls on the host run on one BLAS thread each (`blas_threads`).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os

import jax
import jax.numpy as jnp
import numpy as np

from ._lapacke import lapacke
from ._threads import blas_threads
from ._triplets import SingularTriplets, align_signs

METHODS = ("auto", "gram", "svd")
GRAM_RTOL = 1e-8  # the largest relative error of any σ_i the Gram route may have (else: LAPACK SVD)


def block_svd(J, k: int = 1, chunk: int = 256, method: str = "auto") -> SingularTriplets:
    """SVD of every block of `J` (..., m, n): all min(m, n) singular values (`sigma`, descending)
    and the top `k` pairs as rows, `U` (..., k, m) and `V` (..., k, n), signed by `align_signs`.

    `method`: see the module docstring. `chunk`: blocks per batch. Results are in J's dtype;
    `k = 0`: values only.
    """
    if method not in METHODS:
        raise ValueError(f"block SVD method {method!r} is unknown; valid methods are {', '.join(METHODS)}")
    if method == "auto":
        method = "gram" if jax.default_backend() == "cpu" else "svd"
    J = jnp.asarray(J)
    batch, (m, n) = J.shape[:-2], J.shape[-2:]
    k = int(min(k, m, n))
    dt = J.dtype
    if method == "gram":
        with blas_threads(1):
            sigma, U, V = _gram_svd(np.asarray(J).reshape((-1, m, n)), k, chunk)
        return SingularTriplets(jnp.asarray(sigma, dt).reshape(batch + (min(m, n),)),
                                jnp.asarray(U, dt).reshape(batch + (k, m)), jnp.asarray(V, dt).reshape(batch + (k, n)))
    flat = J.reshape((-1, m, n))
    sig, Us, Vs = [], [], []
    with blas_threads(1):  # many small LAPACK calls: threads would only wait on each other
        for i in range(0, flat.shape[0], chunk):
            s, U, V = _svd_rows(flat[i : i + chunk], k)
            sig.append(jax.block_until_ready(s))
            Us.append(U)
            Vs.append(V)
    return SingularTriplets(jnp.concatenate(sig).reshape(batch + (min(m, n),)),
                            jnp.concatenate(Us).reshape(batch + (k, m)), jnp.concatenate(Vs).reshape(batch + (k, n)))


@jax.jit(static_argnames="k")
def _svd_rows(J, k):
    if not k:
        s = jnp.linalg.svd(J, compute_uv=False)
        return s, jnp.zeros(J.shape[:-2] + (0, J.shape[-2]), J.dtype), jnp.zeros(J.shape[:-2] + (0, J.shape[-1]), J.dtype)
    U, s, Vt = jnp.linalg.svd(J, full_matrices=False)
    U, V = align_signs(jnp.swapaxes(U[..., :k], -1, -2), Vt[..., :k, :])
    return s, U, V


def _gram_svd(J: np.ndarray, k: int, chunk: int):
    """The `"gram"` route of `block_svd` on blocks J (B, m, n), in float64 NumPy / LAPACK: (σ, U, V)
    with U (B, k, m), V (B, k, n) as rows.

    Chunks of blocks run on one thread per core (`_workers`) where LAPACKE is bound (its ctypes
    calls release the GIL); else one at a time through SciPy.
    """
    B, m, n = J.shape
    p = min(m, n)
    wide = m < n  # diagonalise J Jᵀ (its eigenvectors are U) rather than JᵀJ
    sigma = np.zeros((B, p))
    U, V = np.zeros((B, k, m)), np.zeros((B, k, n))
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
                sigma[b], U[b], V[b] = s, u[:, :k].T, vt[:k]
                continue
            sigma[b] = np.sqrt(lam[::-1])
            if k:
                X = eig[1]
                if wide:
                    U[b], V[b] = X.T, (Jc[j].T @ X / sigma[b, :k]).T
                else:
                    V[b], U[b] = X.T, (Jc[j] @ X / sigma[b, :k]).T

    starts = range(0, B, chunk)
    workers = min(_workers(), len(starts)) if lp is not None else 1
    if workers > 1:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, starts))  # list(): re-raises a worker's exception here
    else:
        for i0 in starts:
            work(i0)
    if k:
        U, V = align_signs(U, V, np_module=np)
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


def block_eigenvalues(J) -> np.ndarray:
    """The eigenvalues of every square block of `J` (..., n, n), complex, by descending real part
    (then by descending imaginary part). LAPACK `dgeev` on the host, one BLAS thread (XLA offers a
    general eigensolver on CPU only, so this runs on the host on every backend)."""
    J = np.asarray(J)
    if J.shape[-1] != J.shape[-2]:
        raise ValueError(f"eigenvalues need square blocks, got blocks of shape {J.shape[-2:]}")
    with blas_threads(1):
        lam = np.linalg.eigvals(J)
    order = np.lexsort((-lam.imag, -lam.real), axis=-1)
    return np.take_along_axis(lam, order, axis=-1)


__all__ = ["block_svd", "block_eigenvalues", "METHODS", "GRAM_RTOL"]
