"""Run LAPACK on one thread: `with lapack_threads(1): ...`.

JAX's CPU SVD / eigh call LAPACK from the OpenBLAS that SciPy ships (NumPy ships another).
OpenBLAS threads spin while they wait for each other, so on a machine busy with other work an SVD
of a 576 × 576 block took 9 s with its default two threads and 0.18 s with one (measured here,
load average ~8 on 2 cores). The analyses run many small decompositions, which gain little from
threads even on an idle machine, so they pin OpenBLAS to one thread around them and restore the
previous count afterwards. XLA's own matrix products do not use OpenBLAS and are unaffected.

The thread count is set through the libraries' own `*_set_num_threads` entry points, found among
the shared objects this process has loaded (Linux `/proc/self/maps`); elsewhere, or without
OpenBLAS, this is a no-op.
"""

from __future__ import annotations

import contextlib
import ctypes
from functools import lru_cache

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")


def _loaded_openblas() -> tuple:
    try:
        with open("/proc/self/maps") as f:
            paths = sorted({line.split()[-1] for line in f if "openblas" in line.rsplit("/", 1)[-1]})
    except OSError:
        return ()
    return tuple(paths)


@lru_cache(maxsize=None)
def _controls(paths: tuple) -> tuple:
    out = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            if hasattr(lib, name) and hasattr(lib, name.replace("_set_", "_get_")):
                out.append((getattr(lib, name), getattr(lib, name.replace("_set_", "_get_"))))
                break
    return tuple(out)


@contextlib.contextmanager
def lapack_threads(n: int = 1):
    """Within the block, every loaded OpenBLAS uses `n` threads; the previous counts come back after."""
    controls = _controls(_loaded_openblas())
    before = [get() for _, get in controls]
    try:
        for set_, _ in controls:
            set_(int(n))
        yield
    finally:
        for (set_, _), count in zip(controls, before):
            set_(int(count))
