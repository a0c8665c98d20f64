"""Timing helpers shared by the benchmarks: warm-up apart, medians of repeats, min and max."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time


def measure(fn, repeats: int = 5, min_seconds: float = 0.0) -> dict:
    """Call `fn()` once to warm up (compile), then `repeats` times (more until `min_seconds` pass).

    `fn` must block until its result is ready (e.g. end with `jax.block_until_ready`).
    Returns the warm-up time and the median, min and max of the timed calls, in seconds.
    """
    t0 = time.perf_counter()
    fn()
    warmup = time.perf_counter() - t0
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"warmup_s": warmup, "median_s": statistics.median(times), "min_s": min(times),
            "max_s": max(times), "repeats": len(times)}


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far (MB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0


def machine() -> dict:
    """What the numbers were measured on."""
    import jax

    dev = jax.devices()[0]
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": getattr(dev, "device_kind", str(dev)),
        "device_count": jax.device_count(),
    }
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info
