"""What a sweep is and what it returns: its points (a grid or a list) and `SweepResult`.

Plain data and NumPy, no computation: `_sweep` runs the points, `_sweep_store` writes and
reads the results.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import jax
import numpy as np

from ._state import State
from .errors import ConfigError

SEED = "seed"
STATUS = ("ok", "unstable", "nonfinite")  # the codes 0, 1, 2 of `SweepResult.status`


# ---- the points -----------------------------------------------------------------------------------
def grid_points(grid: Mapping[str, Sequence]) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """The Cartesian product of `grid`'s axes, flattened in C order: (name → (P,) values, grid shape)."""
    names = list(grid)
    axes = [np.atleast_1d(np.asarray(grid[k])) for k in names]
    for k, a in zip(names, axes):
        if a.ndim != 1 or a.size == 0:
            raise ConfigError(f"sweep axis {k!r} must be a non-empty 1-D list of values, not shape {a.shape}")
    mesh = np.meshgrid(*axes, indexing="ij") if axes else []
    return {k: m.reshape(-1) for k, m in zip(names, mesh)}, tuple(a.size for a in axes)


def list_points(points: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
    """A list of points `[{"gamma": 0.1, "nu": 0.2}, ...]` (all with the same names) as name → (P,) values."""
    points = list(points)
    if not points:
        raise ConfigError("a sweep needs at least one point")
    names = list(points[0])
    for i, p in enumerate(points):
        if sorted(p) != sorted(names):
            raise ConfigError(f"sweep point {i} has names {sorted(p)}, but point 0 has {sorted(names)}")
    return {k: np.asarray([p[k] for p in points]) for k in names}


def check_names(model, names) -> None:
    """Only numeric model parameters and `seed` can be swept; say which are valid otherwise."""
    params, statics = model.param_names(), model.static_names()
    for k in names:
        if k in statics:
            raise ConfigError(f"{model.name}: {k!r} is a compile-time switch and cannot be swept; "
                              f"run one sweep per value (with --set {k}=...)")
        if k != SEED and k not in params:
            raise ConfigError(f"{model.name} has no parameter {k!r} to sweep; "
                              f"valid names are {', '.join(params)} and {SEED!r} (initial-condition seed)")


def point_label(values: Mapping[str, np.ndarray], i: int) -> str:
    """'gamma=0.1, nu=0.2' for point i."""
    return ", ".join(f"{k}={np.asarray(v)[i].item():g}" for k, v in values.items()) or "the point"


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
        """The result as an `xarray.Dataset`, parameters as coordinates (see `_sweep_store.sweep_dataset`)."""
        from ._sweep_store import sweep_dataset

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


__all__ = ["SEED", "STATUS", "grid_points", "list_points", "check_names", "point_label", "SweepResult"]
