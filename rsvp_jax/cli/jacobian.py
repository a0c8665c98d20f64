"""`rsvp jacobian`: every tile's exact Jacobian, its spectrum and dominant mode (the TARTAN view).

```
rsvp jacobian --preset rsvp --shape 64,64 --tile 8 --steps 1 --out DIR [--halo] [--topk 6] [--evolve 200]
```

Writes into `DIR`: `rank_map.png`, `sigma_map.png`, `label_map.png`, `tile_spectra.png`,
`lattice_topk.png` (with `--topk > 0`), `evolution.png` (with `--evolve`), `labels.gif` (the
tile label map over time, with `--evolve N --animate`), `jacobian.nc`
(per-tile spectra, summaries, make-up, labels, top directions; NetCDF) and `summary.json`.
Every file is written atomically after all the work is done, so a failure leaves none.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._common import Timer, add_model_args, list_presets, model_from_args, out_dir, say


def register(sub) -> None:
    p = sub.add_parser("jacobian", help="tile Jacobians, their spectra and dominant modes (the TARTAN view)",
                       description="Compute the exact Jacobian of every tile of the k-step map, its singular "
                                   "spectrum, summaries and dominant mode's make-up and label; write maps, "
                                   "spectra, jacobian.nc and summary.json into --out.")
    add_model_args(p, steps=1, dt=0.05, shape="64,64")
    g = p.add_argument_group("tiles")
    g.add_argument("--tile", type=int, default=8, help="tile edge b in cells; it must divide the shape (default 8)")
    g.add_argument("--halo", action="store_true", help="also take the columns of each tile's halo")
    g.add_argument("--modes", type=int, default=3, help="top singular vectors kept (and tracked) per tile (default 3)")
    g.add_argument("--algorithm", default="coloured", choices=("coloured", "padded"),
                   help="coloured lattice JVPs (default) or per-tile jacfwd on padded tiles; both exact")
    g.add_argument("--topk", type=int, default=6, help="whole-lattice top-k singular values, matrix-free (0: skip; default 6)")
    g.add_argument("--krylov", type=int, default=None, help="Lanczos steps for --topk (default 4k + 16)")
    g.add_argument("--evolve", type=int, default=0, metavar="STEPS",
                   help="also run STEPS steps and follow the tile modes over --snapshots snapshots (default 0: off)")
    g.add_argument("--snapshots", type=int, default=4, help="snapshots for --evolve, start included (default 4)")
    g.add_argument("--animate", nargs="?", const="gif", default=None, choices=("gif", "mp4"),
                   help="with --evolve: also write labels.gif (or labels.mp4) of the tile label map over time")
    g.add_argument("--save-jacobians", action="store_true", help="also store every tile Jacobian in jacobian.nc")
    p.add_argument("--out", default="out/jacobian", help="output folder (default out/jacobian)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the time-step stability check (the Jacobian of an unstable step is still exact)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _check_args(args) -> None:
    if args.steps < 1:
        raise ConfigError(f"--steps {args.steps} is invalid; the k-step map needs k >= 1")
    if args.tile < 1:
        raise ConfigError(f"--tile {args.tile} is invalid; give a tile edge >= 1 that divides the shape")
    if args.modes < 1:
        raise ConfigError(f"--modes {args.modes} is invalid; keep at least 1 singular vector per tile")
    if args.topk < 0 or (args.krylov is not None and args.krylov < max(args.topk, 1)):
        raise ConfigError(f"--topk {args.topk} / --krylov {args.krylov} are invalid; need topk >= 0 and krylov >= topk")
    if args.evolve < 0 or (args.evolve and not 2 <= args.snapshots <= args.evolve + 1):
        raise ConfigError(f"--evolve {args.evolve} / --snapshots {args.snapshots} are invalid; "
                          "need evolve >= 0 and 2 <= snapshots <= evolve + 1")
    if args.evolve and args.evolve % (args.snapshots - 1):
        raise ConfigError(f"--evolve {args.evolve} must be a multiple of --snapshots − 1 = {args.snapshots - 1}")
    if args.animate and not args.evolve:
        raise ConfigError("--animate animates the label map over time; it needs --evolve STEPS > 0")
    if args.animate:
        from ..animate import check_output

        check_output(f"labels.{args.animate}", 2)  # an .mp4 without imageio-ffmpeg fails before any work


def _stats(a) -> dict:
    a = np.asarray(a, dtype=float)
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}


def run(args) -> int:
    if args.list_presets:
        list_presets()
        return 0
    _check_args(args)
    model, lat, x0 = model_from_args(args)
    jacobian_to_folder(model, lat, x0, args.out, dt=args.dt, tile=args.tile, steps=args.steps, halo=args.halo,
                       method=args.method, modes=args.modes, algorithm=args.algorithm, topk=args.topk,
                       krylov=args.krylov, evolve=args.evolve, snapshots=args.snapshots, animate=args.animate,
                       save_jacobians=args.save_jacobians, check=not args.no_check, progress=not args.quiet,
                       meta={"init": args.init, "seed": args.seed})
    return 0


def jacobian_to_folder(model, lat, x0, out, *, dt: float = 0.05, tile: int = 8, steps: int = 1, halo: bool = False,
                       method: str = "ssprk3", modes: int = 3, algorithm: str = "coloured", topk: int = 6,
                       krylov: int | None = None, evolve: int = 0, snapshots: int = 4, trajectory=None,
                       animate: str | None = None, save_jacobians: bool = False, check: bool = True,
                       progress: bool = True, meta: dict | None = None) -> dict:
    """Analyse every tile of the `steps`-step map at `x0`, write every file of the module
    docstring and `summary.json` into the folder `out`; return the summary dict.

    The keywords are the flags of `rsvp jacobian`. With `evolve` > 0 the run of `evolve` steps
    from `x0` is simulated and its `snapshots` analysed; alternatively `trajectory` (a
    `Trajectory` whose first snapshot is `x0`, e.g. read back from `rsvp simulate`) gives the
    snapshots to analyse. `meta` is merged into the summary. Bad input raises a `ConfigError`
    before any work; the files are written (each atomically) only after all of it.
    """
    import jax

    from .. import io, plots_jacobian as pj
    from .._integrate import simulate, stages
    from .._timestep import check_timestep, max_stable_dt
    from ..jacobian import (LABELS, analyze_tiles, label_shares_table, lattice_top_singular, tile_dataset, tile_grid,
                            halo_radius, track)

    timer = Timer()
    grid = tile_grid(lat, tile)  # a tile that does not divide the shape fails here, before any work
    if check:
        check_timestep(model, lat, x0, dt)
    r = halo_radius(model, steps, method)
    if halo and any(tile + 2 * r > N for N in lat.shape):
        raise ConfigError(f"--halo needs tile + 2·halo = {tile} + 2·{r} <= every lattice size {lat.shape}; "
                          "use a larger --shape, fewer --steps or no --halo")
    out = out_dir(out)
    n_tiles = int(np.prod(grid))
    size = lat.channels * tile**lat.ndim
    say(f"tile Jacobians of {model.name} on {'x'.join(map(str, lat.shape))} cells: {n_tiles} tiles of "
        f"{tile}^{lat.ndim} cells, blocks {size} x {lat.channels * (tile + 2 * r * halo) ** lat.ndim}, "
        f"{steps} step(s) of dt={dt:g} ({method}, {stages(model, method)} stage(s)), halo radius {r}")

    t = Timer()
    a0 = analyze_tiles(model, lat, x0, dt, tile, steps, halo, method, k=modes, keep_jacobians=save_jacobians,
                       algorithm=algorithm)
    seconds = {"tiles": t()}
    counts = a0.label_counts()
    say(f"  {n_tiles} tile Jacobians and SVDs in {seconds['tiles']:.1f} s: σ₁ {_stats(a0.sigma_max)['min']:.4g}.."
        f"{_stats(a0.sigma_max)['max']:.4g}, effective rank {_stats(a0.effective_rank)['mean']:.1f} (mean); "
        + ", ".join(f"{k}: {v}" for k, v in counts.items() if v))

    top = None
    if topk:
        t = Timer()
        top = lattice_top_singular(model, lat, x0, dt, steps, method, k=min(topk, lat.channels * lat.size),
                                   krylov=krylov)
        seconds["lattice_topk"] = t()
        say(f"  whole lattice top-{len(top.sigma)} σ (Lanczos, {top.matvecs} products): "
            + ", ".join(f"{s:.6g}" for s in np.asarray(top.sigma))
            + f"; max residual {float(np.max(np.asarray(top.residual))):.1e} ({seconds['lattice_topk']:.1f} s)")

    evolution = None
    if evolve and trajectory is None:
        trajectory = simulate(model, lat, x0, dt, evolve, save_every=evolve // (snapshots - 1), method=method,
                              diagnostics=False, check=check, progress=progress)
    if trajectory is not None:
        t = Timer()
        analyses = [a0]
        for i in range(1, len(trajectory)):
            x = jax.tree.map(lambda a: a[i], trajectory.states)  # noqa: B023
            analyses.append(analyze_tiles(model, lat, x, dt, tile, steps, halo, method, k=modes, algorithm=algorithm))
        evolution = track(analyses, np.asarray(trajectory.times))
        seconds["evolution"] = t()
        say(f"  followed the top {modes} modes of every tile over {len(trajectory)} snapshots "
            f"(t = {float(trajectory.times[0]):g}..{float(trajectory.times[-1]):g}): mean overlap of the top mode "
            "between snapshots " + ", ".join(f"{v:.3f}" for v in evolution.overlap[..., 0].reshape(len(trajectory) - 1, -1).mean(1))
            + f" ({seconds['evolution']:.1f} s)")

    # All the work is done: write the files (each atomically).
    figures = {
        "rank_map.png": pj.plot_tile_map(a0.effective_rank, "effective rank of each tile Jacobian", lat, tile,
                                         label="exp(entropy of σ/Σσ)"),
        "sigma_map.png": pj.plot_tile_map(a0.sigma_max, "σ₁ of each tile Jacobian", lat, tile, cmap="magma",
                                          label="σ₁"),
        "label_map.png": pj.plot_label_map(a0.labels, lat),
        "tile_spectra.png": pj.plot_tile_spectra(a0),
    }
    if top is not None:
        figures["lattice_topk.png"] = pj.plot_lattice_topk(top)
    if evolution is not None:
        figures["evolution.png"] = pj.plot_tile_evolution(evolution)
    attrs = {"dt": float(dt), "steps": int(steps), "method": method, "algorithm": algorithm}
    ds = tile_dataset(a0, lat, model, attrs, top, evolution)
    if save_jacobians:
        ds["jacobian"] = ((*[d for d in ds["label"].dims], "row", "column"), np.asarray(a0.jacobians))
    animations = {}
    if evolution is not None and animate:
        from ..animate import label_frames

        animations[f"labels.{animate}"] = label_frames(evolution, lat)
    for name, fig in figures.items():
        io.write_figure(fig, out / name)
    io.save_dataset(ds, out / "jacobian.nc")
    for name, frames in animations.items():
        from ..animate import write_frames

        write_frames(frames, out / name, fps=2)

    summary = {
        "command": "jacobian", "preset": model.name, "params": model.params(), "shape": list(lat.shape),
        "spacing": lat.spacing, "dt": dt, "steps": steps, "method": method, "dtype": str(x0.phi.dtype),
        **(meta or {}), "tile": tile, "halo": bool(halo), "halo_radius": r,
        "algorithm": algorithm, "tile_grid": list(grid), "tiles": n_tiles,
        "block_shape": [size, lat.channels * (tile + 2 * r * halo) ** lat.ndim],
        "max_stable_dt": max_stable_dt(model, lat, x0),
        "sigma_max": _stats(a0.sigma_max), "effective_rank": _stats(a0.effective_rank),
        "stable_rank": _stats(a0.summary["stable_rank"]), "participation_ratio": _stats(a0.summary["participation_ratio"]),
        "k90": _stats(a0.summary["k90"]), "k99": _stats(a0.summary["k99"]),
        "labels": list(LABELS), "label_counts": counts, "mean_shares": label_shares_table(a0),
        "seconds": seconds,
    }
    if top is not None:
        summary["lattice_topk"] = {"sigma": np.asarray(top.sigma), "residual": np.asarray(top.residual),
                                   "matvecs": top.matvecs, "algorithm": top.algorithm}
    if evolution is not None:
        summary["evolution"] = {
            "times": evolution.times,
            "label_counts": [{name: int(np.sum(evolution.labels[i] == j)) for j, name in enumerate(LABELS)}
                             for i in range(len(evolution.times))],
            "mean_top_overlap": evolution.overlap[..., 0].reshape(len(evolution.times) - 1, -1).mean(1),
            "mean_sigma_max": evolution.sigma_max.reshape(len(evolution.times), -1).mean(1),
        }
    summary["files"] = [*figures, "jacobian.nc", *animations]
    summary["seconds_total"] = timer()
    io.write_json(out / "summary.json", summary)
    say(f"wrote {', '.join(summary['files'])} and summary.json to {out}/ ({summary['seconds_total']:.1f} s)")
    return summary
