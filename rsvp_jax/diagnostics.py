"""Integral diagnostics of a state: the numbers a run is checked against.

| key                  | quantity                                   |
|----------------------|--------------------------------------------|
| `phi_total`          | ∫Φ dV                                      |
| `S_total`            | ∫S dV                                      |
| `invariant`          | the model's conserved integral (rsvp: ∫(Φ + λS) dV), if it has one |
| `kinetic_energy`     | ½∫|v|² dV                                  |
| `entropy_production` | ∫σ dV                                      |
| `enstrophy`          | ½∫|∇×v|² dV (0 in 1D)                      |
| `max_speed`          | max |v|                                    |
| `min_phi`, `min_S`   | min Φ, min S                               |
"""

from __future__ import annotations

import jax.numpy as jnp

from . import lattice as L
from .lattice import Lattice
from .state import State

DESCRIPTIONS = {
    "phi_total": "∫Φ dV",
    "S_total": "∫S dV",
    "invariant": "conserved integral of the model",
    "kinetic_energy": "½∫|v|² dV",
    "entropy_production": "∫σ dV",
    "enstrophy": "½∫|∇×v|² dV",
    "max_speed": "max |v|",
    "min_phi": "min Φ",
    "min_S": "min S",
}


def compute(model, lat: Lattice, x: State) -> dict:
    """The diagnostics of the module table, as scalars (batched states give batched values)."""
    space = tuple(range(-lat.ndim, 0))
    comp = -lat.ndim - 1
    integral = lambda f: jnp.sum(f, axis=space) * lat.cell_volume  # noqa: E731
    speed2 = jnp.sum(x.v**2, axis=comp)
    vort = L.curl(x.v, lat)
    vort2 = jnp.sum(vort**2, axis=comp) if lat.ndim == 3 else vort**2
    out = {
        "phi_total": integral(x.phi),
        "S_total": integral(x.S),
        "kinetic_energy": 0.5 * integral(speed2),
        "entropy_production": integral(model.entropy_production(lat, x)),
        "enstrophy": 0.5 * integral(vort2),
        "max_speed": jnp.sqrt(jnp.max(speed2, axis=space)),
        "min_phi": jnp.min(x.phi, axis=space),
        "min_S": jnp.min(x.S, axis=space),
    }
    invariant = model.invariant(lat, x)
    if invariant is not None:
        out["invariant"] = invariant
    return out
