"""Benchmark: all tile Jacobians of a 512² "rsvp" lattice (8×8 tiles), SVDs included, against central
finite differences of the same blocks in vectorised NumPy.

```
python -m rsvp_jax.bench.tiles [--quick] --out benchmarks/results/tiles.json
```

- **exact** (`rj.tile_jacobians`, CPR-coloured JVPs, + `tile_svd`: every singular value and the top
  singular vectors of every block), float64 and float32: a warm-up call (compilation, reported
  as `warmup_s`), then the median of repeats with min and max; phases timed separately.
- **fd_tile_coloured** (the baseline): central differences (eps = 1e-5) of the same blocks with
  the lead's NumPy implementation of the same equations (`numpy_rsvp`, float64), vectorised over
  the whole lattice and over every tile at once: the tiles are coloured m × m so that tiles of one
  colour are further apart than the halo, and one pair of lattice evaluations per (colour,
  channel, cell of the tile) gives one column of every tile of that colour — C·bᴰ·mᴰ pairs.
- **fd_comb_coloured**: the same finite differences given the exact path's own CPR colouring
  (C·Πs pairs, the fewest any column-by-column method needs), to separate what the algorithm buys
  from what exact forward mode and XLA buy.

Each finite-difference run is timed once (minutes at 512²); its error is the largest
|J_fd − J| over all blocks against the exact float64 blocks. Peak memory is the process's
maximum resident set after each phase (the exact phases run first). The NumPy step is first
checked against the JAX step (float64, max |Δ| reported).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from .timing import machine, measure, peak_rss_mb

EPS = 1e-5


def config(quick: bool) -> dict:
    return {"shape": [128, 128] if quick else [512, 512], "tile": 8, "steps": 1, "method": "ssprk3", "dt": 0.05,
            "preset": "rsvp", "init": "blobs", "seed": 0, "repeats": 3 if quick else 2}


def _problem(cfg, dtype):
    import rsvp_jax as rj

    lat = rj.Lattice(tuple(cfg["shape"]))
    model = rj.preset(cfg["preset"])
    return lat, model, rj.initial_state(lat, cfg["init"], seed=cfg["seed"], dtype=dtype)


def _cpu():
    return time.process_time()


def exact(cfg, dtype: str) -> tuple[dict, object]:
    """Time tile Jacobians + SVDs (values and top singular vectors); return the timings and J."""
    import jax

    import rsvp_jax as rj
    from ..jacobian import tile_svd

    lat, model, x = _problem(cfg, dtype)
    phases, out = [], {}

    def run():
        t0, c0 = time.perf_counter(), _cpu()
        J = jax.block_until_ready(rj.tile_jacobians(model, lat, x, cfg["dt"], tile=cfg["tile"], steps=cfg["steps"],
                                                    method=cfg["method"]))
        t1 = time.perf_counter()
        svd = tile_svd(J, k=1)
        jax.block_until_ready((svd.sigma, svd.U, svd.V))
        t2, c2 = time.perf_counter(), _cpu()
        phases.append({"jacobians_s": t1 - t0, "svd_s": t2 - t1, "cpu_s": c2 - c0})
        out["J"], out["sigma"] = J, svd.sigma

    timing = measure(run, repeats=cfg["repeats"])
    timed = phases[1:]  # the first call is the warm-up
    med = lambda key: float(np.median([p[key] for p in timed]))  # noqa: E731
    J = out.pop("J")
    result = {"dtype": dtype, **timing, "jacobians_median_s": med("jacobians_s"), "svd_median_s": med("svd_s"),
              "cpu_median_s": med("cpu_s"), "tiles": int(np.prod(J.shape[:-2])), "block": list(J.shape[-2:]),
              "sigma_max_mean": float(np.mean(np.asarray(out["sigma"])[..., 0])), "peak_rss_mb": peak_rss_mb()}
    return result, J


def exact_padded(cfg) -> dict:
    """The per-tile `jacfwd` reference algorithm, Jacobians only, float64 (one timed call after a warm-up)."""
    import jax

    import rsvp_jax as rj

    lat, model, x = _problem(cfg, "float64")
    f = lambda: jax.block_until_ready(rj.tile_jacobians(model, lat, x, cfg["dt"], tile=cfg["tile"],  # noqa: E731
                                                        steps=cfg["steps"], method=cfg["method"], algorithm="padded"))
    return measure(f, repeats=1)


# ---- finite differences in NumPy ---------------------------------------------------------------


def _numpy_map(model, cfg):
    from . import numpy_rsvp

    if not numpy_rsvp.supports(model):
        raise ValueError("the NumPy baseline implements only the default rsvp configuration")
    p = {k: float(model.params()[k]) for k in model.param_names()}
    if cfg["method"] != "ssprk3":
        raise ValueError("the NumPy baseline implements SSP-RK3 only")

    def F(a):  # (C, *N) → (C, *N), float64
        phi, v, S = numpy_rsvp.ssprk3(p, 1.0, a[0], a[1:-1], a[-1], cfg["dt"], cfg["steps"], model.advection)
        return np.concatenate([phi[None], v, S[None]])

    return F


def check_numpy_step(cfg) -> float:
    """max |F_numpy(x) − F_jax(x)| in float64."""
    import jax

    import rsvp_jax as rj
    from ..jacobian import step_map

    with jax.enable_x64(True):
        lat, model, x = _problem(cfg, "float64")
        a = rj.to_array(x)
        want = np.asarray(step_map(model, lat, cfg["dt"], cfg["steps"], cfg["method"])(a))
    return float(np.max(np.abs(_numpy_map(model, cfg)(np.asarray(a)) - want)))


def _fd_column(F, a, mask, eps):
    return (F(a + eps * mask) - F(a - eps * mask)) / (2 * eps)


def fd_tile_coloured(cfg, a, model, radius) -> tuple[dict, np.ndarray]:
    """Central differences with tile colouring (see the module docstring)."""
    F = _numpy_map(model, cfg)
    C, shape, b = a.shape[0], a.shape[1:], cfg["tile"]
    D = len(shape)
    grid = [N // b for N in shape]
    # tiles of one colour are m tiles apart: (m − 1)·b ≥ r, and m divides the tile count (else m = count)
    m = [next((k for k in range(1 + math.ceil(radius / b), n + 1) if n % k == 0), n) for n in grid]
    J = np.zeros((*grid, C * b**D, C * b**D))
    t0, c0, evals = time.perf_counter(), _cpu(), 0
    for colour in np.ndindex(*m):
        for ci in range(C):
            for cell in np.ndindex(*(b,) * D):
                mask = np.zeros_like(a)
                idx = tuple(slice(o * b + p, None, mm * b) for o, p, mm in zip(colour, cell, m))
                mask[(ci, *idx)] = 1.0
                col = _fd_column(F, a, mask, EPS)
                evals += 2
                # (C, n1, b, n2, b, ...) → tiles of this colour, rows channel-major then cells
                blocks = col.reshape((C,) + sum(((n, b) for n in grid), ()))
                blocks = blocks[(slice(None),) + sum(((slice(o, None, mm), slice(None)) for o, mm in zip(colour, m)), ())]
                blocks = np.transpose(blocks, (*range(1, 2 * D + 1, 2), 0, *range(2, 2 * D + 2, 2)))
                j = ci * b**D + int(np.ravel_multi_index(cell, (b,) * D))
                J[tuple(slice(o, None, mm) for o, mm in zip(colour, m)) + (slice(None), j)] = blocks.reshape(blocks.shape[:D] + (-1,))
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": seconds, "cpu_s": cpu, "evaluations": evals, "colours": list(m), "eps": EPS}, J


def fd_comb_coloured(cfg, a, model, radius) -> tuple[dict, np.ndarray]:
    """Central differences with the exact path's CPR colouring, and the same block extraction."""
    import rsvp_jax as rj
    from ..jacobian import colour_tables, comb_periods

    F = _numpy_map(model, cfg)
    C, shape, b = a.shape[0], a.shape[1:], cfg["tile"]
    D = len(shape)
    periods = comb_periods(rj.Lattice(tuple(shape)), radius)
    t0, c0, evals = time.perf_counter(), _cpu(), 0
    Y = np.zeros((C, *periods, C, *shape))
    for ci in range(C):
        for colour in np.ndindex(*periods):
            mask = np.zeros_like(a)
            mask[(ci, *(slice(c, None, s) for c, s in zip(colour, periods)))] = 1.0
            Y[(ci, *colour)] = _fd_column(F, a, mask, EPS)
            evals += 2
    for d in range(D):  # the extraction of `_tiles._coloured`, in NumPy
        _, colour, mask = colour_tables(shape[d], b, periods[d], radius, False)
        n, Q = colour.shape
        sp = 2 + D + 2 * d
        Y = Y.reshape(Y.shape[:sp] + (n, b) + Y.shape[sp + 1:])
        idx_shape, m_shape = [1] * Y.ndim, [1] * Y.ndim
        idx_shape[1 + d], idx_shape[sp] = Q, n
        m_shape[1 + d], m_shape[sp], m_shape[sp + 1] = Q, n, b
        Y = np.take_along_axis(Y, colour.T.reshape(idx_shape), axis=1 + d) * np.transpose(mask, (2, 0, 1)).reshape(m_shape)
    tiles, cells = [2 + D + 2 * d for d in range(D)], [3 + D + 2 * d for d in range(D)]
    J = np.transpose(Y, (*tiles, 1 + D, *cells, 0, *range(1, 1 + D))).reshape(
        tuple(N // b for N in shape) + (C * b**D, C * b**D))
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": seconds, "cpu_s": cpu, "evaluations": evals, "periods": list(periods), "eps": EPS}, J


def _fd_error(J_fd, J):
    err = np.abs(J_fd - J)
    return {"fd_max_abs_error": float(err.max()), "fd_max_rel_error": float(err.max() / np.abs(J).max()),
            "fd_rms_error": float(np.sqrt(np.mean(err**2)))}


def run(quick: bool = False) -> dict:
    import jax

    import rsvp_jax as rj
    from ..jacobian import halo_radius

    cfg = config(quick)
    result = {"config": cfg, "machine": machine(), "load_average_before": os.getloadavg()}
    model = rj.preset(cfg["preset"])
    radius = halo_radius(model, cfg["steps"], cfg["method"])
    result["halo_radius"] = radius
    result["numpy_step_max_abs_diff"] = check_numpy_step(cfg)
    with jax.enable_x64(True):
        ex64, J = exact(cfg, "float64")
        J = np.asarray(J)
    result["exact_float64"] = ex64
    result["exact_float32"], _ = exact(cfg, "float32")
    if quick:
        with jax.enable_x64(True):
            result["exact_padded_float64"] = exact_padded(cfg)
    with jax.enable_x64(True):
        a = np.asarray(rj.to_array(_problem(cfg, "float64")[2]))
    for name, fn in (("fd_tile_coloured", fd_tile_coloured), ("fd_comb_coloured", fd_comb_coloured)):
        info, J_fd = fn(cfg, a, model, radius)
        info.update(_fd_error(J_fd, J), peak_rss_mb=peak_rss_mb())
        del J_fd
        result[name] = info
    t_exact = ex64["median_s"]
    result["speedup_vs_fd_tile_coloured"] = result["fd_tile_coloured"]["seconds"] / t_exact
    result["speedup_vs_fd_comb_coloured"] = result["fd_comb_coloured"]["seconds"] / t_exact
    result["cpu_speedup_vs_fd_tile_coloured"] = result["fd_tile_coloured"]["cpu_s"] / ex64["cpu_median_s"]
    result["load_average_after"] = os.getloadavg()
    n = "x".join(map(str, cfg["shape"]))
    tiles = ex64["tiles"]
    result["headlines"] = [
        {"what": f"{tiles} tile Jacobians + SVDs, {n} rsvp, float64", "value": t_exact, "unit": "s",
         "baseline": result["fd_tile_coloured"]["seconds"], "baseline_name": "central FD, NumPy, tile-coloured",
         "ratio": result["speedup_vs_fd_tile_coloured"], "target": 10.0},
        {"what": f"{tiles} tile Jacobians + SVDs vs FD with the same colouring", "value": t_exact, "unit": "s",
         "baseline": result["fd_comb_coloured"]["seconds"], "baseline_name": "central FD, NumPy, CPR-coloured",
         "ratio": result["speedup_vs_fd_comb_coloured"]},
    ]
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a 128² lattice (about a minute)")
    p.add_argument("--out", default="benchmarks/results/tiles.json", help="the JSON to write")
    args = p.parse_args(argv)
    from pathlib import Path

    from .. import io

    result = run(quick=args.quick)
    io.write_json(Path(args.out), result)
    e, e32 = result["exact_float64"], result["exact_float32"]
    for name in ("fd_tile_coloured", "fd_comb_coloured"):
        f = result[name]
        print(f"{name}: {f['seconds']:.1f} s ({f['evaluations']} NumPy evaluations), max |J_fd − J| = "
              f"{f['fd_max_abs_error']:.2e} (relative {f['fd_max_rel_error']:.1e})")
    print(f"exact float64: {e['median_s']:.1f} s median [{e['min_s']:.1f}, {e['max_s']:.1f}] of {e['repeats']} "
          f"(Jacobians {e['jacobians_median_s']:.1f} s + SVDs {e['svd_median_s']:.1f} s; compile+first {e['warmup_s']:.1f} s), "
          f"peak RSS {e['peak_rss_mb']:.0f} MB")
    print(f"exact float32: {e32['median_s']:.1f} s median (Jacobians {e32['jacobians_median_s']:.1f} s + SVDs "
          f"{e32['svd_median_s']:.1f} s)")
    print(f"speedup vs tile-coloured FD: {result['speedup_vs_fd_tile_coloured']:.1f}x wall, "
          f"{result['cpu_speedup_vs_fd_tile_coloured']:.1f}x CPU; vs CPR-coloured FD: {result['speedup_vs_fd_comb_coloured']:.1f}x")
    print(f"load average {result['load_average_before']} -> {result['load_average_after']}; wrote {args.out}")
    print(json.dumps({"numpy_step_max_abs_diff": result["numpy_step_max_abs_diff"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
