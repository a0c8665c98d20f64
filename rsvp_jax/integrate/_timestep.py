"""The time-step check: every explicit stability limit of a model, before a run starts."""

from __future__ import annotations

import math

from ..errors import ConfigError, UnstableTimestepError
from ..lattice import Lattice
from ..state import State

# What each limit is, for the error message (h: spacing, D: dimension, C = 0.5).
LIMIT_FORMULAS = {
    "diffusion": "h²/(2·D·max diffusivity)",
    "advection": "C·h/(|v|max + wave speed)",
    "damping": "1/(damping rate)",
    "hyperdiffusion": "h⁴/(8·D²·ε)",
    "positivity": "1/(2D·|v|max/h + 2D·max(D_Φ, D_S)/h² + D·δ/h + max sink rate) (δ = 0 for upwind)",
    "rotation": "C/(rotation rate)",
}


def stability_limits(model, lat: Lattice, x: State) -> dict[str, float]:
    """Each limit's largest stable dt for `model` at state `x` (empty for discrete models)."""
    return {} if model.discrete else dict(model.stability_limits(lat, x))


def max_stable_dt(model, lat: Lattice, x: State) -> float:
    """The largest dt that satisfies every limit (inf if there is none)."""
    return min(stability_limits(model, lat, x).values(), default=math.inf)


def check_timestep(model, lat: Lattice, x: State, dt) -> None:
    """Raise `UnstableTimestepError` naming the tightest violated limit and the largest stable dt."""
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise ConfigError(f"time step dt={dt!r} is not a number") from None
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"time step dt={dt!r} is invalid; it must be a finite number > 0")
    limits = stability_limits(model, lat, x)
    violated = {k: v for k, v in limits.items() if dt > v}
    if violated:
        name = min(violated, key=violated.get)
        best = min(limits.values())
        raise UnstableTimestepError(
            f"dt={dt:g} exceeds the {name} limit {LIMIT_FORMULAS.get(name, '')} = {violated[name]:.4g} "
            f"of preset {model.name!r}; the largest stable dt is {best:.4g}"
        )
