"""`rsvp fit`: calibrate model parameters (and initial fields) to an observed trajectory.

```
rsvp fit --observations out/simulate/trajectory.nc --fit gamma,D_S --out DIR
rsvp fit --out DIR            # no file: a twin experiment on a small embedded default
```

The observations are a trajectory file as `rsvp simulate` writes it (`rsvp_jax.io`): its
attributes name the preset, every parameter, dt and the integrator, and its snapshot at
step 0 is the initial state. Parameters not fitted keep the file's values (they are the
known physics). A fitted parameter starts from, by `--start`:

- `perturbed` (default): the file's value scaled by 1 + p, 1 − p, 1 + p, ... (`--perturb p`,
  0.4), i.e. a twin experiment: the file's values are the truth the fit should recover;
- `defaults`: the preset's default (a guess that does not look at the file's attributes);
- `file`: the file's value itself;

and `--init-set NAME=VALUE` overrides any of them. Initial fields named by `--fit-initial`
start from their spatial mean and are fitted to the snapshots after step 0 (the one at
step 0 is then the answer, kept aside to score the fit). The summary reports the fitted values
beside the file's and their relative differences. Writes `fit.nc` (loss and parameters per
iteration, the fitted model as attributes, fitted initial fields), `params.json`, `fit.png`,
`sensitivity.png` and `summary.json` into `--out`.
"""

from __future__ import annotations

from ..errors import ConfigError
from ._common import Timer, add_output_args, check_seed, open_out, parse_assignments, parse_shape, say

TWIN = dict(preset="rsvp", shape="16,16", dt=0.05, steps=100, save_every=10, fit="gamma,D_S")


