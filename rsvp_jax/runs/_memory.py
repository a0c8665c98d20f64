"""How much memory a command needs, from its shapes alone, checked before any work.

Each estimate adds up the arrays a command holds at its peak, in bytes, from the lattice, the
dtype and the command's sizes: the state and the integrator's working copies, the snapshots
(on the device and their host copies), the dense tile blocks and their SVDs, the Krylov bases,
the points of a sweep batch. They are generous on purpose (a refusal names the estimate and
what is available, so a user can see how far off a run is); a run that fits its estimate never
allocates the huge arrays that used to crash with a traceback.

`check_memory` compares an estimate with `available_memory()` (the host's `MemAvailable`, and on
an accelerator also its free device memory) and raises a one-line `ConfigError`.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import ConfigError

#: Dense tile blocks above this many rows are refused: their SVD alone costs ~10·n³ flops (a
#: 16384-row block: hours) and their memory grows as n²; the matrix-free paths cover them.
MAX_DENSE_ROWS = 4096
#: The integrator's working set per lattice, in states: one per Runge–Kutta stage and operator temporaries.
_WORK = lambda n_stages: 4 * n_stages + 16  # noqa: E731  (the same count `auto_batch_size` uses)


def gib(n: float) -> str:
    """Bytes as a short human string: '74.5 GiB', '512 MiB'."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}" if n < 1000 * size else f"{n / size:.0f} {unit}"
    return f"{int(n)} B"


def available_memory() -> int:
    """Bytes a new allocation can get now: the host's available memory, and on an accelerator the
    smaller of that and the default device's free memory. `RSVP_MEMORY_LIMIT` (bytes) caps it."""
    host = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    host = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if host is None:
        try:
            host = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            host = 2**34
    avail = host
    try:
        import jax

        dev = jax.local_devices()[0]
        if dev.platform != "cpu":
            s = dev.memory_stats() or {}
            if "bytes_limit" in s:
                avail = min(avail, int(s["bytes_limit"]) - int(s.get("bytes_in_use", 0)))
    except Exception:  # noqa: BLE001 -- no device information: the host's figure stands
        pass
    limit = os.environ.get("RSVP_MEMORY_LIMIT")
    if limit:
        try:
            avail = min(avail, int(float(limit)))
        except ValueError:
            raise ConfigError(f"RSVP_MEMORY_LIMIT={limit!r} is not a number of bytes") from None
    return int(avail)


def check_memory(need: dict, what: str, hint: str) -> int:
    """Refuse (a `ConfigError`) when the estimate `need` (part → bytes) exceeds the available memory.

    `what` names the run ("rsvp simulate on 100000x100000 cells"), `hint` what to change."""
    total = int(sum(need.values()))
    avail = available_memory()
    if total > avail:
        parts = ", ".join(f"{k} {gib(v)}" for k, v in sorted(need.items(), key=lambda kv: -kv[1]) if v >= 0.01 * total)
        raise ConfigError(f"{what} needs about {gib(total)} of memory ({parts}), more than the {gib(avail)} "
                          f"available; {hint}")
    return total


def state_bytes(lat, dtype) -> int:
    """One state (C·N numbers)."""
    return lat.channels * lat.size * np.dtype(dtype).itemsize


def simulate_memory(lat, dtype, n_stages: int, snapshots: int) -> dict:
    """A rollout saving `snapshots` states: the working set, the snapshots on the device and on the host."""
    s = state_bytes(lat, dtype)
    return {"integrator": _WORK(n_stages) * s, "snapshots": 3 * snapshots * s}


def block_rows(lat, tile: int, halo_radius: int = 0, halo: bool = False) -> tuple[int, int]:
    """(rows, columns) of one dense tile block."""
    return lat.channels * tile**lat.ndim, lat.channels * (tile + 2 * halo_radius * bool(halo)) ** lat.ndim


