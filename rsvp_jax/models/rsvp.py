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
    round-off and ∫S never decreases.

    **The face flux** of Φ and S (`advection`, default `"smooth"`; see
    `lattice.transport_fluxes`) is F = u q̄ − (κ + κ_num)(q_{i+1} − q_i)/h at order 2, with
    u the face velocity, q̄ the face average, κ = D_Φ or D_S and κ + κ_num =
    (κ⁴ + (a h/2)⁴)^{1/4}, a = √(u² + δ²): a smooth max of the physical diffusivity and the
    cell-Péclet diffusivity |u|h/2, i.e. a C^∞ form of Spalding's (1972) hybrid scheme. Why:

    - it is smooth in the state (the Jacobians do not jump where v changes sign, and every
      integrator keeps its order: measured Euler 1.02, Heun 1.98, SSP-RK3 3.02, RK4 3.99 on
      the default 32² blobs run, dt = 0.05 → 0.025; with `"upwind"` SSP-RK3 and RK4 fall
      to 2.02 and 1.31);
    - where |u|h/κ < 2 it is the central flux plus D∇², second order (fourth with
      `order=4`): κ_num ≈ (a h/2)⁴/(4κ³) = O(h⁴); plain Rusanov (κ_num = a h/2, `"rusanov"`)
      and upwinding add |u|h/2 everywhere and are first order (docs/numerics.md);
    - it is monotone, because κ + κ_num ≥ |u|h/2.

    δ = 0.01·(|c_Φ| + |c_S|) (`dissipation_floor`) only matters where κ = 0: it keeps the
    flux smooth at u = 0 there, at the cost of a diffusivity δh/2.

    **Positivity.** One Euler step of Φ writes Φ_i' as a sum of Φ_i, Φ_{i±1} (each axis) with
    weights dt(K_f ∓ u_f/2)/h ≥ 0 (K_f = (κ + κ_num)/h ≥ |u_f|/2 at every face, for any dt)
    and the own-cell weight 1 − dt[Σ_faces (K_f ± u_f/2)/h + λχ(γ|v|² + ν|∇v|²)_i], the last
    term being the sink −λσ, which is proportional to Φ_i. As K_f ± u_f/2 ≤ κ/h + |u| + δ/2,
    the own-cell weight is ≥ 0 for

    ```
    dt ≤ 1 / (2D·|v|max/h + 2D·max(D_Φ, D_S)/h² + D·δ/h + max λσ/Φ)      ("positivity")
    ```

    so Φ' ≥ 0, and S' ≥ 0 likewise (its source σ ≥ 0 once Φ ≥ 0), without clipping. That
    holds for Euler, and for Heun and SSP-RK3, which are convex combinations of Euler steps
    (Shu & Osher 1988); not for RK4. The limit is checked at the run's initial state (|v|
    may grow during a run); it exists for the monotone schemes ("smooth", "upwind" without
    the δ term, "rusanov") at order 2 and ε = 0. The order-4 stencils and the
    hyperdiffusion ε∇⁴S are not monotone operators, so with `order=4` or ε > 0 positivity
    is not guaranteed at the grid scale. `advection="upwind"`, `"rusanov"` and `"central"`
    remain selectable.

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
    advection: str = static("smooth")
    hyperdiffusion: bool = static(False)  # switched on whenever eps is set to a non-zero value

    def validate(self):
        s, eps = concrete(self.s), concrete(self.eps)
        if s is not None and not np.all((s == 1) | (s == -1)):
            raise ConfigError(f"rsvp: parameter s={s.tolist()} is invalid; s must be +1 (lamphron) or -1 (lamphrodyne)")
        if s is not None and eps is not None and np.any((s == -1) & (eps <= 0)):
            raise ConfigError("rsvp: s=-1 (lamphrodyne) needs eps > 0 (hyperdiffusion of S) to stay well-posed")
        if eps is not None and not self.hyperdiffusion and np.any(eps != 0):
            object.__setattr__(self, "hyperdiffusion", True)  # static: the ∇⁴ term is compiled in

    def stencil_radius(self) -> int:
        # ∇⁴S as the divergence of ∇(∇²S) reaches two cells (order 2) or four (order 4).
        base = super().stencil_radius()
        return 2 * base if self.hyperdiffusion else base

    def wave_speed_scale(self):
        # c_Φ + c_S bounds the sound speed √(c_Φ²Φ + s c_S²S) at Φ = S = 1
        return jnp.abs(self.c_phi) + jnp.abs(self.c_S)

    def entropy_production(self, lat: Lattice, x: State):
        speed2 = L.sum_components(x.v**2, lat)
        return self.chi * x.phi * (self.gamma * speed2 + self.nu * L.velocity_gradient_squared(x.v, lat, self.order))

    def invariant(self, lat: Lattice, x: State):
        return jnp.sum(x.phi + self.lam * x.S, axis=tuple(range(-lat.ndim, 0))) * lat.cell_volume

    def rhs(self, lat: Lattice, x: State) -> State:
        order, D = self.order, lat.ndim
        sigma = self.entropy_production(lat, x)

        dphi = -self.transport_divergence(lat, x.phi, x.v, self.D_phi) - self.lam * sigma

        if self.hyperdiffusion:  # ε ∂(∇²S) joins the S flux at the faces
            lap_S = L.laplacian(x.S, lat, order)
            S_fluxes = [F + self.eps * L.face_difference(lap_S, lat, d, order)
                        for d, F in enumerate(self.transport_fluxes(lat, x.S, x.v, self.D_S))]
            dS = -L.flux_divergence(S_fluxes, lat) + sigma
        else:
            dS = -self.transport_divergence(lat, x.S, x.v, self.D_S) + sigma

        c2, s2 = self.c_phi**2, self.s * self.c_S**2
        grad_p = L.gradient_of(lambda phi, S: c2 * phi + s2 * S, (x.phi, x.S), lat, order)  # p = c_Φ²Φ + s c_S²S
        dv = -grad_p - self.gamma * x.v + self.nu * L.laplacian(x.v, lat, order)
        if D == 2:
            v1, v2 = L.component(x.v, lat, 0), L.component(x.v, lat, 1)
            dv = dv + self.omega * L.stack_components([-v2, v1], lat)
        if self.advect_v:
            dv = dv - L.advective_derivative(x.v, lat, order)
        return State(dphi, dv, dS)

    def stability_limits(self, lat: Lattice, x: State) -> dict[str, float]:
        h = lat.spacing
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
        transport = self.transport_positivity_rate(lat, x, max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_S))))
        if transport is not None and eps == 0:
            # −λσ = −λχ(γ|v|² + ν|∇v|²)·Φ is a sink proportional to Φ: its rate adds to the own-cell weight
            sink = float(jnp.max(self.lam * self.entropy_production(lat, x) / jnp.maximum(x.phi, 1e-30)))
            limits["positivity"] = safe_div(1.0, transport + sink)
        return limits

    def time_scales(self, lat: Lattice, x: State, length: float) -> dict[str, float]:
        speed = vmax(lat, x) + self.c_phi * max(fmax(x.phi), 0.0) ** 0.5 + self.c_S * max(fmax(x.S), 0.0) ** 0.5
        diff = max(float(jnp.max(self.D_phi)), float(jnp.max(self.D_S)), float(jnp.max(self.nu)))
        return {"tile_crossing": safe_div(length, speed), "damping": safe_div(1.0, float(jnp.max(self.gamma))),
                "diffusion": safe_div(length**2, diff)}
