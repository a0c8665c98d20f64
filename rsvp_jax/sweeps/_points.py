"""What a sweep is: its points, a grid (the Cartesian product of its axes) or a list.

Plain data and NumPy, no computation: `_run` runs the points, `_result` holds what they return.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..errors import ConfigError

SEED = "seed"


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


__all__ = ["SEED", "grid_points", "list_points", "check_names", "point_label"]
