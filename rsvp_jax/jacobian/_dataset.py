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


__all__ = ["tile_dataset", "tile_centres", "TILE_AXES", "FLAG_MEANINGS"]
