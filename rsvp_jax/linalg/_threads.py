"""BLAS threads: run LAPACK on one thread while many small matrices are factorised.

JAX's CPU linear algebra calls LAPACK from the OpenBLAS that SciPy ships (NumPy ships another);
by default each starts one thread per core for every call. For a batch of small blocks (a tile
Jacobian is 256 × 256, a token block 576 × 576) the threads only wait on each other, and on a busy
machine a 576 × 576 SVD took 9 s with two threads and 0.18 s with one (measured here, load
average ~8 on 2 cores). XLA's own matrix products do not use OpenBLAS and are unaffected.
`threadpoolctl` finds the loaded libraries and sets their thread counts.
"""

from __future__ import annotations

import contextlib


def _load_scipy_blas() -> None:
    """JAX's LAPACK kernels come from SciPy's OpenBLAS: make sure it is loaded before counting."""
    try:
        import scipy.linalg  # noqa: F401
    except ImportError:
        pass


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Within the block, every loaded BLAS library uses `n` threads; the previous counts return after."""
    from threadpoolctl import threadpool_limits

    _load_scipy_blas()
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


def openblas_libraries() -> list[str]:
    """Paths of the OpenBLAS shared objects loaded in this process (SciPy's and NumPy's builds)."""
    from threadpoolctl import threadpool_info

    _load_scipy_blas()
    return sorted({i["filepath"] for i in threadpool_info() if i.get("internal_api") == "openblas"})


__all__ = ["blas_threads", "openblas_libraries"]
