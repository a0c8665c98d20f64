"""LAPACKE without the GIL: a few LAPACK routines of SciPy's OpenBLAS bound through ctypes.

SciPy's LAPACK wrappers hold the GIL, so two Python threads cannot factorise blocks at once; a
ctypes call releases it. `lapacke()` binds the routines the Gram-route block SVDs need
(`_blocks`), or returns None where that library or a symbol is missing (callers then use SciPy,
one block at a time). Only on CPU: other backends use `jnp.linalg` on the device.
"""

from __future__ import annotations

import ctypes
import functools
import types

from ._threads import openblas_libraries

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
    for path in openblas_libraries():
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


__all__ = ["lapacke"]
