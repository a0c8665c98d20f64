"""What the machine allows: memory bandwidth (STREAM copy and triad), and the simplest stencil on XLA.

Two ceilings bound the solver's throughput, each measured in the same run as the rows it bounds:

1. **Memory bandwidth** (`stream`): STREAM's copy `b ← a` and triad `a ← b + q c` (McCalpin,
   *IEEE TCCA Newsletter*, 1995), over buffers far larger than the last-level cache, written
   into **preallocated** outputs, split into chunks over a pool of threads (NumPy releases the
   GIL in its loops). Bytes counted as STREAM does: 2 words per element for copy, 3 for triad
   (the write-allocate read is not counted). A jitted JAX op is no such ceiling: it allocates
   its output on every call and mostly measures page faults (a jitted `a + 1` on 256 MB moved
   3.3 GB/s where `np.copyto` moved 22.6 GB/s on one host). `device_copy` is the accelerator's
   version: a jitted copy into a donated buffer, so the output pages are the input's.
2. **The simplest stencil** (`reference_stencil`): plain `jnp`, C = D + 2 fields (4 in 2D), the
   (2D + 1)-point Laplacian (∂t u = κ∇²u), the solver's integrator in a `fori_loop` of steps, at
   its shape and dtype: what XLA makes of a stencil with the same state size and stage count,
   and nothing else.

`cell_update_ceiling` turns a bandwidth into the cell-updates/s a step cannot exceed, given the
bytes it must move per cell (`step_bytes`).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Words per cell and step (× C fields) that a stage-by-stage explicit step must move at least:
# each stage reads its input and writes its output (C words per cell each), and a stage that
# combines with x₀ (or an accumulator) reads that too.
WORDS_PER_STEP = {"euler": 2, "heun": 5, "ssprk3": 8, "rk4": 13}
TRIAD_SCALAR = 3.0


def step_bytes(method: str, channels: int, itemsize: int) -> int:
    """The bytes per cell that one step of `method` must move: `WORDS_PER_STEP` × C × itemsize."""
    return WORDS_PER_STEP[method] * channels * itemsize


def cell_update_ceiling(GB_per_s: float, method: str, channels: int, itemsize: int) -> float:
    """The cell-updates/s that `GB_per_s` of memory bandwidth allows for `method` (`step_bytes`)."""
    return GB_per_s * 1e9 / step_bytes(method, channels, itemsize)


def _chunks(n: int, parts: int) -> list[slice]:
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _best(fn, repeats: int) -> dict:
    fn()  # first touch of every page, and the pool's threads started
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"best_s": times[0], "median_s": times[len(times) // 2], "repeats": repeats}


def stream(megabytes: int = 256, threads: int | None = None, repeats: int = 5, block: int = 1 << 16) -> dict:
    """STREAM copy and triad in GB/s, float32 buffers of `megabytes` each, over `threads` threads.

    Each thread owns a contiguous share of the arrays; the triad works through its share in
    blocks of `block` elements with a cache-resident temporary (`np.multiply(c, q, out=tmp)`,
    `np.add(b, tmp, out=a)`), so each element of a, b, c crosses the memory bus once. Reported:
    the best and median GB/s over `repeats` (STREAM reports the best), bytes counted as copy 2,
    triad 3 words per element.
    """
    threads = threads or os.cpu_count() or 1
    n = megabytes * 2**20 // 4
    a = np.ones(n, np.float32)
    b = np.full(n, 2.0, np.float32)
    c = np.full(n, 0.5, np.float32)
    parts = _chunks(n, threads)
    pool = ThreadPoolExecutor(threads)

    def copy_part(s):
        np.copyto(b[s], a[s])

    def triad_part(s):
        tmp = np.empty(block, np.float32)
        for lo in range(s.start, s.stop, block):
            hi = min(lo + block, s.stop)
            t = tmp[: hi - lo]
            np.multiply(c[lo:hi], TRIAD_SCALAR, out=t)
            np.add(b[lo:hi], t, out=a[lo:hi])

    try:
        copy = _best(lambda: list(pool.map(copy_part, parts)), repeats)
        triad = _best(lambda: list(pool.map(triad_part, parts)), repeats)
    finally:
        pool.shutdown()
    # The result must be the arithmetic it claims (a broken kernel cannot report a bandwidth).
    # Each kernel must have done the arithmetic it claims: copy b = a = 1, then triad a = 1 + q/2.
    if not (np.all(b == 1.0) and np.all(a == np.float32(1.0 + TRIAD_SCALAR * 0.5))):
        raise RuntimeError("stream: the copy or the triad did not compute what it times")
    out = {"megabytes": megabytes, "threads": threads, "elements": n, "dtype": "float32"}
    for name, t, words in (("copy", copy, 2), ("triad", triad, 3)):
        nbytes = words * 4 * n
        out[name] = {"bytes": nbytes, "GB_per_s": nbytes / t["best_s"] / 1e9,
                     "median_GB_per_s": nbytes / t["median_s"] / 1e9, **t}
    return out


def device_copy(megabytes: int = 1024, repeats: int = 10) -> dict:
    """The default device's copy bandwidth (GB/s): a jitted `a + 1` written into a donated buffer.

    Donation hands the input's memory to the output, so no call allocates: this is the
    accelerator's STREAM copy (XLA CPU honours donation too: measured 21 GB/s against 19 GB/s for
    a one-thread `np.copyto`). Bytes counted 2 words per element.
    """
    import jax
    import jax.numpy as jnp

    n = megabytes * 2**20 // 4
    copy = jax.jit(lambda a: a + jnp.float32(1.0), donate_argnums=0)  # `a * 1` would compile to nothing
    a = copy(jnp.ones((n,), jnp.float32))
    a.block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a = copy(a)
        a.block_until_ready()
        times.append(time.perf_counter() - t0)
    if float(a[0]) != 2.0 + repeats:  # whole numbers below 2²⁴ are exact in float32
        raise RuntimeError("device_copy: the copy did not compute a + 1 on every call")
    times.sort()
    nbytes = 2 * 4 * n
    return {"megabytes": megabytes, "bytes": nbytes, "GB_per_s": nbytes / times[0] / 1e9,
            "median_GB_per_s": nbytes / times[len(times) // 2] / 1e9, "best_s": times[0],
            "median_s": times[len(times) // 2], "repeats": repeats, "device": str(jax.devices()[0])}


def reference_rollout(shape, dtype="float32", fields: int = 4, method: str = "ssprk3", kappa: float = 0.1):
    """A jitted `(u, steps) → u`: `method` steps of ∂t u = κ∇²u (the 2D+1-point Laplacian, periodic,
    h = 1) for `fields` fields of `shape`, in plain `jnp` (`jnp.roll`) with a `fori_loop` over
    steps; and its initial u (1 + 0.1 N(0, 1), seeded)."""
    import jax
    import jax.numpy as jnp

    if method not in WORDS_PER_STEP:
        raise ValueError(f"reference_rollout: method {method!r} is not one of {', '.join(WORDS_PER_STEP)}")
    axes = tuple(range(1, len(shape) + 1))

    def f(u):
        lap = -2.0 * len(shape) * u
        for ax in axes:
            lap = lap + jnp.roll(u, 1, ax) + jnp.roll(u, -1, ax)
        return kappa * lap

    def step(u, dt):
        if method == "euler":
            return u + dt * f(u)
        if method == "heun":
            u1 = u + dt * f(u)
            return 0.5 * u + 0.5 * (u1 + dt * f(u1))
        if method == "ssprk3":
            u1 = u + dt * f(u)
            u2 = 0.75 * u + 0.25 * (u1 + dt * f(u1))
            return u / 3.0 + 2.0 / 3.0 * (u2 + dt * f(u2))
        k1 = f(u)
        k2 = f(u + 0.5 * dt * k1)
        k3 = f(u + 0.5 * dt * k2)
        k4 = f(u + dt * k3)
        return u + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    @jax.jit
    def run(u, steps):
        dt = jnp.asarray(0.2 / len(shape), u.dtype)  # under the diffusion limit 1/(2Dκ) = 5/D
        return jax.lax.fori_loop(0, steps, lambda i, u: step(u, dt), u)

    rng = np.random.default_rng(0)
    u0 = jnp.asarray(1.0 + 0.1 * rng.standard_normal((fields, *shape)), dtype)
    return run, u0


def reference_stencil(shape, dtype="float32", method: str = "ssprk3", fields: int | None = None,
                      target_updates: float = 2e7, repeats: int = 3) -> dict:
    """Cell-updates/s of `reference_rollout` at `shape`, `dtype` and `method` (median of `repeats`);
    `fields` defaults to the solver's C = D + 2."""
    import jax

    from .timing import measure

    fields = fields or len(shape) + 2
    run, u0 = reference_rollout(shape, dtype, fields, method)
    cells = math.prod(shape)
    steps = max(2, int(target_updates / cells))
    t = measure(lambda: jax.block_until_ready(run(u0, steps)), repeats=repeats)
    return {"shape": list(shape), "dtype": dtype, "fields": fields, "method": method, "steps": steps,
            "cell_updates_per_s": cells * steps / t["median_s"], **t}


def memory_ceiling(megabytes: int = 256) -> dict:
    """The copy bandwidth the solver rows are measured against, on the default backend.

    CPU: `stream` with one thread and with every core (the better copy is the ceiling: on a
    shared machine one thread can beat two). Other backends: `device_copy` (the device's own
    memory). Returns {"source", "GB_per_s" (copy), "triad_GB_per_s" (CPU only), "runs"}.
    """
    import jax

    if jax.default_backend() != "cpu":
        d = device_copy(max(megabytes, 1024))
        return {"source": "device_copy", "GB_per_s": d["GB_per_s"], "runs": [d]}
    runs = [stream(megabytes, threads=t) for t in sorted({1, os.cpu_count() or 1})]
    best = max(runs, key=lambda r: r["copy"]["GB_per_s"])
    return {"source": "stream", "GB_per_s": best["copy"]["GB_per_s"], "threads": best["threads"],
            "triad_GB_per_s": max(r["triad"]["GB_per_s"] for r in runs), "runs": runs}


__all__ = ["WORDS_PER_STEP", "step_bytes", "cell_update_ceiling", "stream", "device_copy", "memory_ceiling",
           "reference_rollout", "reference_stencil"]
