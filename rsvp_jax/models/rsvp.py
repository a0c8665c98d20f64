"""The default RSVP model: conservative, positivity-preserving, σ ≥ 0."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import lattice as L
from ..lattice import Lattice
from ..state import State
from ..errors import ConfigError
from ._base import Model, concrete, fmax, register, safe_div, static, vmax

COURANT = 0.5


@register
class Rsvp(Model):
    r"""The RSVP field equations for capacity Φ, flow v and entropy S (`"rsvp"`, the default).

    ```
    ∂tΦ = −∇·(Φ v) + D_Φ ∇²Φ − λ σ
    ∂t v = −∇(c_Φ² Φ + s c_S² S) − γ v + ν ∇²v + ω ẑ×v  [− (v·∇)v if advect_v]
    ∂tS = −∇·(S v) + D_S ∇²S + σ − ε ∇⁴S
    σ   = χ Φ (γ |v|² + ν |∇v|²) ≥ 0
    ```

    (ω acts only in 2D.) Φ and S are written in flux form, so ∫(Φ + λS) is conserved to
    round-off and ∫S never decreases. With `advection="upwind"` and ε = 0 every term is
    monotone: Φ and S stay positive, without clipping, for dt under the `"positivity"`
    limit (Euler, Heun and SSP-RK3, which are convex combinations of Euler steps; RK4 is
    not). Hyperdiffusion ε∇⁴S is not a monotone operator, so with ε > 0 positivity is not
    guaranteed at the grid scale.

    `s = +1` ("lamphron"): flow runs down entropy gradients, smoothing. `s = −1`
    ("lamphrodyne"): up them, aggregating; the entropy pressure is then negative and the
    short waves of S grow, so ε > 0 is required to keep the problem well-posed.

    |∇v|² is the discrete viscous dissipation (`velocity_gradient_squared`), so σ ≥ 0 holds
    exactly on the lattice. Source: `../shared/DESIGN.md`, "The RSVP equations".
    """

    name = "rsvp"
    nonnegative = ("D_phi", "D_S", "lam", "gamma", "nu", "eps", "chi")

    D_phi: float = 0.05
    D_S: float = 0.05
    lam: float = 0.5
    c_phi: float = 1.0
    c_S: float = 0.5
    s: float = 1.0
    gamma: float = 0.1
    nu: float = 0.05
    omega: float = 0.0
    eps: float = 0.0
    chi: float = 0.5
    advect_v: bool = static(False)
    order: int = static(2)
    advection: str = static("upwind")
    hyperdiffusion: bool = static(False)  # switched on whenever eps is set to a non-zero value

    def validate(self):
        s, eps = concrete(self.s), concrete(self.eps)
        if s is not None and not np.all((s == 1) | (s == -1)):
            raise ConfigError(f"rsvp: parameter s={s.tolist()} is invalid; s must be +1 (lamphron) or -1 (lamphrodyne)")
        if s is not None and eps is not None and np.any((s == -1) & (eps <= 0)):
            raise ConfigError("rsvp: s=-1 (lamphrodyne) needs eps > 0 (hyperdiffusion of S) to stay well-posed")
        if self.order not in L.ORDERS:
            raise ConfigError(f"rsvp: order={self.order!r} is invalid; valid orders are {L.ORDERS}")
        if self.advection not in L.ADVECTION_SCHEMES:
            raise ConfigError(f"rsvp: advection={self.advection!r} is invalid; valid schemes are {L.ADVECTION_SCHEMES}")
        if eps is not None and not self.hyperdiffusion and np.any(eps != 0):
            object.__setattr__(self, "hyperdiffusion", True)  # static: the ∇⁴ term is compiled in

    def stencil_radius(self) -> int:
        # ∇⁴S as the divergence of ∇(∇²S) reaches two cells (order 2) or four (order 4).
        base = 1 if self.order == 2 else 2
        return 2 * base if self.hyperdiffusion else base

    def entropy_production(self, lat: Lattice, x: State):
        speed2 = L.sum_components(x.v**2, lat)
        return self.chi * x.phi * (self.gamma * speed2 + self.nu * L.velocity_gradient_squared(x.v, lat, self.order))

    def invariant(self, lat: Lattice, x: State):
        return jnp.sum(x.phi + self.lam * x.S, axis=tuple(range(-lat.ndim, 0))) * lat.cell_volume

    def rhs(self, lat: Lattice, x: State) -> State:
        order, D = self.order, lat.ndim
        sigma = self.entropy_production(lat, x)

        phi_fluxes = L.transport_fluxes(x.phi, x.v, self.D_phi, lat, order, self.advection)
        dphi = -L.flux_divergence(phi_fluxes, lat) - self.lam * sigma

        S_fluxes = L.transport_fluxes(x.S, x.v, self.D_S, lat, order, self.advection)
        if self.hyperdiffusion:
            lap_S = L.laplacian(x.S, lat, order)
            S_fluxes = [F + self.eps * L.face_difference(lap_S, lat, d, order) for d, F in enumerate(S_fluxes)]
        dS = -L.flux_divergence(S_fluxes, lat) + sigma

        pressure = self.c_phi**2 * x.phi + self.s * self.c_S**2 * x.S
        dv = -L.gradient(pressure, lat, order) - self.gamma * x.v + self.nu * L.laplacian(x.v, lat, order)
        if D == 2:
            v1, v2 = L.component(x.v, lat, 0), L.component(x.v, lat, 1)
            dv = dv + self.omega * L.stack_components([-v2, v1], lat)
        if self.advect_v:
            dv = dv - L.advective_derivative(x.v, lat, order)
        return State(dphi, dv, dS)

    def stability_limits(self, lat: Lattice, x: State) -> dict[str, float]:
        h, D = lat.spacing, lat.ndim
        u = vmax(lat, x)
        wave = self.c_phi * max(fmax(x.phi), 0.0) ** 0.5 + self.c_S * max(fmax(x.S), 0.0) ** 0.5
        diff = max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_S)), float(jnp.max(self.nu)))
        lap_eig = L.max_laplacian_eigenvalue(lat, self.order)
        limits = {
            "diffusion": safe_div(2.0, lap_eig * diff),  # h²/(2·D·max(D_Φ, D_S, ν)) at order 2
            "advection": safe_div(COURANT * h, u + wave),
            "damping": safe_div(1.0, float(jnp.max(self.gamma))),
        }
        eps = float(jnp.max(self.eps))
        if eps > 0:
            limits["hyperdiffusion"] = safe_div(2.0, eps * lap_eig**2)  # h⁴/(32ε) in 2D
        if self.advection == "upwind" and self.order == 2 and eps == 0:
            rate = float(jnp.max(self.lam * self.entropy_production(lat, x) / jnp.maximum(x.phi, 1e-30)))
            limits["positivity"] = safe_div(1.0, 2 * D * u / h + 2 * D * diff / h**2 + rate)
        return limits

    def time_scales(self, lat: Lattice, x: State, length: float) -> dict[str, float]:
        speed = vmax(lat, x) + self.c_phi * max(fmax(x.phi), 0.0) ** 0.5 + self.c_S * max(fmax(x.S), 0.0) ** 0.5
        diff = max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_S)), float(jnp.max(self.nu)))
        return {"tile_crossing": safe_div(length, speed), "damping": safe_div(1.0, float(jnp.max(self.gamma))),
                "diffusion": safe_div(length**2, diff)}
