"""`rsvp simulate`: run a preset, save the trajectory, figures and a summary."""

from __future__ import annotations

from ..errors import ConfigError
from ._common import add_model_args, add_output_args, initial_from_args, list_presets, model_and_lattice, open_out, say


def register(sub) -> None:
    p = sub.add_parser("simulate", help="run a simulation and save its trajectory and figures",
                       description="Run a preset on a periodic lattice; write trajectory.nc, fields.png, "
                                   "diagnostics.png (and with --animate animation.gif) and summary.json into --out.")
    add_model_args(p)
    p.add_argument("--save-every", type=int, default=None, help="steps between snapshots (default: about 20 snapshots)")
    p.add_argument("--checkpoint", action="store_true", help="jax.checkpoint each snapshot interval (for gradients)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the time-step check (a run that turns NaN still stops, keeping its snapshots)")
    p.add_argument("--animate", nargs="?", const="gif", default=None, choices=("gif", "mp4"),
                   help="also write animation.gif (or animation.mp4: needs imageio-ffmpeg) of the fields over the run")
    p.add_argument("--fps", type=float, default=5, help="frames per second of --animate (default 5)")
    add_output_args(p, "out/simulate")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def default_save_every(steps: int, snapshots: int = 20) -> int:
    """The smallest divisor d of `steps` with at most `snapshots` intervals."""
    return next(d for d in range(1, steps + 1) if steps % d == 0 and steps // d <= snapshots) if steps > 0 else 1


def run(args) -> int:
    from ..runs import simulate_to_folder

    if args.list_presets:
        list_presets()
        return 0
    from ..integrate import stages
    from ..runs import check_memory, simulate_memory

    if args.save_every is not None and args.save_every < 1:
        raise ConfigError(f"--save-every {args.save_every} is invalid; give a number of steps >= 1 "
                          "(or leave it out for about 20 snapshots)")
    model, lat = model_and_lattice(args)
    save_every = args.save_every or default_save_every(args.steps)
    check_memory(simulate_memory(lat, args.dtype, stages(model, args.method), args.steps // save_every + 1),
                 f"rsvp simulate on {'x'.join(map(str, lat.shape))} cells",
                 "use a smaller --shape or fewer snapshots (a larger --save-every)")
    x0 = initial_from_args(args, lat)
    with open_out(args, "simulate") as out:
        summary = simulate_to_folder(model, lat, x0, args.dt, args.steps, save_every, args.method, out.work,
                                     checkpoint=args.checkpoint, progress=not args.quiet, check=not args.no_check,
                                     animate=args.animate, fps=args.fps, meta={"init": args.init, "seed": args.seed})
    say(f"wrote {', '.join(summary['files'])} and summary.json to {out.path}/")
    return 0
