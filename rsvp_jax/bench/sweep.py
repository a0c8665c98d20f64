"""Benchmark: a batched sweep against a loop of `rj.simulate`, and sweep throughput against device count.

```
python -m rsvp_jax.bench.sweep [--quick] --out benchmarks/results/sweep.json
```

1. **batched vs loop** (one process, its default devices): the same P points (a gamma × nu
   grid, 64 on 64² lattices in the full run) run as one `rj.sweep` and as a Python loop of
   `rj.simulate`, each after a warm-up call whose time (compilation) is reported apart.
2. **devices**: the same sweep in fresh processes with 1, 2, 4, 8 forced CPU devices
   (`XLA_FLAGS=--xla_force_host_platform_device_count=N`), each its own warm-up and repeats.
   On a CPU the forced devices share the cores: throughput can grow only up to the core count.

Every figure is the median of `repeats` runs, with min and max, in wall time and in CPU time
of the process (all its threads); the machine's load average is recorded, since other
processes may share the cores (then wall time overstates, CPU time is the fairer measure).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _stats(times: list[float], cpu: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": len(times),
            "cpu_median_s": statistics.median(cpu) if cpu else None}


def _config(quick: bool) -> dict:
    if quick:
        return dict(shape=(32, 32), n_gamma=4, n_nu=4, steps=40, save_every=10, dt=0.05, method="ssprk3", repeats=2)
    return dict(shape=(64, 64), n_gamma=8, n_nu=8, steps=100, save_every=10, dt=0.05, method="ssprk3", repeats=3)


def _problem(cfg):
    import numpy as np

    import rsvp_jax as rj

    lat = rj.Lattice(tuple(cfg["shape"]))
    grid = {"gamma": np.linspace(0.05, 0.5, cfg["n_gamma"]), "nu": np.linspace(0.01, 0.1, cfg["n_nu"])}
    return rj.preset("rsvp"), lat, rj.initial_state(lat, "blobs", seed=0), grid


def _time(fn, repeats: int) -> tuple[float, list[float], list[float]]:
    """(warm-up wall time, wall times, CPU times of this process, all threads) of `repeats` calls."""
    t0 = time.perf_counter()
    fn()
    warm = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return warm, times, cpu


def time_sweep(cfg: dict) -> dict:
    """The batched sweep in this process: warm-up (compile) and repeats."""
    import jax

    import rsvp_jax as rj

    model, lat, x0, grid = _problem(cfg)
    kw = dict(save_every=cfg["save_every"], method=cfg["method"])
    layout = {}

    def run():
        res = rj.sweep(model, lat, x0, cfg["dt"], cfg["steps"], grid=grid, **kw)
        layout.update(res.layout)
        assert res.ok.all()

    warm, times, cpu = _time(run, cfg["repeats"])
    P = cfg["n_gamma"] * cfg["n_nu"]
    s = _stats(times, cpu)
    return {"devices": jax.device_count(), "points": P, "warmup_s": warm, **s, **layout,
            "points_per_s": P / s["median_s"], "cpu_s_per_point": s["cpu_median_s"] / P}


def time_loop(cfg: dict) -> dict:
    """A Python loop of `rj.simulate` over the same points."""
    import jax

    import rsvp_jax as rj

    model, lat, x0, grid = _problem(cfg)
    points = [(g, n) for g in grid["gamma"] for n in grid["nu"]]

    def one(g, n):
        traj = rj.simulate(model.replace(gamma=float(g), nu=float(n)), lat, x0, cfg["dt"], cfg["steps"],
                           save_every=cfg["save_every"], method=cfg["method"])
        jax.block_until_ready(traj)

    warm, _, _ = _time(lambda: one(*points[0]), 0)
    _, times, cpu = _time(lambda: [one(g, n) for g, n in points], cfg["repeats"])
    s = _stats(times, cpu)
    return {"points": len(points), "warmup_s": warm, **s, "points_per_s": len(points) / s["median_s"],
            "cpu_s_per_point": s["cpu_median_s"] / len(points)}


def _in_subprocess(n_devices: int, quick: bool) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n_devices}", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-m", "rsvp_jax.bench.sweep", "--worker", *(["--quick"] if quick else [])],
                       capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode != 0:
        return {"devices": n_devices, "error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def run(quick: bool = False, device_counts=(1, 2, 4, 8)) -> dict:
    """Both measurements; returns a JSON-able dict (see the module docstring)."""
    from .timing import machine

    cfg = _config(quick)
    out = {"benchmark": "sweep", "quick": quick, "config": cfg, "machine": machine(), "cpus": os.cpu_count(),
           "load_average_before": os.getloadavg()}
    batched, loop = time_sweep(cfg), time_loop(cfg)
    out["batched_vs_loop"] = {"batched": batched, "loop": loop,
                              "speedup": loop["median_s"] / batched["median_s"],
                              "speedup_min": loop["min_s"] / batched["max_s"],
                              "cpu_speedup": loop["cpu_s_per_point"] / batched["cpu_s_per_point"], "target": 3.0}
    scaling = [_in_subprocess(n, quick) for n in device_counts]
    base = next((s for s in scaling if "points_per_s" in s), None)
    for s in scaling:
        if base and "points_per_s" in s:
            s["speedup_vs_1"] = s["points_per_s"] / base["points_per_s"]
    out["devices"] = scaling
    out["load_average_after"] = os.getloadavg()
    return out


def plot(result: dict, path) -> None:
    from .. import io
    from ..plots import pyplot

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    bl = result["batched_vs_loop"]
    a.bar(["loop of simulate", "rj.sweep"], [bl["loop"]["points_per_s"], bl["batched"]["points_per_s"]], color=["grey", "C0"])
    a.set_ylabel("points / s")
    a.set_title(f"{bl['batched']['points']} points: {bl['speedup']:.1f}x", fontsize=10)
    rows = [s for s in result["devices"] if "points_per_s" in s]
    b.plot([s["devices"] for s in rows], [s["points_per_s"] for s in rows], "o-")
    b.set_xscale("log", base=2)
    b.set_xlabel("forced CPU devices")
    b.set_ylabel("points / s")
    b.set_title(f"throughput vs devices ({result['cpus']} cores)", fontsize=10)
    io.write_figure(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small problem (seconds, for smoke tests)")
    p.add_argument("--out", default="benchmarks/results/sweep.json", help="the JSON to write (and a PNG beside it)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one device-count measurement
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(time_sweep(_config(args.quick))))
        return 0
    from pathlib import Path

    from .. import io

    result = run(quick=args.quick)
    out = Path(args.out)
    io.write_json(out, result)
    plot(result, out.with_suffix(".png"))
    bl = result["batched_vs_loop"]
    print(f"batched {bl['batched']['points_per_s']:.2f} points/s vs loop {bl['loop']['points_per_s']:.2f} points/s: "
          f"{bl['speedup']:.2f}x wall, {bl['cpu_speedup']:.2f}x CPU time "
          f"(compile {bl['batched']['warmup_s']:.1f} s vs {bl['loop']['warmup_s']:.1f} s)")
    for s in result["devices"]:
        print(f"{s['devices']} device(s): " + (f"{s['points_per_s']:.2f} points/s, {s['cpu_s_per_point'] * 1e3:.0f} ms CPU "
                                               f"per point (batch {s.get('batch_size')})" if "points_per_s" in s else s["error"]))
    print(f"load average {result['load_average_before']} -> {result['load_average_after']} on {result['cpus']} CPUs")
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
