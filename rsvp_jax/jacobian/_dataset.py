"""A tile analysis as a self-describing `xarray.Dataset` (what `rsvp jacobian` writes as `jacobian.nc`)."""

from __future__ import annotations

import json

import numpy as np

from ..io import model_attrs
from ._analysis import TileAnalysis, TileEvolution
from ._modes import LABELS, SHARES
from ._tiles import tile_shape
from ._topk import TopSingular

TILE_AXES = ("tile_x", "tile_y", "tile_z")
FLAG_MEANINGS = " ".join(name.replace("/", "_or_").replace(" ", "_") for name in LABELS)


def tile_centres(lat, tile) -> tuple[np.ndarray, ...]:
    """The centre coordinate of each tile along each axis."""
    b = tile_shape(lat, tile)
    return tuple((np.arange(N // bd) + 0.5) * bd * lat.spacing for N, bd in zip(lat.shape, b))


def tile_dataset(analysis: TileAnalysis, lat, model=None, attrs=None, top: TopSingular | None = None,
                 evolution: TileEvolution | None = None):
    """An `xarray.Dataset` of an analysis: per-tile spectra, summaries, make-up, labels and top
    directions, plus the whole-lattice top-k and the evolution over time when given.

    Variables: `sigma` (*tiles, mode), the `spectra.summarize` scalars (*tiles), `input_shares` /
    `output_shares` (*tiles, share), `label` / `output_label` (*tiles), the top directions;
    with `top`: `lattice_sigma`, `lattice_residual` (lattice_mode); with `evolution`:
    `sigma_max_t`, `effective_rank_t`, `label_t` (time, *tiles), `sigma_t` (time, *tiles, mode),
    `tracked_sigma`, `tracked_rank` (time, *tiles, tracked), `tracked_overlap` (interval, ...).
    """
    import xarray as xr

    D = lat.ndim
    tiles = TILE_AXES[:D]
    coords = {ax: c for ax, c in zip(tiles, tile_centres(lat, analysis.tile))}
    coords["mode"] = np.arange(analysis.sigma.shape[-1])
    coords["share"] = list(SHARES)
    coords["channel"] = ["phi", *(f"v{d + 1}" for d in range(D)), "S"]
    cells_out = tuple(f"cell_{a}" for a in "xyz"[:D])
    cells_in = tuple(f"col_{a}" for a in "xyz"[:D])
    rows = analysis.tile
    cols = tuple(b + 2 * analysis.radius for b in rows) if analysis.halo else rows
    U = np.asarray(analysis.svd.U[..., 0, :]).reshape(analysis.grid + (D + 2,) + rows)
    V = np.asarray(analysis.svd.V[..., 0, :]).reshape(analysis.grid + (D + 2,) + cols)
    data = {
        "sigma": ((*tiles, "mode"), np.asarray(analysis.sigma)),
        "input_shares": ((*tiles, "share"), np.asarray(analysis.input_shares)),
        "output_shares": ((*tiles, "share"), np.asarray(analysis.output_shares)),
        "label": (tiles, np.asarray(analysis.labels, np.int8)),
        "output_label": (tiles, np.asarray(analysis.output_labels, np.int8)),
        "top_output_direction": ((*tiles, "channel", *cells_out), U),
        "top_input_direction": ((*tiles, "channel", *cells_in), V),
    }
    for key in ("sigma_max", "stable_rank", "effective_rank", "participation_ratio", "k90", "k99"):
        data[key] = (tiles, np.asarray(analysis.summary[key]))
    if top is not None:
        coords["lattice_mode"] = np.arange(top.sigma.shape[0])
        data["lattice_sigma"] = (("lattice_mode",), np.asarray(top.sigma))
        data["lattice_residual"] = (("lattice_mode",), np.asarray(top.residual))
    if evolution is not None:
        coords["time"] = evolution.times
        coords["tracked"] = np.arange(evolution.tracked_sigma.shape[-1])
        data["sigma_max_t"] = (("time", *tiles), evolution.sigma_max)
        data["effective_rank_t"] = (("time", *tiles), evolution.effective_rank)
        data["label_t"] = (("time", *tiles), evolution.labels.astype(np.int8))
        data["tracked_sigma"] = (("time", *tiles, "tracked"), evolution.tracked_sigma)
        data["tracked_rank"] = (("time", *tiles, "tracked"), evolution.rank_order.astype(np.int16))
        data["tracked_overlap"] = (("interval", *tiles, "tracked"), evolution.overlap)
        if evolution.sigma is not None:
            data["sigma_t"] = (("time", *tiles, "mode"), np.asarray(evolution.sigma))
    ds = xr.Dataset(data, coords=coords)
    for name in ("label", "output_label", "label_t"):
        if name in ds:
            ds[name].attrs.update(flag_values=np.arange(len(LABELS), dtype=np.int8), flag_meanings=FLAG_MEANINGS)
    ds["sigma"].attrs["long_name"] = "singular values of each tile Jacobian, descending"
    ds["input_shares"].attrs["long_name"] = "energy shares of the top input direction v1"
    ds["output_shares"].attrs["long_name"] = "energy shares of the top output direction u1"
    ds["top_input_direction"].attrs["long_name"] = "top right singular vector (on the padded tile with a halo)"
    ds.attrs.update({**(model_attrs(model) if model is not None else {}), "spacing": lat.spacing,
                     "shape": list(lat.shape), "tile": list(analysis.tile), "halo": int(analysis.halo),
                     "halo_radius": analysis.radius, "labels": json.dumps(list(LABELS)),
                     "format": "rsvp-jax tile jacobians 1", **(attrs or {})})
    return ds


#: The scalars of a `PropagatorSpectrum` stored per horizon, with their errors.
HORIZON_SCALARS = ("frobenius2", "stable_rank", "effective_rank", "k90")


def horizon_dataset(lat, tile, spectra, mode_maps=None, lyapunov=None, generator=None):
    """The dynamics over horizons as an `xarray.Dataset`, to merge into `tile_dataset`'s.

    Variables, with `spectra` (a list of `PropagatorSpectrum`, one per horizon):
    `propagator_sigma`, `propagator_residual` (horizon, propagator_mode); per horizon
    `propagator_steps`, `propagator_n` and `propagator_<s>` with `propagator_<s>_error` for s in
    `HORIZON_SCALARS`; with SLQ, `slq_nodes`, `slq_weights` (horizon, probe, node). With
    `mode_maps` (one `ModeMap` per horizon): `mode_energy`, `mode_label` (horizon,
    propagator_mode, *tiles). With `lyapunov` (a `LyapunovSpectrum`): `lyapunov_exponent`
    (exponent), `lyapunov_running` (qr_time, exponent). With `generator` (a `TileAnalysis` of
    the rate map): `generator_eigenvalue_real` / `_imag` (*tiles, eig), `growth_rate`,
    `decay_rate`, `frequency` (*tiles).
    """
    import xarray as xr

    D = lat.ndim
    tiles = TILE_AXES[:D]
    coords = {ax: c for ax, c in zip(tiles, tile_centres(lat, tile))}
    data = {}
    if spectra:
        coords["horizon"] = np.asarray([ps.horizon for ps in spectra])
        coords["propagator_mode"] = np.arange(min(len(ps.sigma) for ps in spectra))
        k = len(coords["propagator_mode"])
        data["propagator_sigma"] = (("horizon", "propagator_mode"), np.stack([np.asarray(ps.sigma)[:k] for ps in spectra]))
        data["propagator_residual"] = (("horizon", "propagator_mode"),
                                       np.stack([np.asarray(ps.residual)[:k] for ps in spectra]))
        data["propagator_steps"] = (("horizon",), np.asarray([ps.steps for ps in spectra]))
        data["propagator_n"] = (("horizon",), np.asarray([ps.n for ps in spectra]))
        for s in HORIZON_SCALARS:
            data[f"propagator_{s}"] = (("horizon",), np.asarray([getattr(ps, s) for ps in spectra], float))
            data[f"propagator_{s}_error"] = (("horizon",), np.asarray([getattr(ps, f"{s}_error") for ps in spectra], float))
        if all(ps.density is not None for ps in spectra) and len({ps.density["nodes"].shape for ps in spectra}) == 1:
            data["slq_nodes"] = (("horizon", "probe", "node"), np.stack([ps.density["nodes"] for ps in spectra]))
            data["slq_weights"] = (("horizon", "probe", "node"), np.stack([ps.density["weights"] for ps in spectra]))
        if mode_maps:
            data["mode_energy"] = (("horizon", "propagator_mode", *tiles), np.stack([m.energy[:k] for m in mode_maps]))
            data["mode_label"] = (("horizon", "propagator_mode", *tiles),
                                  np.stack([m.labels[:k] for m in mode_maps]).astype(np.int8))
    if lyapunov is not None:
        coords["exponent"] = np.arange(len(lyapunov.exponents))
        coords["qr_time"] = np.asarray(lyapunov.times)
        data["lyapunov_exponent"] = (("exponent",), np.asarray(lyapunov.exponents))
        data["lyapunov_running"] = (("qr_time", "exponent"), np.asarray(lyapunov.running))
    if generator is not None and generator.eigenvalues is not None:
        lam = np.asarray(generator.eigenvalues)
        coords["eig"] = np.arange(lam.shape[-1])
        data["generator_eigenvalue_real"] = ((*tiles, "eig"), lam.real)
        data["generator_eigenvalue_imag"] = ((*tiles, "eig"), lam.imag)
        for key in ("growth_rate", "decay_rate", "frequency"):
            data[key] = (tiles, np.asarray(generator.summary[key]))
    ds = xr.Dataset(data, coords=coords)
    if "mode_label" in ds:
        ds["mode_label"].attrs.update(flag_values=np.arange(len(LABELS), dtype=np.int8), flag_meanings=FLAG_MEANINGS)
    if "horizon" in ds.coords:
        ds["horizon"].attrs["long_name"] = "horizon T of the propagator M(T) = dx(T)/dx(0), model time units"
        ds["propagator_sigma"].attrs["long_name"] = "top singular values of M(T), descending"
    return ds


__all__ = ["tile_dataset", "tile_centres", "horizon_dataset", "HORIZON_SCALARS", "TILE_AXES", "FLAG_MEANINGS"]
