"""`rsvp jacobian`: every tile's exact Jacobian, its spectrum and dominant mode (the TARTAN view).

```
rsvp jacobian --preset rsvp --shape 64,64 --tile 8 --steps 1 --out DIR [--halo] [--topk 6] [--evolve 200]
```

Writes into `DIR`: `rank_map.png`, `sigma_map.png`, `label_map.png`, `tile_spectra.png`,
`lattice_topk.png` (with `--topk > 0`), `evolution.png` (with `--evolve`), `jacobian.nc`
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


def _stats(a) -> dict:
    a = np.asarray(a, dtype=float)
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}


def run(args) -> int:
    if args.list_presets:
        list_presets()
        return 0
    timer = Timer()
    _check_args(args)
    model, lat, x0 = model_from_args(args)
    import jax

    from .. import io, plots_jacobian as pj
    from .._integrate import simulate, stages
    from .._timestep import check_timestep, max_stable_dt
    from ..jacobian import (LABELS, analyze_tiles, label_shares_table, lattice_top_singular, tile_dataset, tile_grid,
                            halo_radius, track)

    grid = tile_grid(lat, args.tile)  # a tile that does not divide the shape fails here, before any work
    if not args.no_check:
        check_timestep(model, lat, x0, args.dt)
    r = halo_radius(model, args.steps, args.method)
    if args.halo and any(args.tile + 2 * r > N for N in lat.shape):
        raise ConfigError(f"--halo needs tile + 2·halo = {args.tile} + 2·{r} <= every lattice size {lat.shape}; "
                          "use a larger --shape, fewer --steps or no --halo")
    out = out_dir(args.out)
    n_tiles = int(np.prod(grid))
    size = lat.channels * args.tile**lat.ndim
    say(f"tile Jacobians of {model.name} on {'x'.join(map(str, lat.shape))} cells: {n_tiles} tiles of "
        f"{args.tile}^{lat.ndim} cells, blocks {size} x {lat.channels * (args.tile + 2 * r * args.halo) ** lat.ndim}, "
        f"{args.steps} step(s) of dt={args.dt:g} ({args.method}, {stages(model, args.method)} stage(s)), halo radius {r}")

    t = Timer()
    a0 = analyze_tiles(model, lat, x0, args.dt, args.tile, args.steps, args.halo, args.method, k=args.modes,
                       keep_jacobians=args.save_jacobians, algorithm=args.algorithm)
    seconds = {"tiles": t()}
    counts = a0.label_counts()
    say(f"  {n_tiles} tile Jacobians and SVDs in {seconds['tiles']:.1f} s: σ₁ {_stats(a0.sigma_max)['min']:.4g}.."
        f"{_stats(a0.sigma_max)['max']:.4g}, effective rank {_stats(a0.effective_rank)['mean']:.1f} (mean); "
        + ", ".join(f"{k}: {v}" for k, v in counts.items() if v))

    top = None
    if args.topk:
        t = Timer()
        top = lattice_top_singular(model, lat, x0, args.dt, args.steps, args.method, k=min(args.topk, lat.channels * lat.size),
                                   krylov=args.krylov)
        seconds["lattice_topk"] = t()
        say(f"  whole lattice top-{len(top.sigma)} σ (Lanczos, {top.matvecs} products): "
            + ", ".join(f"{s:.6g}" for s in np.asarray(top.sigma))
            + f"; max residual {float(np.max(np.asarray(top.residual))):.1e} ({seconds['lattice_topk']:.1f} s)")

    evolution = None
    if args.evolve:
        t = Timer()
        every = args.evolve // (args.snapshots - 1)
        traj = simulate(model, lat, x0, args.dt, args.evolve, save_every=every, method=args.method, diagnostics=False,
                        check=not args.no_check, progress=not args.quiet)
        analyses = [a0]
        for i in range(1, len(traj)):
            x = jax.tree.map(lambda a: a[i], traj.states)  # noqa: B023
            analyses.append(analyze_tiles(model, lat, x, args.dt, args.tile, args.steps, args.halo, args.method,
                                          k=args.modes, algorithm=args.algorithm))
        evolution = track(analyses, np.asarray(traj.times))
        seconds["evolution"] = t()
        say(f"  followed the top {args.modes} modes of every tile over {len(traj)} snapshots "
            f"(t = 0..{float(traj.times[-1]):g}): mean overlap of the top mode between snapshots "
            + ", ".join(f"{v:.3f}" for v in evolution.overlap[..., 0].reshape(len(traj) - 1, -1).mean(1))
            + f" ({seconds['evolution']:.1f} s)")

    # All the work is done: write the files (each atomically).
    figures = {
        "rank_map.png": pj.plot_tile_map(a0.effective_rank, "effective rank of each tile Jacobian", lat, args.tile,
                                         label="exp(entropy of σ/Σσ)"),
        "sigma_map.png": pj.plot_tile_map(a0.sigma_max, "σ₁ of each tile Jacobian", lat, args.tile, cmap="magma",
                                          label="σ₁"),
        "label_map.png": pj.plot_label_map(a0.labels, lat),
        "tile_spectra.png": pj.plot_tile_spectra(a0),
    }
    if top is not None:
        figures["lattice_topk.png"] = pj.plot_lattice_topk(top)
    if evolution is not None:
        figures["evolution.png"] = pj.plot_tile_evolution(evolution)
    attrs = {"dt": float(args.dt), "steps": int(args.steps), "method": args.method, "algorithm": args.algorithm}
    ds = tile_dataset(a0, lat, model, attrs, top, evolution)
    if args.save_jacobians:
        ds["jacobian"] = ((*[d for d in ds["label"].dims], "row", "column"), np.asarray(a0.jacobians))
    for name, fig in figures.items():
        io.write_figure(fig, out / name)
    io.save_dataset(ds, out / "jacobian.nc")

    summary = {
        "command": "jacobian", "preset": model.name, "params": model.params(), "shape": list(lat.shape),
        "spacing": lat.spacing, "dt": args.dt, "steps": args.steps, "method": args.method, "dtype": args.dtype,
        "init": args.init, "seed": args.seed, "tile": args.tile, "halo": bool(args.halo), "halo_radius": r,
        "algorithm": args.algorithm, "tile_grid": list(grid), "tiles": n_tiles, "block_shape": [size, lat.channels * (args.tile + 2 * r * args.halo) ** lat.ndim],
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
    summary["files"] = [*figures, "jacobian.nc"]
    summary["seconds_total"] = timer()
    io.write_json(out / "summary.json", summary)
    say(f"wrote {', '.join(summary['files'])} and summary.json to {out}/ ({summary['seconds_total']:.1f} s)")
    return 0