def register(sub) -> None:
    p = sub.add_parser("fit", help="fit model parameters to an observed trajectory (optax / Levenberg-Marquardt)",
                       description="Fit parameters (and initial fields) of the model that wrote a trajectory file to "
                                   "its snapshots; without --observations, run a twin experiment on a small embedded "
                                   "default. Writes fit.nc, params.json, fit.png, sensitivity.png and summary.json.")
    g = p.add_argument_group("data")
    g.add_argument("--observations", default=None, metavar="FILE",
                   help="a trajectory written by rsvp simulate (default: simulate a small twin experiment)")
    g.add_argument("--dt", type=float, default=None, help="time step of the run (default: the file's; twin 0.05)")
    g.add_argument("--method", default=None, help="integrator of the run (default: the file's; twin ssprk3)")
    g.add_argument("--fields", default="phi,v,S", help="observed fields the loss compares (default phi,v,S)")
    g.add_argument("--noise", type=float, default=0.0, metavar="SIGMA",
                   help="add Gaussian noise of this standard deviation to the snapshots after step 0 (default 0)")
    g.add_argument("--noise-seed", type=int, default=0, help="random seed of --noise (default 0)")
    f = p.add_argument_group("fit")
    f.add_argument("--fit", default=None, metavar="NAMES",
                   help=f"comma-separated parameters to fit (default {TWIN['fit']})")
    f.add_argument("--fit-initial", default="", metavar="FIELDS", help="initial fields to fit too, e.g. phi or phi,S")
    f.add_argument("--start", default="perturbed", choices=("perturbed", "defaults", "file"),
                   help="starting guess of the fitted parameters (default perturbed; see the module docs)")
    f.add_argument("--perturb", type=float, default=0.4, help="relative perturbation of --start perturbed (default 0.4)")
    f.add_argument("--init-set", action="append", default=[], metavar="NAME=VALUE",
                   help="starting value of a fitted parameter (repeatable; overrides --start)")
    f.add_argument("--optimizer", default="auto", choices=("auto", "lbfgs", "adam", "lm"),
                   help="optax L-BFGS, optax Adam, or Levenberg-Marquardt (the fastest for a few parameters); "
                        "default auto: lm when only parameters are fitted, lbfgs when initial fields are too")
    f.add_argument("--max-iter", type=int, default=200, help="most iterations (default 200)")
    f.add_argument("--tol", type=float, default=1e-6, help="stop when the rms misfit falls below tol x its start")
    f.add_argument("--checkpoint-every", type=int, default=None, metavar="C",
                   help="steps per jax.checkpoint chunk (default sqrt(steps) for >= 100 steps; 0: off)")
    f.add_argument("--dtype", default="float32", choices=("float32", "float64"), help="precision of the fit (default float32)")
    f.add_argument("--no-sensitivity", action="store_true", help="skip the sensitivity analysis at the fitted point")
    t = p.add_argument_group("twin experiment (without --observations)")
    t.add_argument("--preset", default=TWIN["preset"], help=f"equation set (default {TWIN['preset']})")
    t.add_argument("--shape", default=TWIN["shape"], help=f"lattice (default {TWIN['shape']})")
    t.add_argument("--steps", type=int, default=TWIN["steps"], help=f"steps (default {TWIN['steps']})")
    t.add_argument("--save-every", type=int, default=TWIN["save_every"], help=f"steps between snapshots (default {TWIN['save_every']})")
    t.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a true parameter (repeatable)")
    t.add_argument("--init", default="blobs", help="initial condition (default blobs)")
    t.add_argument("--seed", type=int, default=0, help="seed of the initial condition (default 0)")
    add_output_args(p, "out/fit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def load_observations(args):
    """(truth model, lattice, trajectory or None, x0 or None, dt, method, source): from --observations
    (read now), or the twin experiment's truth (its initial state, x0, is made after the memory
    check and its run later, into the output folder)."""
    from ..integrate import check_method
    from ..runs import observations_from_file
    from ._common import model_and_lattice

    if args.observations:
        model, lat, traj, dt, method = observations_from_file(args.observations, dtype=args.dtype, dt=args.dt,
                                                              method=args.method)
        return model, lat, traj, None, dt, method, str(args.observations)
    args.spacing = 1.0
    model, lat = model_and_lattice(args)
    dt = float(args.dt if args.dt is not None else TWIN["dt"])
    method = args.method or "ssprk3"
    check_method(method)
    if args.steps < 1 or args.save_every < 1 or args.steps % args.save_every:
        raise ConfigError(f"--steps {args.steps} must be a positive multiple of --save-every {args.save_every}")
    return model, lat, None, None, dt, method, "twin"


def starting_model(truth, names, args):
    """The fit's starting guess: see the module docstring (--start, --perturb, --init-set)."""
    from ..models import preset

    if args.start == "perturbed":
        if not args.perturb > -1:
            raise ConfigError(f"--perturb {args.perturb} is invalid; it must be > -1")
        start = {n: float(getattr(truth, n)) * (1 + args.perturb * (-1) ** i) for i, n in enumerate(names)}
    elif args.start == "defaults":
        default = preset(truth.name)
        start = {n: float(getattr(default, n)) for n in names}
    else:
        start = {n: float(getattr(truth, n)) for n in names}
    given = parse_assignments(args.init_set, truth, "--init-set")
    stray = [n for n in given if n not in names]
    if stray:
        raise ConfigError(f"--init-set {stray[0]!r}: only fitted parameters ({', '.join(names) or 'none'}) take a starting value")
    start.update({k: float(v) for k, v in given.items()})
    return truth.replace(**start)


def _names(text):
    return tuple(s.strip() for s in (text or "").split(",") if s.strip())


def run(args) -> int:
    from ..runs import fit_to_folder, twin_observations
    from ..state import FIELDS
    from ._common import setup_dtype

    timer = Timer()
    setup_dtype(args.dtype)
    parse_shape(args.shape)
    check_seed(args.seed, "--seed")
    check_seed(args.noise_seed, "--noise-seed")
    if args.dt is not None and not (args.dt > 0 and args.dt < float("inf")):
        raise ConfigError(f"--dt {args.dt} is invalid; give a finite time step > 0")
    if args.max_iter < 1 or not args.tol >= 0:
        raise ConfigError(f"--max-iter {args.max_iter} / --tol {args.tol} are invalid; need max-iter >= 1 and tol >= 0")
    if args.checkpoint_every is not None and args.checkpoint_every < 0:
        raise ConfigError(f"--checkpoint-every {args.checkpoint_every} is invalid; give steps >= 0 (0: off)")
    for flag, given in (("--fields", _names(args.fields)), ("--fit-initial", _names(args.fit_initial))):
        bad = [f for f in given if f not in FIELDS]
        if bad:
            raise ConfigError(f"{flag} {bad[0]!r} is not a field; valid fields are {', '.join(FIELDS)}")
    if not _names(args.fields):
        raise ConfigError(f"--fields {args.fields!r} names no field; give some of {', '.join(FIELDS)}")
    if args.noise < 0:
        raise ConfigError(f"--noise {args.noise} is invalid; it must be >= 0")
    truth, lat, traj, x0, dt, method, source = load_observations(args)  # a bad file fails before --out is made
    names = _names(args.fit if args.fit is not None else (TWIN["fit"] if truth.name == "rsvp" else ""))
    fit_initial = _names(args.fit_initial)
    if not names and not fit_initial:
        raise ConfigError(f"--fit is required for preset {truth.name!r}; its parameters are {', '.join(truth.param_names())}")
    unknown = [n for n in names if n not in truth.param_names()]
    if unknown:
        raise ConfigError(f"--fit {unknown[0]!r}: preset {truth.name!r} has no such parameter; "
                          f"its parameters are {', '.join(truth.param_names())}")
    start = starting_model(truth, names, args)
    steps, snapshots = ((args.steps, args.steps // args.save_every + 1) if traj is None
                        else (int(traj.steps[-1]), len(traj)))
    _check_memory(args, truth, lat, method, steps, snapshots, len(names) + len(fit_initial))
    if traj is None:
        from ._common import initial_from_args

        x0 = initial_from_args(args, lat)
    with open_out(args, "fit") as out:  # only now: bad input fails before anything is written
        if traj is None:
            traj = twin_observations(truth, lat, x0, dt, args.steps, args.save_every, method, out.work)
        summary = fit_to_folder(truth, start, lat, traj, names, out.work, dt=dt, method=method, source=source,
                                fit_initial=fit_initial, fields=_names(args.fields), noise=args.noise,
                                noise_seed=args.noise_seed, optimizer=args.optimizer, max_iter=args.max_iter,
                                tol=args.tol, checkpoint_every=args.checkpoint_every,
                                with_sensitivity=not args.no_sensitivity, progress=not args.quiet, dtype=args.dtype,
                                meta={"start_from": args.start}, timer=timer)
    say(f"wrote {', '.join(summary['files'])} and summary.json to {out.path}/")
    return 0


def _check_memory(args, truth, lat, method, steps: int, snapshots: int, n_unknowns: int) -> None:
    from ..integrate import stages
    from ..runs import check_memory, fit_memory

    check_memory(fit_memory(lat, args.dtype, stages(truth, method), steps, snapshots, n_unknowns,
                            args.checkpoint_every),
                 f"rsvp fit on {'x'.join(map(str, lat.shape))} cells", "use a smaller --shape or fewer snapshots")
