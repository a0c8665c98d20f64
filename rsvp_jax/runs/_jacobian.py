"""`jacobian_to_folder`: every tile's Jacobian, its spectrum and dominant mode, as `rsvp jacobian` writes them.

Writes into the folder: `rank_map.png`, `sigma_map.png`, `label_map.png`, `tile_spectra.png`,
`lattice_topk.png` (with `topk > 0`), `evolution.png` (over a run), `labels.gif` (the tile label
map over time, with `animate`), `jacobian.nc` (per-tile spectra, summaries, make-up, labels, top
directions; NetCDF) and `summary.json`. Every file is written atomically after all the work is
done, so a failure leaves none; except that a run (`evolve`) which turns non-finite keeps the
snapshots before it (`trajectory.nc`) and their analysis, with `status: "failed"` in the summary,
before its `NonFiniteError` propagates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import io, plots
from ..errors import NonFiniteError
from ..integrate import check_timestep, max_stable_dt, simulate, stages
from ..jacobian import (LABELS, analyze_trajectory, check_halo, halo_radius, label_shares_table,
                        lattice_top_singular, tile_dataset, tile_grid)
from ..plots import animate as anim
from ._horizons import horizon_analysis
from ._summary import Timer, say, stats, summary_header


def jacobian_to_folder(model, lat, x0, out, *, dt: float = 0.05, tile: int = 8, steps: int = 1, halo: bool = False,
                       method: str = "ssprk3", modes: int = 3, algorithm: str = "coloured", topk: int = 6,
                       krylov: int | None = None, evolve: int = 0, snapshots: int = 4, trajectory=None,
                       animate: str | None = None, save_jacobians: bool = False, check: bool = True,
                       progress: bool = True, meta: dict | None = None, horizons=None, horizon_k: int = 16,
                       probes: int = 8, lanczos_steps: int = 24, depth: int | None = None, max_horizon_steps: int | None = None,
                       generator: bool = False, lyapunov: int = 0) -> dict:
    """Analyse every tile of the `steps`-step map at `x0`, write every file of the module
    docstring and `summary.json` into the folder `out`; return the summary.

    The keywords are the flags of `rsvp jacobian`. With `evolve` > 0 the run of `evolve` steps
    from `x0` is simulated and its `snapshots` analysed; alternatively `trajectory` (a
    `Trajectory` whose first snapshot is `x0`, e.g. read back from `rsvp simulate`) gives the
    snapshots to analyse. `meta` is merged into the summary. `horizons` ("auto", times, or None
    for none) adds the dynamics over horizons (`runs.horizon_analysis`: `horizon_k` triplets and
    the SLQ shape from `probes` × `lanczos_steps` per horizon, block Krylov `depth`, an automatic
    ladder capped at `max_horizon_steps`, the `generator` blocks and `lyapunov` exponents). Bad input raises a `ConfigError` before any work; the files are
    written (each atomically) only after all of it.
    """
    out = Path(out)
    timer = Timer()
    grid = tile_grid(lat, tile)  # a tile that does not divide the shape fails here, before any work
    if check:
        check_timestep(model, lat, x0, dt)
    r = halo_radius(model, steps, method)
    if halo:
        check_halo(lat, tile, r, "--halo")
    n_tiles = int(np.prod(grid))
    size = lat.channels * tile**lat.ndim
    say(f"tile Jacobians of {model.name} on {'x'.join(map(str, lat.shape))} cells: {n_tiles} tiles of "
        f"{tile}^{lat.ndim} cells, blocks {size} x {lat.channels * (tile + 2 * r * halo) ** lat.ndim}, "
        f"{steps} step(s) of dt={dt:g} ({method}, {stages(model, method)} stage(s)), halo radius {r}")

    failure = None
    if evolve and trajectory is None:
        try:
            trajectory = simulate(model, lat, x0, dt, evolve, save_every=evolve // (snapshots - 1), method=method,
                                  diagnostics=False, check=check, progress=progress)
        except NonFiniteError as e:  # keep what the message promises: the snapshots before it, analysed
            failure, trajectory = e, e.trajectory
            say(f"  {e}; analysing the {len(trajectory)} snapshot(s) before it")
    t = Timer()
    states = trajectory.states if trajectory is not None else _one(x0)
    times = np.asarray(trajectory.times) if trajectory is not None else None
    analyses, evolution = analyze_trajectory(model, lat, states, dt, tile, steps, halo, method, k=modes, times=times,
                                             keep_jacobians=save_jacobians, algorithm=algorithm)
    a0 = analyses[0]
    seconds = {"tiles": t()}
    counts = a0.label_counts()
    say(f"  {n_tiles * len(analyses)} tile Jacobians and SVDs in {seconds['tiles']:.1f} s: σ₁ "
        f"{stats(a0.sigma_max)['min']:.4g}..{stats(a0.sigma_max)['max']:.4g}, effective rank "
        f"{stats(a0.effective_rank)['mean']:.1f} (mean, t = 0); " + ", ".join(f"{k}: {v}" for k, v in counts.items() if v))
    if trajectory is None or len(trajectory) < 2:
        evolution = None
    else:
        say(f"  followed the top {modes} modes of every tile over {len(trajectory)} snapshots "
            f"(t = {float(trajectory.times[0]):g}..{float(trajectory.times[-1]):g}): mean overlap of the top mode "
            "between snapshots " + ", ".join(f"{v:.3f}" for v in _mean_top_overlap(evolution)))

    top = None
    if topk:
        t = Timer()
        top = lattice_top_singular(model, lat, x0, dt, steps, method, k=min(topk, lat.channels * lat.size),
                                   krylov=krylov)
        seconds["lattice_topk"] = t()
        say(f"  whole lattice top-{len(top.sigma)} σ (Lanczos, {top.matvecs} products): "
            + ", ".join(f"{s:.6g}" for s in np.asarray(top.sigma))
            + f"; max residual {float(np.max(np.asarray(top.residual))):.1e} ({seconds['lattice_topk']:.1f} s)")

    dynamics = None
    if horizons is not None or generator or lyapunov:
        t = Timer()
        dynamics = horizon_analysis(model, lat, x0, dt, tile, method, "auto" if horizons is None else horizons,
                                    k=horizon_k, probes=probes, lanczos_steps=lanczos_steps, depth=depth,
                                    max_steps=max_horizon_steps, generator=generator, lyapunov=lyapunov)
        seconds["horizons"] = t()

    # All the work is done: write the files (each atomically).
    figures = {
        "rank_map.png": plots.plot_tile_map(a0.effective_rank, "effective rank of each tile Jacobian", lat, tile,
                                            label="exp(entropy of σ/Σσ)"),
        "sigma_map.png": plots.plot_tile_map(a0.sigma_max, "σ₁ of each tile Jacobian", lat, tile, cmap="magma",
                                             label="σ₁"),
        "label_map.png": plots.plot_label_map(a0.labels, lat),
        "tile_spectra.png": plots.plot_tile_spectra(a0),
    }
    if top is not None:
        figures["lattice_topk.png"] = plots.plot_lattice_topk(top)
    if evolution is not None:
        figures["evolution.png"] = plots.plot_tile_evolution(evolution)
    if dynamics is not None:
        figures.update(dynamics.figures)
    attrs = {"dt": float(dt), "steps": int(steps), "method": method, "algorithm": algorithm, **(meta or {})}
    ds = tile_dataset(a0, lat, model, attrs, top, evolution)
    if dynamics is not None:
        ds = ds.merge(dynamics.dataset)
    if save_jacobians:
        ds["jacobian"] = ((*ds["label"].dims, "row", "column"), np.asarray(a0.jacobians))
    animations = {f"labels.{animate}": anim.label_frames(evolution, lat)} if evolution is not None and animate else {}
    for name, fig in figures.items():
        io.write_figure(fig, out / name)
    io.save_dataset(ds, out / "jacobian.nc")
    for name, frames in animations.items():
        anim.write_frames(frames, out / name, fps=2)
    kept = []
    if failure is not None:
        io.save_trajectory(out / "trajectory.nc", trajectory, model, lat, dt, method,
                           {**(meta or {}), "status": "failed", "error": str(failure)})
        kept = ["trajectory.nc"]

    summary = summary_header(
        "jacobian", model, lat, dt=dt, steps=steps, method=method, dtype=x0.phi.dtype, **(meta or {}),
        tile=tile, halo=bool(halo), halo_radius=r, algorithm=algorithm, tile_grid=list(grid), tiles=n_tiles,
        block_shape=[size, lat.channels * (tile + 2 * r * halo) ** lat.ndim], max_stable_dt=max_stable_dt(model, lat, x0),
        sigma_max=stats(a0.sigma_max), effective_rank=stats(a0.effective_rank),
        stable_rank=stats(a0.summary["stable_rank"]), participation_ratio=stats(a0.summary["participation_ratio"]),
        k90=stats(a0.summary["k90"]), k99=stats(a0.summary["k99"]), labels=list(LABELS), label_counts=counts,
        mean_shares=label_shares_table(a0), seconds=seconds)
    if top is not None:
        summary["lattice_topk"] = {"sigma": np.asarray(top.sigma), "residual": np.asarray(top.residual),
                                   "matvecs": top.matvecs, "algorithm": top.algorithm}
    if evolution is not None:
        summary["evolution"] = {
            "times": evolution.times,
            "label_counts": [{name: int(np.sum(evolution.labels[i] == j)) for j, name in enumerate(LABELS)}
                             for i in range(len(evolution.times))],
            "mean_top_overlap": _mean_top_overlap(evolution),
            "mean_sigma_max": evolution.sigma_max.reshape(len(evolution.times), -1).mean(1),
        }
    if dynamics is not None:
        summary.update(dynamics.summary)
    summary["files"] = [*figures, "jacobian.nc", *animations, *kept]
    summary["status"] = "ok" if failure is None else "failed"
    if failure is not None:
        summary.update(error=str(failure), failed_step=failure.step, failed_field=failure.field,
                       snapshots=len(trajectory))
    summary["seconds_total"] = timer()
    io.write_json(out / "summary.json", summary)
    if failure is not None:
        raise failure
    return summary


def _one(x):
    """A single state as a one-snapshot stack."""
    import jax

    return jax.tree.map(lambda a: a[None], x)


def _mean_top_overlap(evolution) -> np.ndarray:
    T = len(evolution.times)
    return evolution.overlap[..., 0].reshape(T - 1, -1).mean(1)


__all__ = ["jacobian_to_folder"]
