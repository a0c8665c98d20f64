"""`rsvp sweep`: a resumable parameter sweep, batched over every device (and process).

```
rsvp sweep --preset rsvp --shape 64,64 --steps 500 --param gamma=0.05:0.5:8 --param nu=0.01,0.05,0.1 --out DIR
```

`--param NAME=SPEC` adds a grid axis: `START:STOP:NUM` (NUM evenly spaced values, both ends
included), `START:STOP:NUM:log` (geometric), `A,B,C` (a list) or one value. `seed` sweeps
the initial condition's random seed. Writes `DIR/sweep.nc` (parameters as coordinates),
`DIR/sweep.png`, `DIR/sweep_<diagnostic>.png` and `DIR/summary.json`; finished batches are
kept in `DIR/batches/`, so the same command again resumes an interrupted sweep, and a
different one is refused (exit 2).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._common import (Timer, add_model_args, add_output_args, check_seed, initial_from_args, list_presets,
                      model_and_lattice, open_out, parse_assignments, say)

DEFAULT_PARAMS = {"rsvp": ["gamma=0.05:0.5:4", "D_S=0.02:0.2:3"]}
DEFAULT_PLOTS = "phi_std,S_std,kinetic_energy"


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a resumable parameter sweep, batched over all devices",
                       description="Run a preset over a grid of parameters (vmapped batches, sharded over every "
                                   "device); write sweep.nc, sweep.png and summary.json into --out. The same "
                                   "command again resumes an interrupted sweep.")
    add_model_args(p, steps=200, dt=0.05, shape="32,32")
    g = p.add_argument_group("sweep")
    g.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                   help="a grid axis: START:STOP:NUM, START:STOP:NUM:log, A,B,C or one value; NAME may be 'seed' "
                        "(repeatable; default for rsvp: " + " ".join(DEFAULT_PARAMS["rsvp"]) + ")")
    g.add_argument("--save-every", type=int, default=None, help="steps between saved diagnostics (default: ~20 saves)")
    g.add_argument("--batch-size", type=int, default=None, help="points per batch (default: from free memory)")
    g.add_argument("--plot", default=DEFAULT_PLOTS, help=f"comma-separated summaries to map (default {DEFAULT_PLOTS})")
    g.add_argument("--save-states", action="store_true", help="also store every point's final state")
    g.add_argument("--tile-spectrum", type=int, default=0, metavar="B",
                   help="also summarize the one-step tile-Jacobian spectra (B x B tiles) of every final state "
                        "(tile_stable_rank, tile_effective_rank, ...; default off)")
    add_output_args(g, "out/sweep")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    d = p.add_argument_group("multi-process (jax.distributed; default: the JAX_* environment variables)")
    d.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="process 0's coordinator address")
    d.add_argument("--num-processes", type=int, default=None, help="number of processes")
    d.add_argument("--process-id", type=int, default=None, help="this process's id, 0..N-1")
    d.add_argument("--join-timeout", type=float, default=300, metavar="SECONDS",
                   help="give up (exit 2) if not every process has joined after this long (default 300)")
    p.set_defaults(func=run)


def parse_axis(item: str, model) -> tuple[str, np.ndarray]:
    """'gamma=0.05:0.5:8' → ('gamma', 8 values); see the module docstring for the forms."""
    from ..sweeps import SEED, check_names

    if "=" not in item:
        raise ConfigError(f"--param {item!r} is not NAME=SPEC (e.g. gamma=0.05:0.5:8 or nu=0.01,0.1)")
    name, spec = (s.strip() for s in item.split("=", 1))
    check_names(model, [name])
    parts = spec.split(":")
    if len(parts) not in (1, 3, 4):
        raise ConfigError(f"--param {name}={spec!r} is not START:STOP:NUM[:log], A,B,C or one number")
    if len(parts) == 1:
        values = np.asarray([_number(v, name, spec) for v in spec.split(",") if v.strip() != ""])
    else:
        lo, hi, n = _number(parts[0], name, spec), _number(parts[1], name, spec), parts[2].strip()
        if not n.isdigit() or int(n) < 1:
            raise ConfigError(f"--param {name}: the number of values {n!r} must be a whole number >= 1")
        if len(parts) == 4 and parts[3].strip() != "log":
            raise ConfigError(f"--param {name}: the 4th part {parts[3]!r} may only be 'log'")
        if len(parts) == 4 and (lo <= 0 or hi <= 0):
            raise ConfigError(f"--param {name}: a log axis needs START and STOP > 0, not {lo:g} and {hi:g}")
        values = (np.geomspace if len(parts) == 4 else np.linspace)(lo, hi, int(n))
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ConfigError(f"--param {name}={spec!r} gives no values or non-finite ones")
    if name == SEED:
        if not np.all(values == np.round(values)) or np.any(values < 0):
            raise ConfigError(f"--param seed={spec!r}: seeds must be whole numbers >= 0")
        values = values.astype(np.int64)
    return name, values


def _number(text: str, name: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--param {name}={spec!r}: {text.strip()!r} is not a number "
                          "(forms: START:STOP:NUM[:log], A,B,C or one number)") from None


def parse_grid(items, model, set_names=()) -> dict[str, np.ndarray]:
    grid = {}
    for item in items:
        name, values = parse_axis(item, model)
        if name in grid:
            raise ConfigError(f"--param {name} is given twice; give each swept name once")
        if name in set_names:
            raise ConfigError(f"{name!r} is both --set and --param; drop one of them")
        grid[name] = values
    return grid


def _default_params(model) -> list[str]:
    if model.name in DEFAULT_PARAMS:
        return DEFAULT_PARAMS[model.name]
    out = []
    for k, v in model.params().items():
        if k in model.param_names() and isinstance(v, float) and v > 0 and len(out) < 2:
            out.append(f"{k}={0.5 * v:g}:{2 * v:g}:{4 if not out else 3}")
    return out


def run(args) -> int:
    if args.list_presets:
        list_presets()
        return 0
    from .. import sweeps as dist

    dist.initialize(args.coordinator, args.num_processes, args.process_id, timeout_s=args.join_timeout, progress=say,
                    prog="rsvp sweep")  # before any JAX computation
    timer = Timer()
    model, lat = model_and_lattice(args)
    grid = parse_grid(args.param or _default_params(model), model, parse_assignments(args.set, model))
    plots = [s.strip() for s in args.plot.split(",") if s.strip()]
    _check_plots(plots, args.tile_spectrum)
    if args.tile_spectrum < 0:
        raise ConfigError(f"--tile-spectrum {args.tile_spectrum} must be a tile edge >= 1 (or 0: off)")
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size} must be >= 1")
    from ..sweeps import SEED, grid_points
    from .simulate import default_save_every

    if args.save_every is not None and args.save_every < 1:
        raise ConfigError(f"--save-every {args.save_every} is invalid; give a number of steps >= 1 "
                          "(or leave it out for about 20 saves)")
    save_every = args.save_every or default_save_every(args.steps)
    if args.steps < 1 or save_every < 1 or args.steps % save_every:
        raise ConfigError(f"--steps {args.steps} must be >= 1 and a multiple of --save-every {save_every}")
    values, shape = grid_points(grid)
    _check_memory(args, model, lat, int(np.prod(shape)), args.steps // save_every + 1)
    if SEED in grid:
        from ..state import initial_state

        init, dtype = args.init, args.dtype
        x0 = lambda seed: initial_state(lat, kind=init, seed=check_seed(seed, "--param seed"), dtype=dtype)  # noqa: E731
    else:
        x0 = initial_from_args(args, lat)
    out, refusal = None, ""
    if dist.is_main():  # only process 0 writes; the sweep's store resumes in place (not staged)
        try:
            out = open_out(args, "sweep", staged=False)
        except ConfigError as e:
            refusal = str(e)
    if dist.broadcast(np.asarray([bool(refusal)], np.int8))[0]:  # every process stops, not only process 0
        raise ConfigError(refusal or "process 0 refused the output folder (see its error)")
    if out is None:
        _run(args, model, lat, x0, grid, shape, save_every, None, plots, timer)
        return 0
    with out:
        summary = _run(args, model, lat, x0, grid, shape, save_every, out.path, plots, timer)
    say(f"wrote {', '.join(summary['files'])} and summary.json to {out.path}/")
    return 0


def _check_memory(args, model, lat, points: int, saves: int) -> None:
    import jax

    from ..diagnostics import DESCRIPTIONS
    from ..integrate import stages
    from ..runs import check_memory, sweep_memory

    need = sweep_memory(lat, args.dtype, stages(model, args.method), points, jax.local_device_count(),
                        snapshots=saves, n_diagnostics=len(DESCRIPTIONS) + 1, final_states=args.save_states)
    check_memory(need, f"rsvp sweep on {'x'.join(map(str, lat.shape))} cells ({points} points)",
                 "use a smaller --shape, fewer points, or no --save-states")


def _check_plots(names, tiles: int) -> None:
    from ..sweeps import SUMMARIES, TILE_KEYS
    from ..diagnostics import DESCRIPTIONS

    valid = (*SUMMARIES, *DESCRIPTIONS, "invariant", *((f"tile_{k}" for k in TILE_KEYS) if tiles else ()))
    for n in names:
        if n not in valid:
            raise ConfigError(f"--plot {n!r} is not a summary or diagnostic; valid names are {', '.join(valid)}")


def _run(args, model, lat, x0, grid, shape, save_every, out, plots, timer):
    import jax

    from .. import io
    from .. import sweeps as dist
    from ..progress import Progress
    from ..runs import sweep_report

    P = int(np.prod(shape))
    n_dev, n_proc = jax.device_count(), jax.process_count()
    if dist.is_main():
        say(f"sweeping {model.name} on {'x'.join(map(str, lat.shape))} cells over "
            + " x ".join(f"{k} ({len(v)})" for k, v in grid.items())
            + f" = {P} points, {args.steps} steps of dt={args.dt:g}; {n_dev} device(s), {n_proc} process(es)")
    t = Timer()
    attrs = {**io.model_attrs(model), "shape": list(lat.shape), "spacing": lat.spacing, "dt": args.dt,
             "steps": args.steps, "save_every": save_every, "method": args.method, "init": args.init}
    summaries = {"tile": dist.TileSpectrum(args.dt, args.tile_spectrum, 1, args.method)} if args.tile_spectrum else None
    with Progress(not (args.quiet or not dist.is_main()), P, unit="point") as bar:
        result, info = dist.sweep_to_folder(
            out if out is not None else args.out, model, lat, x0, args.dt, args.steps, grid, save_every=save_every,
            method=args.method, final_states=args.save_states, summaries=summaries, batch_size=args.batch_size,
            progress=lambda done, total: bar.update(done), attrs=attrs,
            extra_identity={"init": args.init, "tile_spectrum": args.tile_spectrum})
    if result is None:  # not process 0: it writes nothing
        return None
    return sweep_report(out, result, {"devices": n_dev, "processes": n_proc, **info}, model, lat, dt=args.dt,
                        steps=args.steps, save_every=save_every, method=args.method, dtype=args.dtype, grid=grid,
                        shown=plots, seconds=t(), meta={"init": args.init}, timer=timer)
