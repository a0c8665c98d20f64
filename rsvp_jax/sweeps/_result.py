"""What a sweep returns: `SweepResult`, and its form as a self-describing `xarray.Dataset`.

Plain data and NumPy: `_run` fills it batch by batch, `_store` writes and reads the batches.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Sequence

import jax
import numpy as np

from .. import io
from ..errors import ConfigError
from ..state import FIELDS, State
from ._points import SEED  # noqa: F401  (re-exported beside the status codes)

STATUS = ("ok", "unstable", "nonfinite")  # the codes 0, 1, 2 of `SweepResult.status`
FORMAT = "rsvp-jax sweep 1"


# ---- results --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SweepResult:
    """The results of some (or all) points of a sweep, as host (NumPy) arrays.

    - `index` (P,): which points of the whole sweep these are;
    - `values`: swept name → (P,) values; `grid_shape`: the whole sweep's grid shape, or None;
    - `times`, `steps` (T,): the snapshot times and step numbers (shared by all points);
    - `diagnostics`: name → (P, T), NaN from a point's failure on;
    - `summaries`: name → (P,), final-state summaries, NaN for failed points;
    - `status` (P,): codes into `STATUS` (0 ok, 1 unstable, 2 nonfinite);
      `failed_step` (P,): the first non-finite step, or 0; `reason` (P,): why it failed, or "";
    - `final`: the final states (a `State` of (P, ...) arrays; the last finite state of a
      failed point) if they were asked for, else None;
    - `layout`: how the points ran: `batch_size`, `devices`, `processes` (empty if none ran).
    """

    index: np.ndarray
    values: dict
    grid_shape: tuple | None
    times: np.ndarray
    steps: np.ndarray
    diagnostics: dict
    summaries: dict
    status: np.ndarray
    failed_step: np.ndarray
    reason: np.ndarray
    final: State | None = None
    layout: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)

    @property
    def ok(self) -> np.ndarray:
        return self.status == 0

    def to_dataset(self, lat, attrs: dict | None = None):
        """The result as an `xarray.Dataset`, parameters as coordinates (see `sweep_dataset`)."""
        return sweep_dataset(self, lat, attrs)

    def take(self, sel) -> "SweepResult":
        """The points at positions `sel` (an index array or a boolean mask) of this result."""
        t = lambda a: np.asarray(a)[sel]  # noqa: E731
        return dataclasses.replace(
            self, index=t(self.index), values={k: t(v) for k, v in self.values.items()},
            diagnostics={k: t(v) for k, v in self.diagnostics.items()}, summaries={k: t(v) for k, v in self.summaries.items()},
            status=t(self.status), failed_step=t(self.failed_step), reason=t(self.reason),
            final=None if self.final is None else jax.tree.map(t, self.final),
        )

    @staticmethod
    def concatenate(parts: Sequence["SweepResult"]) -> "SweepResult":
        """Join partial results and sort them by point index."""
        parts = [p for p in parts if len(p)]
        if not parts:
            raise ConfigError("no sweep results to join")
        cat = lambda *a: np.concatenate(a)  # noqa: E731
        first = parts[0]
        joined = dataclasses.replace(
            first, index=cat(*(p.index for p in parts)),
            values={k: cat(*(p.values[k] for p in parts)) for k in first.values},
            diagnostics={k: cat(*(p.diagnostics[k] for p in parts)) for k in first.diagnostics},
            summaries={k: cat(*(p.summaries[k] for p in parts)) for k in first.summaries},
            status=cat(*(p.status for p in parts)), failed_step=cat(*(p.failed_step for p in parts)),
            reason=cat(*(p.reason for p in parts)),
            final=None if first.final is None else jax.tree.map(cat, *(p.final for p in parts)),
            layout=next((p.layout for p in parts if p.layout), {}),
        )
        return joined.take(np.argsort(joined.index, kind="stable"))


# ---- datasets -----------------------------------------------------------------------------------
def _point_vars(result: SweepResult, lat, point_dims: tuple[str, ...], shape: tuple[int, ...]) -> dict:
    """The per-point variables, reshaped from (P, ...) to (*shape, ...) along `point_dims`."""
    space = io.AXES[:lat.ndim]
    r = lambda a: np.asarray(a).reshape(*shape, *np.shape(a)[1:])  # noqa: E731
    data = {k: ((*point_dims, "time"), r(v)) for k, v in result.diagnostics.items()}
    data.update({k: (point_dims, r(v)) for k, v in result.summaries.items()})
    data["status"] = (point_dims, r(result.status).astype(np.int8))
    data["failed_step"] = (point_dims, r(result.failed_step).astype(np.int64))
    data["reason"] = (point_dims, r(np.asarray(result.reason, dtype=str)).astype(object))
    if result.final is not None:
        data["phi"] = ((*point_dims, *space), r(result.final.phi))
        data["v"] = ((*point_dims, "component", *space), r(result.final.v))
        data["S"] = ((*point_dims, *space), r(result.final.S))
    return data


def sweep_dataset(result: SweepResult, lat, attrs: dict | None = None):
    """A whole sweep as an `xarray.Dataset`: a grid sweep has one dimension per swept name
    (its values the coordinate), a list of points one `point` dimension with the values as
    coordinates along it. `status` holds codes into the `status_codes` attribute."""
    import xarray as xr

    names = result.names
    if result.grid_shape is not None and len(names) == len(result.grid_shape):
        shape, dims = tuple(result.grid_shape), names
        # the values along axis i of the grid, read at index 0 of every other axis
        coords = {k: result.values[k].reshape(shape)[tuple(slice(None) if j == i else 0 for j in range(len(names)))]
                  for i, k in enumerate(names)}
    else:
        shape, dims = (len(result),), ("point",)
        coords = {"point": np.asarray(result.index), **{k: ("point", v) for k, v in result.values.items()}}
    coords.update(time=result.times, step=("time", result.steps))
    if result.final is not None:
        coords.update({ax: c for ax, c in zip(io.AXES, lat.coords())}, component=list(io.AXES[:lat.ndim]))
    ds = xr.Dataset(_point_vars(result, lat, dims, shape), coords=coords, attrs=dict(attrs or {}))
    ds.attrs.update(format=FORMAT, swept=list(names), status_codes=",".join(STATUS),
                    points=len(result), failed=int(np.sum(result.status != 0)))
    return ds


def batch_dataset(result: SweepResult, lat):
    """One finished batch, flat along `point` (its indices in the whole sweep)."""
    import xarray as xr

    coords = {"point": np.asarray(result.index), **{k: ("point", v) for k, v in result.values.items()},
              "time": result.times, "step": ("time", result.steps)}
    return xr.Dataset(_point_vars(result, lat, ("point",), (len(result),)), coords=coords,
                      attrs={"format": FORMAT + " batch", "swept": json.dumps(list(result.names))})


def result_from_batch(ds, grid_shape) -> SweepResult:
    """The inverse of `batch_dataset`."""
    names = json.loads(ds.attrs["swept"])
    diag = {k: ds[k].values for k in ds.data_vars if ds[k].dims == ("point", "time")}
    fixed = {"status", "failed_step", "reason"}
    summ = {k: ds[k].values for k in ds.data_vars if ds[k].dims == ("point",) and k not in fixed}
    final = State(*(ds[f].values for f in FIELDS)) if "phi" in ds else None
    return SweepResult(ds["point"].values, {k: ds[k].values for k in names}, grid_shape, ds["time"].values,
                       ds["step"].values, diag, summ, ds["status"].values.astype(np.int8),
                       ds["failed_step"].values.astype(np.int64), ds["reason"].values.astype(object), final)


__all__ = ["STATUS", "FORMAT", "SweepResult", "sweep_dataset", "batch_dataset", "result_from_batch"]
