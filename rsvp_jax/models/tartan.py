"""The TARTAN preset: compressible transport of Φ and S by a damped, viscous, self-advected flow."""

from __future__ import annotations

import jax.numpy as jnp

from .. import lattice as L
from ..lattice import Lattice
from ..state import State
from ..errors import ConfigError
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
    conserved, ∫S grows by ∫κ|∇v|² ≥ 0; with upwind advection both stay positive under the
    `"positivity"` limit.
    """

    name = "tartan"
    nonnegative = ("D_phi", "D_v", "D_S", "gamma", "kappa")

    D_phi: float = 0.05
    D_v: float = 0.05
    D_S: float = 0.05
    gamma: float = 0.1
    kappa: float = 0.5
    order: int = static(2)
    advection: str = static("upwind")

    def validate(self):
        if self.order not in L.ORDERS:
            raise ConfigError(f"tartan: order={self.order!r} is invalid; valid orders are {L.ORDERS}")
        if self.advection not in L.ADVECTION_SCHEMES:
            raise ConfigError(f"tartan: advection={self.advection!r} is invalid; valid schemes are {L.ADVECTION_SCHEMES}")

    def stencil_radius(self) -> int:
        return 1 if self.order == 2 else 2

    def entropy_production(self, lat: Lattice, x: State):
        return self.kappa * L.velocity_gradient_squared(x.v, lat, self.order)

    def invariant(self, lat: Lattice, x: State):
        return jnp.sum(x.phi, axis=tuple(range(-lat.ndim, 0))) * lat.cell_volume

    def rhs(self, lat: Lattice, x: State) -> State:
        order = self.order
        dphi = -L.flux_divergence(L.transport_fluxes(x.phi, x.v, self.D_phi, lat, order, self.advection), lat)
        dS = -L.flux_divergence(L.transport_fluxes(x.S, x.v, self.D_S, lat, order, self.advection), lat)
        dS = dS + self.entropy_production(lat, x)
        dv = (
            -L.advective_derivative(x.v, lat, order)
            - L.gradient(x.phi, lat, order)
            - self.gamma * x.v
            + self.D_v * L.laplacian(x.v, lat, order)
        )
        return State(dphi, dv, dS)

    def stability_limits(self, lat: Lattice, x: State) -> dict[str, float]:
        h, D = lat.spacing, lat.ndim
        u = vmax(lat, x)
        diff = max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_v)), float(jnp.max(self.D_S)))
        limits = {
            "diffusion": safe_div(2.0, L.max_laplacian_eigenvalue(lat, self.order) * diff),
            "advection": safe_div(COURANT * h, u + max(fmax(x.phi), 0.0) ** 0.5),
            "damping": safe_div(1.0, float(jnp.max(self.gamma))),
        }
        if self.advection == "upwind" and self.order == 2:
            limits["positivity"] = safe_div(1.0, 2 * D * u / h + 2 * D * diff / h**2)
        return limits

    def time_scales(self, lat: Lattice, x: State, length: float) -> dict[str, float]:
        speed = vmax(lat, x) + max(fmax(x.phi), 0.0) ** 0.5  # the flow and the waves of ∂t v = −∇Φ
        diff = max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_v)), float(jnp.max(self.D_S)))
        return {"tile_crossing": safe_div(length, speed), "damping": safe_div(1.0, float(jnp.max(self.gamma))),
                "diffusion": safe_div(length**2, diff)}
