"""`rsvp jacobian`: every tile's exact Jacobian, its spectrum and dominant mode (the TARTAN view).

The work is `rsvp_jax.runs.jacobian_to_folder`; this module parses the flags.

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

from ..errors import ConfigError
from ._common import add_model_args, add_output_args, initial_from_args, list_presets, model_and_lattice, open_out, say


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
    h = p.add_argument_group("dynamics over horizons")
    h.add_argument("--horizon", default="auto", metavar="auto|T1,T2,...|none",
                   help="the propagator M(T) = dx(T)/dx(0) at these horizons (model time); auto: a ladder from "
                        "the model's time scales (tile crossing, damping, diffusion); none: off (default auto)")
    h.add_argument("--horizon-k", type=int, default=16, help="top singular triplets of M(T) per horizon (default 16)")
    h.add_argument("--probes", type=int, default=8,
                   help="stochastic Lanczos quadrature probes for the shape of M(T)'s spectrum (0: off; default 8)")
    h.add_argument("--lanczos-steps", type=int, default=24, help="Lanczos steps per probe (default 24)")
    h.add_argument("--generator", action="store_true",
                   help="also the tile blocks of the generator A = dF/dPsi with their eigenvalues (growth rates)")
    h.add_argument("--lyapunov", type=int, default=0, metavar="K",
                   help="also the K leading Lyapunov exponents over the longest horizon (default 0: off)")
    add_output_args(p, "out/jacobian")
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
    if args.horizon_k < 1 or args.probes < 0 or args.lanczos_steps < 2 or args.lyapunov < 0:
        raise ConfigError(f"--horizon-k {args.horizon_k} / --probes {args.probes} / --lanczos-steps {args.lanczos_steps} / "
                          f"--lyapunov {args.lyapunov} are invalid; need horizon-k >= 1, probes >= 0, "
                          "lanczos-steps >= 2, lyapunov >= 0")
    if args.horizon.strip().lower() != "none":
        from ..jacobian import parse_horizons

        parse_horizons(args.horizon)  # a bad list fails here, before any work
    if args.animate and not args.evolve:
        raise ConfigError("--animate animates the label map over time; it needs --evolve STEPS > 0")
    if args.animate:
        from ..plots.animate import check_output

        check_output(f"labels.{args.animate}", 2)  # an .mp4 without imageio-ffmpeg fails before any work


def run(args) -> int:
    from ..runs import jacobian_to_folder

    if args.list_presets:
        list_presets()
        return 0
    _check_args(args)
    model, lat = model_and_lattice(args)
    _check_sizes(args, model, lat)
    x0 = initial_from_args(args, lat)
    with open_out(args, "jacobian") as out:
        summary = jacobian_to_folder(model, lat, x0, out.work, dt=args.dt, tile=args.tile, steps=args.steps,
                                     halo=args.halo, method=args.method, modes=args.modes, algorithm=args.algorithm,
                                     topk=args.topk, krylov=args.krylov, evolve=args.evolve, snapshots=args.snapshots,
                                     animate=args.animate, save_jacobians=args.save_jacobians,
                                     check=not args.no_check, progress=not args.quiet,
                                     meta={"init": args.init, "seed": args.seed},
                                     horizons=None if args.horizon.strip().lower() == "none" else args.horizon,
                                     horizon_k=args.horizon_k, probes=args.probes, lanczos_steps=args.lanczos_steps,
                                     generator=args.generator, lyapunov=args.lyapunov)
    say(f"wrote {', '.join(summary['files'])} and summary.json to {out.path}/ ({summary['seconds_total']:.1f} s)")
    return 0


def _check_sizes(args, model, lat) -> None:
    """Everything that depends on the lattice: --topk within C·N, the dense blocks' size, the memory."""
    from ..integrate import stages
    from ..jacobian import halo_radius, tile_grid
    from ..runs import check_dense_blocks, check_memory, jacobian_memory

    n = lat.channels * lat.size
    if args.topk > n or (args.krylov is not None and args.krylov > n):
        raise ConfigError(f"--topk {args.topk} / --krylov {args.krylov} exceed the {n} singular values of this "
                          f"lattice (C·N = {lat.channels}·{lat.size}); give at most {n}")
    tile_grid(lat, args.tile)  # a tile that does not divide the shape fails here, before any work
    r = halo_radius(model, args.steps, args.method)
    check_dense_blocks(lat, args.tile, r, args.halo)
    horizons = args.horizon.strip().lower() != "none" or args.generator or args.lyapunov
    need = jacobian_memory(lat, args.dtype, stages(model, args.method), args.tile, halo_radius=r, halo=args.halo,
                           snapshots=args.snapshots if args.evolve else 1, modes=args.modes, topk=args.topk,
                           krylov=args.krylov, horizon_k=args.horizon_k if horizons else 0, probes=args.probes,
                           lanczos_steps=args.lanczos_steps, lyapunov=args.lyapunov,
                           keep_jacobians=args.save_jacobians)
    check_memory(need, f"rsvp jacobian on {'x'.join(map(str, lat.shape))} cells with --tile {args.tile}",
                 "use a smaller --shape or --tile, fewer --snapshots, or a smaller --topk / --horizon-k")
