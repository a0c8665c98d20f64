"""Benchmark: solver throughput against the memory-bandwidth ceiling, NumPy and exponax.

```
python -m rsvp_jax.bench.solver [--quick] --out benchmarks/results/solver.json
```

1. **ceilings** (`ceilings.py`), measured in the same run as the rows they bound: the machine's
   copy bandwidth (STREAM copy and triad into preallocated buffers, 256 MB each, one thread and
   every core; on an accelerator a jitted copy into a donated buffer), turned into the
   cell-updates/s a step cannot exceed given the bytes it must move; and the plain-jnp
   reference stencil (C fields, a (2D + 1)-point Laplacian, the same integrator in a
   `fori_loop`, same shape and dtype): what XLA does for the simplest stencil.
2. **throughput**: cell-updates per second (cells × steps / time) of `rj.rollout` of the
   default "rsvp" model (jitted with the state donated, each repeat continuing from the last),
   per size, dtype and integrator. Each row carries both fractions: `fraction_of_ceiling`
   (throughput / the copy-bandwidth ceiling for `ceilings.step_bytes`: each stage reads its
   input and writes its output, C words per cell each, and a stage that combines with x₀ reads
   it too — Euler 2C, Heun 5C, SSP-RK3 8C, RK4 13C words per cell and step, C = D + 2) and
   `fraction_of_reference` (throughput / the reference stencil's, measured right after it).
   `flux_cost` compares the default smooth face flux with `advection="upwind"` at 256² and
   1024² (float32 SSP-RK3): the price of the smooth flux.
3. **numpy**: the same equations in plain NumPy (`numpy_rsvp.py`), checked against the JAX
   states first (float64, max |Δ| reported), then timed per step at the same size.
4. **exponax**: 2D advection–diffusion of a scalar (u = (1, 0.5), D = 0.01, one Fourier mode,
   t = 0 → 1), which both solve; each runs at the coarsest of a few resolutions that reaches
   the target error against the exact solution, and the wall time to get there is compared.
   exponax integrates this linear problem exactly in Fourier space (ETD), so it is the
   strongest possible baseline on it; rsvp-jax uses its 4th-order finite-volume operators
   with RK4.

Every timing: a warm-up call (compilation, reported as `warmup_s`) then the median of
repeats with min and max (`_timing.measure`).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from . import ceilings
from .timing import machine, measure

def throughput(shape, dtype="float32", method="ssprk3", target_updates=2e7, ceiling=None, advection=None,
               reference=True, repeats=3, max_steps=None) -> dict:
    """One row: rollout throughput, its copy-bandwidth ceiling (`ceiling`, from
    `ceilings.memory_ceiling`) and the reference stencil of the same shape, dtype and method."""
    import jax

    import rsvp_jax as rj

    lat = rj.Lattice(shape)
    model = rj.preset("rsvp") if advection is None else rj.preset("rsvp", advection=advection)
    x0 = rj.initial_state(lat, "blobs", seed=0, dtype=dtype)
    steps = max(2, int(target_updates / lat.size))
    if max_steps is not None:
        steps = min(steps, max_steps)
    dt = 0.5 * rj.max_stable_dt(model, lat, x0)
    run = jax.jit(lambda x: rj.rollout(model, lat, x, dt, steps, method), donate_argnums=0)
    state = [jax.tree.map(lambda a: a.copy(), x0)]

    def once():  # the donated state is consumed: each call continues from the last one's output
        state[0] = jax.block_until_ready(run(state[0]))

    t = measure(once, repeats=repeats)
    rate = lat.size * steps / t["median_s"]
    finite = bool(all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(state[0])))
    row = {"shape": list(shape), "dtype": dtype, "method": method, "advection": model.advection, "steps": steps,
           "cell_updates_per_s": rate, "s_per_step": t["median_s"] / steps, "finite": finite, **t}
    if ceiling:
        itemsize, C = np.dtype(dtype).itemsize, lat.channels
        bound = ceilings.cell_update_ceiling(ceiling["GB_per_s"], method, C, itemsize)
        row.update(bytes_per_cell_step=ceilings.step_bytes(method, C, itemsize), ceiling_cell_updates_per_s=bound,
                   fraction_of_ceiling=rate / bound,
                   fraction_of_io_bound=rate * 2 * C * itemsize / (ceiling["GB_per_s"] * 1e9))
    if reference:
        ref = ceilings.reference_stencil(shape, dtype, method, target_updates=lat.size * steps, repeats=repeats)
        row.update(reference_cell_updates_per_s=ref["cell_updates_per_s"],
                   fraction_of_reference=rate / ref["cell_updates_per_s"], reference=ref)
    return row


def numpy_baseline(shape, steps: int = 3) -> dict:
    """The NumPy implementation: first equal to the JAX states (float64), then timed (float32)."""
    import jax

    import rsvp_jax as rj

    from . import numpy_rsvp

    model = rj.preset("rsvp")
    assert numpy_rsvp.supports(model)
    params = {k: float(getattr(model, k)) for k in model.param_names()}
    with jax.enable_x64(True):
        lat = rj.Lattice((48, 40), 0.8)
        x = rj.initial_state(lat, "blobs", seed=1, dtype="float64")
        ref = rj.rollout(model, lat, x, 0.05, 20)
        got = numpy_rsvp.ssprk3(params, lat.spacing, *(np.asarray(a) for a in (x.phi, x.v, x.S)), 0.05, 20,
                                model.advection)
        max_diff = max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip((ref.phi, ref.v, ref.S), got))
    lat = rj.Lattice(shape)
    x = rj.initial_state(lat, "blobs", seed=0)
    arrays = [np.asarray(a) for a in (x.phi, x.v, x.S)]
    dt = 0.5 * rj.max_stable_dt(model, lat, x)
    t = measure(lambda: numpy_rsvp.ssprk3(params, 1.0, *arrays, dt, steps, model.advection), repeats=3)
    return {"shape": list(shape), "steps": steps, "max_abs_diff_vs_jax_float64": max_diff,
            "cell_updates_per_s": lat.size * steps / t["median_s"], "s_per_step": t["median_s"] / steps, **t}


# ---- exponax: 2D advection–diffusion --------------------------------------------------------
VELOCITY, DIFFUSIVITY, T_END, L = (1.0, 0.5), 0.01, 1.0, 2 * math.pi
MODE = (1, 2)  # Φ = 1 + 0.5 sin(k·x), k = MODE


def _exact(points, t, averaged_over=None):
    """Φ(x, t) = 1 + 0.5 e^{−D|k|²t} sin(k·(x − u t)); with `averaged_over = h`, the cell average."""
    k = np.asarray(MODE, float)
    X = np.meshgrid(*points, indexing="ij")
    phase = sum(k[d] * (X[d] - VELOCITY[d] * t) for d in range(2))
    amp = 0.5 * math.exp(-DIFFUSIVITY * float(k @ k) * t)
    if averaged_over:
        amp *= np.prod([np.sinc(k[d] * averaged_over / 2 / math.pi) for d in range(2)])  # np.sinc(x) = sin(πx)/(πx)
    return 1.0 + amp * np.sin(phase)


def _ours(n):
    import jax
    import jax.numpy as jnp

    import rsvp_jax as rj

    lat = rj.Lattice((n, n), L / n)
    model = rj.preset("rsvp", c_phi=0.0, c_S=0.0, gamma=0.0, nu=0.0, chi=0.0, D_phi=DIFFUSIVITY, D_S=0.0,
                      order=4, advection="central")
    phi0 = _exact(lat.coords(), 0.0, lat.spacing)
    v = np.stack([np.full((n, n), VELOCITY[0]), np.full((n, n), VELOCITY[1])])
    x0 = rj.State(jnp.asarray(phi0, jnp.float32), jnp.asarray(v, jnp.float32), jnp.ones((n, n), jnp.float32))
    steps = max(1, math.ceil(T_END / (0.8 * rj.max_stable_dt(model, lat, x0))))
    run = jax.jit(lambda x: rj.rollout(model, lat, x, T_END / steps, steps, "rk4").phi)
    out = np.asarray(run(x0))
    err = float(np.linalg.norm(out - _exact(lat.coords(), T_END, lat.spacing)) / np.linalg.norm(out))
    return err, lambda: jax.block_until_ready(run(x0)), steps


def _exponax(n):
    import exponax as ex
    import jax
    import jax.numpy as jnp

    steps = 1  # the ETD step is exact in time for this linear problem: one step of T
    stepper = ex.stepper.AdvectionDiffusion(2, L, n, T_END / steps, velocity=jnp.asarray(VELOCITY),
                                            diffusivity=DIFFUSIVITY)
    grid = [np.arange(n) * L / n] * 2
    u0 = jnp.asarray(_exact(grid, 0.0), jnp.float32)[None]
    run = jax.jit(lambda u: ex.repeat(stepper, steps)(u))
    out = np.asarray(run(u0))[0]
    err = float(np.linalg.norm(out - _exact(grid, T_END)) / np.linalg.norm(out))
    return err, lambda: jax.block_until_ready(run(u0)), steps


def exponax_comparison(tolerance=1e-4, sizes=(8, 16, 32, 64, 128, 256)) -> dict:
    out = {"problem": "2D advection-diffusion, u=(1,0.5), D=0.01, sin mode (1,2), t=0..1", "tolerance": tolerance}
    for name, solver in (("rsvp_jax", _ours), ("exponax", _exponax)):
        tried = []
        for n in sizes:
            err, fn, steps = solver(n)
            tried.append({"n": n, "rel_error": err, "steps": steps})
            if err <= tolerance:
                out[name] = {"n": n, "steps": steps, "rel_error": err, **measure(fn, repeats=5)}
                break
        out[f"{name}_tried"] = tried
    if "rsvp_jax" in out and "exponax" in out:
        out["time_ratio_rsvp_over_exponax"] = out["rsvp_jax"]["median_s"] / out["exponax"]["median_s"]
    return out


SIZES = {  # float32 SSP-RK3 2D shapes, the other integrators' shape, float64 and 3D shapes
    "full": dict(ssprk3=[(64, 64), (256, 256), (1024, 1024), (2048, 2048)], methods=(1024, 1024),
                 float64=[(256, 256), (1024, 1024), (2048, 2048)], three_d=[(64, 64, 64), (128, 128, 128)],
                 numpy=(1024, 1024), flux=[(256, 256), (1024, 1024)], exponax=True),
    "quick": dict(ssprk3=[(64, 64), (256, 256), (1024, 1024), (2048, 2048)], methods=(1024, 1024),
                  float64=[(1024, 1024)], three_d=[(64, 64, 64)], numpy=(1024, 1024),
                  flux=[(256, 256), (1024, 1024)], exponax=True),
    # the dry run of the GPU plan on a CPU (tests): every code path, nothing large
    "tiny": dict(ssprk3=[(32, 32)], methods=(32, 32), float64=[(32, 32)], three_d=[(8, 8, 8)], numpy=(32, 32),
                 flux=[(32, 32)], exponax=False),
}


def run(quick: bool = False, size: str | None = None) -> dict:
    """Every measurement at `size` ("full", "quick" or "tiny"; default by `quick`). On an
    accelerator the float32 SSP-RK3 rows add 4096² (the shape of its target) and every row runs
    50× more cell-updates (milliseconds otherwise)."""
    import os

    import jax

    size = size or ("quick" if quick else "full")
    cfg = SIZES[size]
    accelerator = jax.default_backend() != "cpu"
    updates = 1e9 if accelerator else 2e7
    if size == "tiny":
        updates = 2e4
    # on an accelerator a small lattice's step is a few kernel launches: 20,000 steps time it well enough
    capped = {"target_updates": updates, "max_steps": 20_000 if accelerator else None}
    load_before = os.getloadavg()
    bw = ceilings.memory_ceiling(8 if size == "tiny" else 256)
    rows = []
    for shape in cfg["ssprk3"] + ([(4096, 4096)] if accelerator and size != "tiny" else []):
        rows.append(throughput(shape, ceiling=bw, repeats=3 if size != "full" else 5, **capped))
    for method in ("euler", "heun", "rk4"):
        rows.append(throughput(cfg["methods"], method=method, ceiling=bw, **capped))
    with jax.enable_x64(True):
        for shape in cfg["float64"]:
            rows.append(throughput(shape, dtype="float64", ceiling=bw, **capped))
    for shape in cfg["three_d"]:
        rows.append(throughput(shape, ceiling=bw, **capped))
    np_shape = cfg["numpy"]
    numpy_row = numpy_baseline(np_shape, steps=3 if size == "full" else 2)
    jax_row = next(r for r in rows if r["shape"] == list(np_shape) and r["dtype"] == "float32"
                   and r["method"] == "ssprk3")
    # the default (smooth) face flux against upwinding, same sizes, same run
    flux_cost = []
    for shape in cfg["flux"]:
        default = next(r for r in rows if r["shape"] == list(shape) and r["dtype"] == "float32" and r["method"] == "ssprk3")
        upwind = throughput(shape, advection="upwind", reference=False, **capped)
        flux_cost.append({"shape": list(shape), "advection": default["advection"],
                          "cell_updates_per_s": default["cell_updates_per_s"],
                          "upwind_cell_updates_per_s": upwind["cell_updates_per_s"],
                          "throughput_ratio_vs_upwind": default["cell_updates_per_s"] / upwind["cell_updates_per_s"]})
    return {
        "benchmark": "solver",
        "quick": quick,
        "size": size,
        "machine": machine(),
        "load_average_before": load_before,
        "bandwidth": bw,
        "throughput": rows,
        "flux_cost": flux_cost,
        "numpy": numpy_row,
        "speedup_vs_numpy": jax_row["cell_updates_per_s"] / numpy_row["cell_updates_per_s"],
        "speedup_vs_numpy_shape": list(np_shape),
        "exponax": exponax_comparison() if cfg["exponax"] else {},
        "load_average_after": os.getloadavg(),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tiny", action="store_true", help="32² and 8³ only: the dry run of `rsvp bench --device gpu`")
    p.add_argument("--out", default="benchmarks/results/solver.json")
    args = p.parse_args(argv)
    result = run(args.quick, "tiny" if args.tiny else None)
    from ..io import write_json

    write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "throughput"}, indent=1, default=str)[:3000])
    for r in result["throughput"]:
        print(f"{'x'.join(map(str, r['shape'])):>12} {r['dtype']:8s} {r['method']:6s} "
              f"{r['cell_updates_per_s']:.3g} cell-updates/s, {100 * r.get('fraction_of_ceiling', float('nan')):.1f}% of "
              f"the copy ceiling, {r.get('fraction_of_reference', float('nan')):.2f}x the reference stencil")


if __name__ == "__main__":
    main()
