"""`rsvp simulate`: run a preset, save the trajectory, figures and a summary."""

from __future__ import annotations

from pathlib import Path

from ._common import Timer, add_model_args, list_presets, model_from_args, out_dir, say


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
    p.add_argument("--out", default="out/simulate", help="output folder (default out/simulate)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def default_save_every(steps: int, snapshots: int = 20) -> int:
    """The smallest divisor d of `steps` with at most `snapshots` intervals."""
    return next(d for d in range(1, steps + 1) if steps % d == 0 and steps // d <= snapshots) if steps > 0 else 1


def run(args) -> int:
    if args.list_presets:
        list_presets()
        return 0
    timer = Timer()
    model, lat, x0 = model_from_args(args)
    out = out_dir(args.out)
    save_every = args.save_every or default_save_every(args.steps)
    summary = simulate_to_folder(model, lat, x0, args.dt, args.steps, save_every, args.method, out,
                                 checkpoint=args.checkpoint, progress=not args.quiet, check=not args.no_check,
                                 animate=args.animate, fps=args.fps)
    summary["seconds_total"] = timer()
    from ..io import write_json

    write_json(out / "summary.json", summary)
    say(f"wrote {', '.join(summary['files'])} and summary.json to {out}/")
    return 0


def simulate_to_folder(model, lat, x0, dt, steps, save_every, method, out: Path, *, checkpoint=False, progress=True,
                       check=True, prefix: str = "", animate: str | None = None, fps: float = 5) -> dict:
    """Run, and write `trajectory.nc`, `fields.png`, `diagnostics.png` (and with `animate="gif"` or
    `"mp4"` `animation.gif` / `.mp4`, one frame per snapshot); return the summary dict.

    If the run becomes non-finite, the snapshots before it are written (and a summary with
    `status: "failed"`) before the error propagates.
    """
    import numpy as np

    from .. import animate as anim, io, plots
    from .._integrate import simulate
    from .._timestep import max_stable_dt
    from ..errors import NonFiniteError

    if animate is not None:
        anim.check_output(f"animation.{animate}", fps)  # a bad fps or a missing ffmpeg fails before the run
    timer = Timer()
    summary = {
        "command": "simulate", "preset": model.name, "params": model.params(), "shape": list(lat.shape),
        "spacing": lat.spacing, "dt": dt, "steps": steps, "save_every": save_every, "method": method,
        "dtype": str(x0.phi.dtype), "max_stable_dt": max_stable_dt(model, lat, x0), "status": "ok",
    }
    say(f"{prefix}simulating {model.name} on {'x'.join(map(str, lat.shape))} cells, {steps} steps of dt={dt:g} ({method})")
    traj_path = out / f"{prefix}trajectory.nc"
    try:
        traj = simulate(model, lat, x0, dt, steps, save_every=save_every, method=method, checkpoint=checkpoint,
                        progress=progress, check=check)
    except NonFiniteError as e:
        io.save_trajectory(traj_path, e.trajectory, model, lat, dt, method, {"status": "failed", "error": str(e)})
        summary.update(status="failed", error=str(e), failed_step=e.step, failed_field=e.field,
                       snapshots=len(e.trajectory), files=[traj_path.name])
        io.write_json(out / f"{prefix}summary.json", summary)
        raise
    summary["seconds_run"] = timer()
    io.save_trajectory(traj_path, traj, model, lat, dt, method)
    io.write_figure(plots.plot_fields(lat, traj.final, f"{model.name}, t = {float(traj.times[-1]):g}"), out / f"{prefix}fields.png")
    io.write_figure(plots.plot_diagnostics(traj, f"{model.name} diagnostics"), out / f"{prefix}diagnostics.png")
    files = [f"{prefix}trajectory.nc", f"{prefix}fields.png", f"{prefix}diagnostics.png"]
    if animate is not None:
        files.append(f"{prefix}animation.{animate}")
        anim.animate_trajectory(traj, lat, out / files[-1], fps=fps, title=model.name)

    diag = {k: np.asarray(v) for k, v in traj.diagnostics.items()}
    summary["snapshots"] = len(traj)
    summary["initial"] = {k: v[0] for k, v in diag.items()}
    summary["final"] = {k: v[-1] for k, v in diag.items()}
    summary["min_over_run"] = {k: diag[k].min() for k in ("min_phi", "min_S")}
    if "invariant" in diag:
        summary["invariant_relative_drift"] = float(np.max(np.abs(diag["invariant"] - diag["invariant"][0])) / abs(diag["invariant"][0]))
    summary["files"] = files
    final = summary["final"]
    say(f"{prefix}t = {float(traj.times[-1]):g}: ∫Φ = {final['phi_total']:.6g}, ∫S = {final['S_total']:.6g}, "
        f"kinetic = {final['kinetic_energy']:.4g}, min Φ = {summary['min_over_run']['min_phi']:.4g}, "
        f"min S = {summary['min_over_run']['min_S']:.4g}"
        + (f", invariant drift = {summary['invariant_relative_drift']:.2e}" if "invariant_relative_drift" in summary else "")
        + f" ({summary['seconds_run']:.1f} s)")
    return summary
