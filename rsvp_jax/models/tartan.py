"""The TARTAN preset: compressible transport of Φ and S by a damped, viscous, self-advected flow."""

from __future__ import annotations

import jax.numpy as jnp

from .. import lattice as L
from ..lattice import Lattice
from ..state import State
from ._base import Model, fmax, register, safe_div, static, vmax
from .rsvp import COURANT


@register
class Tartan(Model):
    r"""The TARTAN field equations (`"tartan"`).

    ```
    ∂tΦ + ∇·(Φ v)     = D_Φ ∇²Φ
    ∂t v + (v·∇) v    = −∇Φ − γ v + D_v ∇²v
    ∂tS + ∇·(S v)     = κ |∇v|² + D_S ∇²S
    ```

    Source: the TARTAN form of the
    RSVP literature, as quoted in `../shared/DESIGN.md`. It is well-posed as written (κ ≥ 0,
    all diffusivities ≥ 0), so no correction is made. Φ and S are in flux form: ∫Φ is
    conserved, ∫S grows by ∫κ|∇v|² ≥ 0. Φ and S use the face flux of the `"rsvp"` model
    (`advection`, default `"smooth"`: smooth in the state and monotone; see `Rsvp` and
    `lattice.transport_fluxes`), with δ = 0.01 (the wave speed at Φ = 1 is 1), so both stay
    positive under the `"positivity"` limit 1/(2D·|v|max/h + 2D·max(D_Φ, D_S)/h² + D·δ/h)
    (Euler, Heun, SSP-RK3; order 2).
    """

    name = "tartan"
    nonnegative = ("D_phi", "D_v", "D_S", "gamma", "kappa")

    D_phi: float = 0.05
    D_v: float = 0.05
    D_S: float = 0.05
    gamma: float = 0.1
    kappa: float = 0.5
    order: int = static(2)
    advection: str = static("smooth")

    def entropy_production(self, lat: Lattice, x: State):
        return self.kappa * L.velocity_gradient_squared(x.v, lat, self.order)

    def invariant(self, lat: Lattice, x: State):
        return jnp.sum(x.phi, axis=tuple(range(-lat.ndim, 0))) * lat.cell_volume

    def rhs(self, lat: Lattice, x: State) -> State:
        order = self.order
        dphi = -L.flux_divergence(self.transport_fluxes(lat, x.phi, x.v, self.D_phi), lat)
        dS = -L.flux_divergence(self.transport_fluxes(lat, x.S, x.v, self.D_S), lat)
        dS = dS + self.entropy_production(lat, x)
        dv = (
            -L.advective_derivative(x.v, lat, order)
            - L.gradient(x.phi, lat, order)
            - self.gamma * x.v
            + self.D_v * L.laplacian(x.v, lat, order)
        )
        return State(dphi, dv, dS)

    def stability_limits(self, lat: Lattice, x: State) -> dict[str, float]:
        h = lat.spacing
        u = vmax(lat, x)
        diff = max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_v)), float(jnp.max(self.D_S)))
        limits = {
            "diffusion": safe_div(2.0, L.max_laplacian_eigenvalue(lat, self.order) * diff),
            "advection": safe_div(COURANT * h, u + max(fmax(x.phi), 0.0) ** 0.5),
            "damping": safe_div(1.0, float(jnp.max(self.gamma))),
        }
        transport = self.transport_positivity_rate(lat, x, max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_S))))
        if transport is not None:
            limits["positivity"] = safe_div(1.0, transport)
        return limits

    def time_scales(self, lat: Lattice, x: State, length: float) -> dict[str, float]:
        speed = vmax(lat, x) + max(fmax(x.phi), 0.0) ** 0.5  # the flow and the waves of ∂t v = −∇Φ
        diff = max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_v)), float(jnp.max(self.D_S)))
        return {"tile_crossing": safe_div(length, speed), "damping": safe_div(1.0, float(jnp.max(self.gamma))),
                "diffusion": safe_div(length**2, diff)}