def check_dense_blocks(lat, tile: int, halo_radius: int = 0, halo: bool = False, flag: str = "--tile") -> None:
    """Refuse tile blocks too large to form and decompose densely (`MAX_DENSE_ROWS`)."""
    rows, cols = block_rows(lat, tile, halo_radius, halo)
    if max(rows, cols) > MAX_DENSE_ROWS:
        cells = "x".join([str(tile)] * lat.ndim)
        raise ConfigError(f"{flag} {tile} gives dense tile blocks of {rows} x {cols} ({cells} cells x {lat.channels} "
                          f"channels; {gib(rows * cols * 4)} each in float32, an SVD of ~{10 * rows**3:.1e} flops); "
                          f"dense blocks are limited to {MAX_DENSE_ROWS} rows: use a smaller {flag} (e.g. "
                          f"{_largest_tile(lat, halo_radius, halo)}), or the matrix-free --topk / --horizon for "
                          "the whole lattice")


def _largest_tile(lat, r, halo) -> int:
    fits = [b for b in range(1, min(lat.shape) + 1) if all(n % b == 0 for n in lat.shape)
            and max(block_rows(lat, b, r, halo)) <= MAX_DENSE_ROWS]
    return max(fits) if fits else 1


def jacobian_memory(lat, dtype, n_stages: int, tile: int, *, halo_radius: int = 0, halo: bool = False,
                    snapshots: int = 1, modes: int = 3, topk: int = 0, krylov: int | None = None,
                    horizon_k: int = 0, probes: int = 0, lanczos_steps: int = 0, lyapunov: int = 0,
                    keep_jacobians: bool = False) -> dict:
    """`rsvp jacobian`: the blocks of one snapshot with their SVD workspace, the tracked modes of
    every snapshot, the run's snapshots, and the Krylov bases of --topk / --horizon / --lyapunov."""
    s = state_bytes(lat, dtype)
    item = np.dtype(dtype).itemsize
    rows, cols = block_rows(lat, tile, halo_radius, halo)
    n_tiles = lat.size // tile**lat.ndim
    blocks = n_tiles * rows * cols * item
    svd_chunk = min(n_tiles, 256) * (rows * rows + cols * cols + rows * cols) * item
    vectors = 2 * snapshots * n_tiles * modes * (rows + cols) * item
    krylov_vectors = 2 * (krylov or 4 * topk + 16) if topk else 0
    horizon_vectors = (2 * (4 * horizon_k + 16) + probes * lanczos_steps + 2 * lyapunov) if horizon_k else 0
    return {"tile blocks": blocks * (2 + snapshots * keep_jacobians), "SVD workspace": svd_chunk,
            "tile modes": vectors, "integrator": _WORK(n_stages) * s, "snapshots": 3 * snapshots * s,
            "Krylov vectors": (krylov_vectors + horizon_vectors) * s}


def sweep_memory(lat, dtype, n_stages: int, points: int, n_devices: int, *, snapshots: int, n_diagnostics: int,
                 final_states: bool = False) -> dict:
    """`rsvp sweep`: the smallest batch (one point per device; batches only shrink to that), and the
    results of every point kept on the host."""
    s = state_bytes(lat, dtype)
    return {"one batch": max(1, n_devices) * _WORK(n_stages) * s,
            "results": points * (snapshots * n_diagnostics * 8 + 64 * 8),
            "final states": 2 * points * s if final_states else 0}


def fit_memory(lat, dtype, n_stages: int, steps: int, snapshots: int, n_params: int, checkpoint_every=None) -> dict:
    """`rsvp fit`: the observations, the residual and its Jacobian (one column per parameter),
    and the rollout's stored stages for the gradient (checkpointed in chunks of C steps)."""
    s = state_bytes(lat, dtype)
    c = checkpoint_every or (int(math.isqrt(steps)) if steps >= 100 else 0)
    stored = (steps // c + c) if c else steps
    return {"observations": 3 * snapshots * s, "residual Jacobian": max(1, n_params) * snapshots * s,
            "rollout for gradients": stored * n_stages * s, "integrator": _WORK(n_stages) * s}


__all__ = ["available_memory", "check_memory", "gib", "state_bytes", "simulate_memory", "jacobian_memory",
           "sweep_memory", "fit_memory", "check_dense_blocks", "block_rows", "MAX_DENSE_ROWS"]
