"""Run LAPACK on one thread while many small matrices are factorised.

JAX's CPU linear algebra calls LAPACK from SciPy's bundled OpenBLAS, which by default starts
one thread per core for every call. For a batch of small blocks (a tile Jacobian is
256 × 256) the threads only wait on each other, and on a busy machine a 256 × 256 SVD then
takes seconds instead of milliseconds. `single_threaded_blas()` sets every loaded OpenBLAS
to one thread for the duration of a `with` block and restores the previous count after, the
way `threadpoolctl` does; where no OpenBLAS is loaded it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes

_SYMBOLS = (  # (get, set) pairs: plain OpenBLAS, SciPy's 32-bit build, NumPy's 64-bit build
    ("openblas_get_num_threads", "openblas_set_num_threads"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
)


def _openblas_controls():
    """(get, set) ctypes functions of every OpenBLAS library loaded in this process."""
    try:
        import scipy.linalg  # noqa: F401  (JAX's LAPACK kernels come from SciPy's OpenBLAS; make sure it is loaded)
    except ImportError:
        pass
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({p for p in (line.split()[-1] for line in f) if "openblas" in p.lower() and ".so" in p})
    except OSError:
        return []
    controls = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get, set_ in _SYMBOLS:
            if hasattr(lib, get) and hasattr(lib, set_):
                getter, setter = getattr(lib, get), getattr(lib, set_)
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                controls.append((getter, setter))
                break
    return controls


@contextlib.contextmanager
def single_threaded_blas():
    """Within the block, every loaded OpenBLAS uses one thread."""
    controls = _openblas_controls()
    previous = [get() for get, _ in controls]
    for _, set_ in controls:
        set_(1)
    try:
        yield
    finally:
        for (_, set_), n in zip(controls, previous):
            set_(n)
