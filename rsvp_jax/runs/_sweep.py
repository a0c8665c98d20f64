"""`sweep_report`: the figures and summary `rsvp sweep` writes beside `sweep.nc` (`rj.sweep_to_folder`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import io, plots
from ..sweeps import STATUS, point_label, sweep_dataset
from ._summary import say, summary_header


def sweep_report(out, result, info: dict, model, lat, *, dt, steps, save_every, method, dtype, grid, shown,
                 seconds: float, meta: dict | None = None, timer=None) -> dict:
    """Write `sweep.png` (maps of the `shown` summaries over the grid), `sweep_<diagnostic>.png`
    (up to two diagnostics over time) and `summary.json` into `out`, print the outcome; return
    the summary. `result`, `info` are what `sweep_to_folder` returned; `seconds` its wall time;
    `timer` (a `Timer` started with the command) gives `seconds_total`."""
    out = Path(out)
    ds = sweep_dataset(result, lat)
    P = len(result)
    files = ["sweep.nc", "sweep.png"]
    title = f"{model.name} sweep, {'x'.join(map(str, lat.shape))}, t = {float(result.times[-1]):g}"
    io.write_figure(plots.plot_sweep(ds, shown, title), out / "sweep.png")
    for name in [p for p in shown if p in result.diagnostics][:2]:
        io.write_figure(plots.plot_sweep_diagnostic(ds, name), out / f"sweep_{name}.png")
        files.append(f"sweep_{name}.png")
    failed = np.flatnonzero(result.status != 0)
    summary = summary_header(
        "sweep", model, lat, dt=dt, steps=steps, method=method, dtype=dtype, save_every=save_every, **(meta or {}),
        swept=grid, grid_shape=list(result.grid_shape or (P,)), ok=int(P - len(failed)), failed=int(len(failed)),
        failed_points=[{"index": int(i), "params": {k: v[i] for k, v in result.values.items()},
                        "status": STATUS[result.status[i]], "reason": str(result.reason[i])} for i in failed[:100]],
        **info, seconds_run=seconds,
        points_per_second=info["points_run"] / seconds if info["points_run"] and seconds > 0 else None,
        summaries={k: _range(v, result) for k, v in {**result.summaries,
                   **{f"final_{k}": d[:, -1] for k, d in result.diagnostics.items()}}.items()},
        files=files)
    lines = [f"{summary['ok']} of {P} points ok, {len(failed)} failed"]
    if info["points_done_before"]:
        lines.append(f"resumed: {info['points_done_before']} point(s) were already done, {info['points_run']} run now")
    for i in failed[:5]:
        lines.append(f"  failed: {point_label(result.values, i)}: {result.reason[i]}")
    say("\n".join(lines) + f" ({seconds:.1f} s)")
    if timer is not None:
        summary["seconds_total"] = timer()
    io.write_json(out / "summary.json", summary)
    return summary


def _range(v, result) -> dict:
    """Where a summary is smallest and largest over the points."""
    if not np.isfinite(v).any():
        return {"min": None, "max": None}
    i, j = np.nanargmin(v), np.nanargmax(v)
    at = lambda k: {n: vals[k] for n, vals in result.values.items()}  # noqa: E731
    return {"min": v[i], "max": v[j], "min_at": at(i), "max_at": at(j)}


__all__ = ["sweep_report"]
