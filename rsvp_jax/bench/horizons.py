"""Benchmark: the dynamics over horizons — tangent throughput, the ladder of issue #15, a large propagator.

```
python -m rsvp_jax.bench.horizons [--quick] --out benchmarks/results/horizons.json
```

1. **tangent throughput**: a block of p tangents through `integrate.tangent_rollout` and a block
   of cotangents through `adjoint_rollout`, in vector-steps per second, against the primal
   `rollout`'s steps per second in the same run (target: tangent ≥ 0.3× the primal, i.e. one
   JVP step costs at most ~3 primal steps).
2. **the ladder of issue #15** on 64² (`runs.horizon_analysis`: the automatic ladder up to 400
   steps, top-32 triplets, 8 × 24 SLQ, 16 Lyapunov exponents; `rsvp demo` itself now runs a
   smaller one, `cli.demo.HORIZONS`), timed after a first call that compiles (target: under
   60 s on 2 CPU cores).
3. **a large propagator**: top-16 of M(T) on 256² at a horizon of 200 steps, its wall time and
   the process's peak memory (targets: under 5 minutes, under 4 GB).

Each row records the machine and its load average: other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _config(quick: bool) -> dict:
    if quick:
        return dict(tangent=dict(shape=(64, 64), p=16, steps=20), ladder=dict(shape=(32, 32), k=8, lyapunov=4,
                    probes=4, lanczos_steps=12, max_steps=100), large=dict(shape=(64, 64), k=8, steps=50))
    return dict(tangent=dict(shape=(64, 64), p=40, steps=100),
                ladder=dict(shape=(64, 64), k=32, lyapunov=16, probes=8, lanczos_steps=24, max_steps=400),
                large=dict(shape=(256, 256), k=16, steps=200))


def tangent_throughput(cfg) -> dict:
    import jax
    import jax.numpy as jnp

    import rsvp_jax as rj
    from rsvp_jax.integrate import adjoint_rollout, checkpoint_layout, tangent_rollout

    from .timing import measure

    lat, model = rj.Lattice(tuple(cfg["shape"])), rj.preset("rsvp")
    x = rj.to_array(rj.initial_state(lat, "blobs", seed=0))
    dt, steps, p = jnp.asarray(0.05, x.dtype), int(cfg["steps"]), int(cfg["p"])
    W = jax.random.normal(jax.random.PRNGKey(0), (p, *x.shape), x.dtype)
    primal = jax.jit(lambda a: rj.to_array(rj.rollout(model, lat, rj.from_array(a, lat), dt, steps)))
    seg, nseg = checkpoint_layout(steps)
    n = jnp.asarray(steps, jnp.int32)
    t_primal = measure(lambda: jax.block_until_ready(primal(x)), repeats=5)
    t_tan = measure(lambda: jax.block_until_ready(tangent_rollout(model, lat, x, dt, n, W)), repeats=3)
    t_adj = measure(lambda: jax.block_until_ready(adjoint_rollout(model, lat, x, dt, n, W, segment=seg, n_segments=nseg)),
                    repeats=3)
    primal_rate = steps / t_primal["median_s"]
    out = {"config": cfg, "primal": {**t_primal, "steps_per_s": primal_rate}}
    for name, t in (("tangent", t_tan), ("adjoint", t_adj)):
        rate = p * steps / t["median_s"]
        out[name] = {**t, "vector_steps_per_s": rate, "ratio_to_primal": rate / primal_rate}
    out["target_tangent_ratio"] = 0.3
    return out


def ladder(cfg) -> dict:
    import rsvp_jax as rj
    from rsvp_jax.runs import horizon_analysis

    lat, model = rj.Lattice(tuple(cfg["shape"])), rj.preset("rsvp")
    x = rj.simulate(model, lat, rj.initial_state(lat, "blobs", seed=0), 0.05, 200).final

    def once():
        t0 = time.perf_counter()
        res = horizon_analysis(model, lat, x, 0.05, 8, k=cfg["k"], probes=cfg["probes"],
                               lanczos_steps=cfg["lanczos_steps"], lyapunov=cfg["lyapunov"], max_steps=cfg["max_steps"])
        return time.perf_counter() - t0, res

    first, _ = once()
    second, res = once()
    rows = [{k: h[k] for k in ("horizon", "steps", "stable_rank", "effective_rank", "k90", "seconds")}
            for h in res.summary["horizons"]]
    return {"config": cfg, "first_call_s": first, "after_compile_s": second, "target_s": 60.0, "horizons": rows,
            "lyapunov_s": res.summary["lyapunov"]["seconds"]}


def large(cfg) -> dict:
    import rsvp_jax as rj

    from .timing import peak_rss_mb

    lat, model = rj.Lattice(tuple(cfg["shape"])), rj.preset("rsvp")
    x = rj.initial_state(lat, "blobs", seed=0)
    dt = 0.05
    t0 = time.perf_counter()
    ps = rj.propagator_spectrum(model, lat, x, dt, cfg["steps"] * dt, k=cfg["k"], probes=0)
    seconds = time.perf_counter() - t0
    return {"config": cfg, "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "target_s": 300.0, "target_mb": 4096.0,
            "sigma": [float(s) for s in ps.sigma], "max_residual": float(max(ps.residual)), "n": ps.n}


def run(quick: bool = False) -> dict:
    from .timing import machine

    cfg = _config(quick)
    out = {"benchmark": "horizons", "quick": quick, "machine": machine(), "load_average_before": os.getloadavg()}
    out["tangent"] = tangent_throughput(cfg["tangent"])
    out["ladder"] = ladder(cfg["ladder"])
    out["large"] = large(cfg["large"])
    out["load_average_after"] = os.getloadavg()
    tan, lad, big = out["tangent"], out["ladder"], out["large"]
    n = "x".join(map(str, cfg["tangent"]["shape"]))
    out["headlines"] = [
        {"what": f"tangent rollout {n}, block of {cfg['tangent']['p']}", "value": tan["tangent"]["vector_steps_per_s"],
         "unit": "vector-steps/s", "baseline": tan["primal"]["steps_per_s"], "baseline_name": "primal rollout steps/s",
         "ratio": tan["tangent"]["ratio_to_primal"], "target": 0.3},
        {"what": f"the #15 ladder on {'x'.join(map(str, cfg['ladder']['shape']))}, after compiling",
         "value": lad["after_compile_s"], "unit": "s", "baseline": lad["target_s"], "baseline_name": "target",
         "ratio": lad["target_s"] / lad["after_compile_s"], "target": 1.0},
        {"what": f"top-{cfg['large']['k']} of M(T), {'x'.join(map(str, cfg['large']['shape']))}, "
                 f"{cfg['large']['steps']} steps", "value": big["seconds"], "unit": "s", "baseline": big["target_s"],
         "baseline_name": f"target (peak {big['peak_rss_mb']:.0f} MB of {big['target_mb']:.0f})",
         "ratio": big["target_s"] / big["seconds"], "target": 1.0},
    ]
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    result = run(args.quick)
    from ..io import write_json

    write_json(args.out, result)
    print(json.dumps({"tangent_ratio": result["tangent"]["tangent"]["ratio_to_primal"],
                      "ladder_s": result["ladder"]["after_compile_s"], "large_s": result["large"]["seconds"],
                      "large_mb": result["large"]["peak_rss_mb"]}))


if __name__ == "__main__":
    main()
