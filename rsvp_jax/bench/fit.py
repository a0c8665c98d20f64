"""Benchmark: the gradient of a long rollout, with and without `jax.checkpoint`.

```
python -m rsvp_jax.bench.fit [--quick] --out benchmarks/results/fit.json
```

The gradient is that of the calibration loss (`rsvp_jax._fit_problem.loss`: the misfit of
the state after `steps` steps to an observed one) with respect to two parameters (γ, D_S),
on the default `rsvp` model from `blobs`, SSP-RK3. Full run: 128² cells, 1,000 steps; quick:
64², 200 steps. Variants: `checkpoint_every` = 0 (no checkpointing: the backward pass keeps
every step's intermediates), ⌈√steps⌉ (the default) and 100 (quick: 50).

For each variant, in its own process (so that peak memory figures do not mix):

- `temp_bytes`: the compiled executable's temporary buffers (`memory_analysis()`), the
  deterministic memory figure; `peak_bytes_in_use` from the device's allocator where it has
  one (GPU); `peak_rss_bytes`, the process's peak resident memory (CPU; includes JAX itself);
- `compile_s` (lower + compile) apart from the timed runs;
- the gradient's median / min / max time over `repeats` runs, beside the baseline measured in
  the same process: the loss alone (a forward pass).

A variant that runs out of memory is reported with its error (its `temp_bytes` still say why).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time


def _config(quick: bool) -> dict:
    if quick:
        return dict(shape=(64, 64), steps=200, dt=0.05, method="ssprk3", checkpoints=[0, 15, 50], repeats=3)
    return dict(shape=(128, 128), steps=1000, dt=0.05, method="ssprk3", checkpoints=[0, 32, 100], repeats=3)


def _stats(times):
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": len(times)}


def worker(cfg: dict, checkpoint_every: int) -> dict:
    """One variant, in this process: compile, memory, timings."""
    import jax

    import rsvp_jax as rj
    from .. import calibration as fp

    lat = rj.Lattice(tuple(cfg["shape"]))
    truth = rj.preset("rsvp")
    x0 = rj.initial_state(lat, "blobs", seed=0)
    final = rj.rollout(truth, lat, x0, cfg["dt"], cfg["steps"], cfg["method"])
    obs = rj.Trajectory(jax.tree.map(lambda a, b: jax.numpy.stack([a, b]), x0, final),
                        jax.numpy.asarray([0.0, cfg["steps"] * cfg["dt"]]), jax.numpy.asarray([0, cfg["steps"]]), {})
    problem = fp.make_problem(truth.replace(gamma=0.12, D_S=0.04), lat, obs, ("gamma", "D_S"), dt=cfg["dt"],
                              method=cfg["method"], checkpoint_every=checkpoint_every)
    u = problem.u0
    out = {"checkpoint_every": checkpoint_every, "device": str(jax.devices()[0])}

    t0 = time.perf_counter()
    grad = jax.jit(jax.grad(fp.loss, argnums=1)).lower(problem, u).compile()
    out["compile_s"] = time.perf_counter() - t0
    mem = grad.memory_analysis()
    if mem is not None:
        out["temp_bytes"] = int(mem.temp_size_in_bytes)
        out["argument_bytes"] = int(mem.argument_size_in_bytes)
    print(json.dumps(out), flush=True)  # in case the run itself dies of memory

    forward = jax.jit(fp.loss).lower(problem, u).compile()
    jax.block_until_ready(forward(problem, u))
    jax.block_until_ready(grad(problem, u))  # warm-up (allocations)
    fwd_times, grad_times = [], []
    for _ in range(cfg["repeats"]):
        t0 = time.perf_counter()
        jax.block_until_ready(forward(problem, u))
        fwd_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        g = jax.block_until_ready(grad(problem, u))
        grad_times.append(time.perf_counter() - t0)
    out["gradient"] = _stats(grad_times)
    out["forward_baseline"] = _stats(fwd_times)
    out["gradient_over_forward"] = out["gradient"]["median_s"] / out["forward_baseline"]["median_s"]
    out["grad_values"] = {k: float(v) for k, v in g["params"].items()}
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        out["peak_bytes_in_use"] = int(stats["peak_bytes_in_use"])
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def _in_subprocess(quick: bool, checkpoint_every: int) -> dict:
    r = subprocess.run([sys.executable, "-m", "rsvp_jax.bench.fit", "--worker", str(checkpoint_every),
                        *(["--quick"] if quick else [])], capture_output=True, text=True, timeout=3600)
    lines = [json.loads(s) for s in r.stdout.strip().splitlines() if s.startswith("{")]
    result = lines[-1] if lines else {"checkpoint_every": checkpoint_every}
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()
        result["error"] = tail[-1] if tail else f"exit status {r.returncode} (killed: out of memory?)"
    return result


def run(quick: bool = False) -> dict:
    """Every variant, each in a fresh process; returns a JSON-able dict (see the module docstring)."""
    import jax

    cfg = _config(quick)
    out = {"benchmark": "fit", "what": "gradient of the fit loss through a rollout, with / without jax.checkpoint",
           "quick": quick, "config": cfg, "jax": jax.__version__, "backend": jax.default_backend(),
           "cpus": os.cpu_count(), "load_average_before": os.getloadavg(),
           "default_checkpoint_every": math.ceil(math.sqrt(cfg["steps"]))}
    out["variants"] = [_in_subprocess(quick, c) for c in cfg["checkpoints"]]
    base = out["variants"][0]
    for v in out["variants"][1:]:
        if "temp_bytes" in v and "temp_bytes" in base:
            v["temp_bytes_vs_no_checkpoint"] = v["temp_bytes"] / base["temp_bytes"]
        if "gradient" in v and "gradient" in base:
            v["time_vs_no_checkpoint"] = v["gradient"]["median_s"] / base["gradient"]["median_s"]
    out["load_average_after"] = os.getloadavg()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rsvp_jax.bench.fit", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="64², 200 steps instead of 128², 1,000")
    p.add_argument("--out", default=None, help="write the JSON here (atomically) as well as printing a digest")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(_config(args.quick), args.worker)), flush=True)
        return 0
    result = run(args.quick)
    if args.out:
        from ..io import write_json

        write_json(args.out, result)
    for v in result["variants"]:
        g = v.get("gradient", {})
        print(f"checkpoint_every={v['checkpoint_every']:>4}: temp {v.get('temp_bytes', float('nan')) / 2**20:9.1f} MiB, "
              f"gradient {g.get('median_s', float('nan')):.3f} s (forward {v.get('forward_baseline', {}).get('median_s', float('nan')):.3f} s), "
              f"compile {v.get('compile_s', float('nan')):.1f} s" + (f"  ERROR {v['error']}" if "error" in v else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
