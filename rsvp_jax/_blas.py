"""Run LAPACK on one thread while many small matrices are factorised; LAPACK without the GIL.

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
import functools
import types

_SYMBOLS = (  # (get, set) pairs: plain OpenBLAS, SciPy's 32-bit build, NumPy's 64-bit build
    ("openblas_get_num_threads", "openblas_set_num_threads"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
)


def _openblas_paths() -> list[str]:
    """Paths of the OpenBLAS shared objects loaded in this process (Linux), SciPy's included."""
    try:
        import scipy.linalg  # noqa: F401  (JAX's LAPACK kernels come from SciPy's OpenBLAS; make sure it is loaded)
    except ImportError:
        pass
    try:
        with open("/proc/self/maps") as f:
            return sorted({p for p in (line.split()[-1] for line in f) if "openblas" in p.lower() and ".so" in p})
    except OSError:
        return []


def _openblas_controls():
    """(get, set) ctypes functions of every OpenBLAS library loaded in this process."""
    controls = []
    for path in _openblas_paths():
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


# ---- LAPACKE through ctypes ------------------------------------------------------------------
#
# SciPy's LAPACK wrappers hold the GIL, so two Python threads cannot factorise blocks at once;
# a ctypes call releases it. `lapacke()` binds the few LAPACKE routines of SciPy's bundled
# OpenBLAS that the tile SVDs need (`_modes._gram_svd`), or returns None where that library or
# a symbol is missing (callers then use SciPy, one block at a time).

_I, _D, _C, _P = ctypes.c_int, ctypes.c_double, ctypes.c_char, ctypes.c_void_p
_LAPACKE = {  # name: argument types (the library's lapack_int is 32-bit; layout 102 = column-major)
    "dsytrd": [_I, _C, _I, _P, _I, _P, _P, _P],  # layout, uplo, n, a, lda, d, e, tau
    "dsterf": [_I, _P, _P],  # n, d, e
    # range, order, n, vl, vu, il, iu, abstol, d, e, *m, *nsplit, w, iblock, isplit
    "dstebz": [_C, _C, _I, _D, _D, _I, _I, _D, _P, _P, _P, _P, _P, _P, _P],
    "dstein": [_I, _I, _P, _P, _I, _P, _P, _P, _P, _I, _P],  # layout, n, d, e, m, w, iblock, isplit, z, ldz, ifail
    "dormtr": [_I, _C, _C, _C, _I, _I, _P, _I, _P, _P, _I],  # layout, side, uplo, trans, m, n, a, lda, tau, c, ldc
}
@functools.cache
def lapacke():
    """A namespace of ctypes LAPACKE functions (`_LAPACKE`) from SciPy's OpenBLAS, or None."""
    for path in _openblas_paths():
        if "scipy_openblas" not in path or "openblas64" in path:  # NumPy's build: 64-bit integers, other names
            continue
        try:
            lib = ctypes.CDLL(path)
            fns = {name: getattr(lib, f"scipy_LAPACKE_{name}") for name in _LAPACKE}
        except (OSError, AttributeError):
            continue
        for name, fn in fns.items():
            fn.argtypes, fn.restype = _LAPACKE[name], ctypes.c_int
        return types.SimpleNamespace(**fns)
    return None
