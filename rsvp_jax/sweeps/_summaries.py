"""What a sweep measures at the end of each point's run: final-state summaries, and hooks.

Every function here is pure and vmappable: `_sweep` evaluates them inside the batch.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import jax.numpy as jnp

from ..lattice import Lattice
from ..state import State

SUMMARIES = ("phi_std", "S_std", "phi_max", "S_max", "speed_rms", "invariant_drift")  # see `final_summaries`
TILE_KEYS = ("sigma_max", "stable_rank", "effective_rank", "participation_ratio")


def final_summaries(model, lat: Lattice, x: State, x0: State) -> dict:
    """Scalars that describe where a run ended (vmappable).

    | key               | quantity                                               |
    |-------------------|--------------------------------------------------------|
    | `phi_std`, `S_std`| spatial standard deviation of Φ, S (pattern strength)  |
    | `phi_max`, `S_max`| their maxima                                           |
    | `speed_rms`       | √⟨|v|²⟩                                                |
    | `invariant_drift` | (I(x) − I(x0)) / |I(x0)| of the conserved integral, if the model has one |
    """
    space = tuple(range(-lat.ndim, 0))
    out = {
        "phi_std": jnp.std(x.phi, axis=space), "S_std": jnp.std(x.S, axis=space),
        "phi_max": jnp.max(x.phi, axis=space), "S_max": jnp.max(x.S, axis=space),
        "speed_rms": jnp.sqrt(jnp.mean(jnp.sum(x.v**2, axis=-lat.ndim - 1), axis=space)),
    }
    inv, inv0 = model.invariant(lat, x), model.invariant(lat, x0)
    if inv is not None:
        out["invariant_drift"] = (inv - inv0) / jnp.abs(inv0)
    return out


@dataclasses.dataclass(frozen=True)
class TileSpectrum:
    """A `summaries` entry: the singular spectra of the tile Jacobians (`rj.tile_jacobians`) of
    the `steps`-step map at a point's final state, each scalar summary of `rsvp_jax.spectra`
    averaged over the tiles.

    ```python
    rj.sweep(..., summaries={"tile": TileSpectrum(dt=0.05, tile=4)})   # → tile_stable_rank, ...
    ```

    A frozen dataclass (not a closure), so equal settings hash equal and reuse the compiled batch.
    """

    dt: float
    tile: int = 8
    steps: int = 1
    method: str = "ssprk3"
    keys: tuple = TILE_KEYS

    def __call__(self, model, lat: Lattice, x: State) -> dict:
        from .. import spectra
        from ..jacobian import tile_jacobians

        J = tile_jacobians(model, lat, x, self.dt, tile=self.tile, steps=self.steps, method=self.method)
        summary = spectra.summarize(jnp.linalg.svd(J, compute_uv=False))
        return {k: jnp.mean(summary[k]) for k in self.keys}


def extra_summaries(fns, model, lat: Lattice, x: State) -> dict:
    """User summaries, `fns` = ((name, fn), ...) with fn(model, lat, x_final) giving a scalar or
    a dict of scalars (flattened to `name_key`)."""
    out = {}
    for name, fn in fns:
        value = fn(model, lat, x)
        if isinstance(value, Mapping):
            out.update({f"{name}_{k}": jnp.asarray(v) for k, v in value.items()})
        else:
            out[name] = jnp.asarray(value)
    return out


__all__ = ["SUMMARIES", "TILE_KEYS", "final_summaries", "TileSpectrum", "extra_summaries"]
