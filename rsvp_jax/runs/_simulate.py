"""`simulate_to_folder`: a run, its trajectory, figures and summary, as `rsvp simulate` writes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import io, plots
from ..errors import NonFiniteError
from ..integrate import max_stable_dt, simulate
from ..plots import animate as anim
from ._summary import Timer, say, summary_header


def simulate_to_folder(model, lat, x0, dt, steps, save_every, method, out, *, checkpoint=False, progress=True,
                       check=True, prefix: str = "", animate: str | None = None, fps: float = 5,
                       meta: dict | None = None) -> dict:
    """Run, and write into the folder `out`: `trajectory.nc`, `fields.png`, `diagnostics.png` (with
    `animate="gif"` or `"mp4"` also `animation.gif` / `.mp4`, one frame per snapshot) and
    `summary.json`; return the summary. `prefix` is prepended to every file name; `meta` (e.g. the
    initial condition's name and seed) is merged into the summary.

    If the run becomes non-finite, the snapshots before it are written (and a summary with
    `status: "failed"`) before the `NonFiniteError` propagates.
    """
    out = Path(out)
    if animate is not None:
        anim.check_output(f"animation.{animate}", fps)  # a bad fps or a missing ffmpeg fails before the run
    timer = Timer()
    summary = summary_header("simulate", model, lat, dt=dt, steps=steps, method=method, dtype=x0.phi.dtype,
                             save_every=save_every, **(meta or {}), max_stable_dt=max_stable_dt(model, lat, x0),
                             status="ok")
    say(f"{prefix}simulating {model.name} on {'x'.join(map(str, lat.shape))} cells, {steps} steps of dt={dt:g} ({method})")
    traj_path = out / f"{prefix}trajectory.nc"
    try:
        traj = simulate(model, lat, x0, dt, steps, save_every=save_every, method=method, checkpoint=checkpoint,
                        progress=progress, check=check)
    except NonFiniteError as e:
        io.save_trajectory(traj_path, e.trajectory, model, lat, dt, method, {**(meta or {}), "status": "failed", "error": str(e)})
        summary.update(status="failed", error=str(e), failed_step=e.step, failed_field=e.field,
                       snapshots=len(e.trajectory), files=[traj_path.name], seconds_total=timer())
        io.write_json(out / f"{prefix}summary.json", summary)
        raise
    summary["seconds_run"] = timer()
    io.save_trajectory(traj_path, traj, model, lat, dt, method, meta)
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
    summary["seconds_total"] = timer()
    io.write_json(out / f"{prefix}summary.json", summary)
    return summary


__all__ = ["simulate_to_folder"]
