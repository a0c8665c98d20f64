"""Horizons with a physical default: a ladder of times from the model's own time scales at a state.

Over a tile of b cells (length ℓ = b·h) the dynamics have three clocks (`Model.time_scales`):

| scale          | time                                  | what it measures                          |
|----------------|---------------------------------------|-------------------------------------------|
| `tile_crossing`| ℓ / (|v|max + wave speed)             | a signal crosses a tile (advection, waves) |
| `damping`      | 1 / (damping rate)                    | the flow forgets its initial state        |
| `diffusion`    | ℓ² / (largest diffusivity)            | gradients across a tile smooth out        |

`horizon_ladder` turns them into horizons: each is rounded to whole steps of dt, capped at
`max_steps` steps (the diffusive time of an 8-cell tile is often thousands of steps), and
repeated values are merged; every entry says which scale it came from and whether it was capped,
so the output can say what it used.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..errors import ConfigError
from ._tiles import tile_shape

#: The default largest horizon of an automatic ladder, in steps.
MAX_STEPS = 400


@dataclasses.dataclass(frozen=True)
class HorizonLadder:
    """`horizons` (ascending, model time) and for each `sources[i]`: the scale names it stands for,
    `scales` the model's time scales at the state, `capped` the scales longer than `max_steps`."""

    horizons: tuple[float, ...]
    sources: tuple[tuple[str, ...], ...]
    scales: dict
    capped: tuple[str, ...]
    max_steps: int

    def describe(self) -> list[str]:
        """One line per horizon: its time and where it comes from."""
        out = []
        for T, names in zip(self.horizons, self.sources):
            why = ", ".join(f"{n} {self.scales[n]:.3g}" + (f" (capped at {self.max_steps} steps)" if n in self.capped else "")
                            for n in names)
            out.append(f"T = {T:g}: {why}")
        return out


def time_scales(model, lat, state, tile=8) -> dict[str, float]:
    """The model's time scales at `state` over one tile (see the module table); {} if it has none."""
    b = tile_shape(lat, tile)
    length = min(b) * lat.spacing
    scales = model.time_scales(lat, state, length) if hasattr(model, "time_scales") else {}
    return {k: float(v) for k, v in scales.items() if np.isfinite(v) and v > 0}


def horizon_ladder(model, lat, state, dt, tile=8, max_steps: int = MAX_STEPS) -> HorizonLadder:
    """The default ladder of horizons at `state` (see the module docstring)."""
    scales = time_scales(model, lat, state, tile)
    if not scales:
        raise ConfigError(f"preset {model.name!r} reports no time scales; give the horizons explicitly")
    dt = float(dt)
    entries: dict[int, list[str]] = {}
    capped = []
    for name, T in sorted(scales.items(), key=lambda kv: kv[1]):
        steps = max(1, int(round(T / dt)))
        if steps > max_steps:
            steps = int(max_steps)
            capped.append(name)
        entries.setdefault(steps, []).append(name)
    steps = sorted(entries)
    return HorizonLadder(tuple(s * dt for s in steps), tuple(tuple(entries[s]) for s in steps), scales,
                         tuple(capped), int(max_steps))


def parse_horizons(spec) -> tuple[float, ...] | None:
    """'auto' → None (the default ladder); '0.1,1,10' or a sequence → the horizons, ascending."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        return None
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    try:
        values = [float(v) for v in items if str(v).strip() != ""]
    except ValueError:
        raise ConfigError(f"horizons {spec!r} are not 'auto' or comma-separated times, e.g. 0.5,2,10") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ConfigError(f"horizons {spec!r} are invalid; give 'auto' or times > 0 in model units, e.g. 0.5,2,10")
    return tuple(sorted(set(values)))


__all__ = ["HorizonLadder", "horizon_ladder", "time_scales", "parse_horizons", "MAX_STEPS"]
