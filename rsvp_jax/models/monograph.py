"""The monograph preset: a scalar wave with a potential, a rotating damped flow, and an entropy balance."""

from __future__ import annotations

import jax.numpy as jnp

from .. import lattice as L
from ..lattice import Lattice
from ..state import State
from ._base import Model, fmax, register, safe_div, static
from .rsvp import COURANT


@register
class Monograph(Model):
    r"""The field equations of the RSVP monograph (`"monograph"`).

    ```
    ∂tΦ = −∇·v + σ S − U′(Φ),          U(Φ) = m2 Φ²/2 + g Φ⁴/4
    ∂t v = −λ ∇Φ − ν v + κ ∇×v  [+ ν_v ∇²v]
    ∂tS = D_S ∇²S − μ Φ + χ |v|²
    ```

    Source: the monograph form of the RSVP literature, as quoted in
    `../shared/DESIGN.md` (the source leaves U unspecified; the quartic above is the simplest
    bounded-below choice). Corrections, documented here:

    - In 3D, κ∇×v is a first-order operator with a real spectrum (±|k| on helical modes):
      on its own it makes short waves grow at the rate κ|k|, without bound as k grows — an
      ill-posed problem. The added viscosity ν_v∇²v (`nu_v`, default 0.05) caps the growth
      rate at κ²/(4ν_v).
    - In 2D, ∇×v is a scalar and cannot enter a vector equation; the term is read as the
      rotation κ ẑ×v (energy-neutral). In 1D it vanishes.

    Nothing is conserved in general (σS, U′ and μΦ are sources); `entropy_production` is the
    local source χ|v|² − μΦ of S, which may take either sign.
    """

    name = "monograph"
    nonnegative = ("lam", "nu", "D_S", "chi", "g", "nu_v")

    sigma: float = 0.05
    m2: float = 0.1
    g: float = 0.0
    lam: float = 1.0
    nu: float = 0.1
    kappa: float = 0.2
    nu_v: float = 0.05
    D_S: float = 0.05
    mu: float = 0.01
    chi: float = 0.5
    order: int = static(2)

    def entropy_production(self, lat: Lattice, x: State):
        return self.chi * L.sum_components(x.v**2, lat) - self.mu * x.phi

    def rotation(self, lat: Lattice, v):
        """κ∇×v in 3D, κ ẑ×v in 2D, 0 in 1D."""
        if lat.ndim == 3:
            return self.kappa * L.curl(v, lat, self.order)
        if lat.ndim == 2:
            return self.kappa * L.stack_components([-L.component(v, lat, 1), L.component(v, lat, 0)], lat)
        return L.zeros_like(v)

    def rhs(self, lat: Lattice, x: State) -> State:
        order = self.order
        dphi = -L.divergence(x.v, lat, order) + self.sigma * x.S - (self.m2 * x.phi + self.g * x.phi**3)
        dv = (
            -self.lam * L.gradient(x.phi, lat, order)
            - self.nu * x.v
            + self.rotation(lat, x.v)
            + self.nu_v * L.laplacian(x.v, lat, order)
        )
        dS = self.D_S * L.laplacian(x.S, lat, order) + self.entropy_production(lat, x)
        return State(dphi, dv, dS)

    def stability_limits(self, lat: Lattice, x: State) -> dict[str, float]:
        h, D = lat.spacing, lat.ndim
        deig = L.max_derivative_eigenvalue(lat, self.order) * h  # per unit 1/h
        diff = max(float(jnp.max(self.D_S)), float(jnp.max(self.nu_v)))
        curvature = float(jnp.max(jnp.abs(self.m2 + 3 * self.g * fmax(x.phi**2))))
        kappa = float(jnp.max(jnp.abs(self.kappa)))
        rotation = {1: 0.0, 2: kappa, 3: kappa * D**0.5 * deig / h}[D]
        return {
            "diffusion": safe_div(2.0, L.max_laplacian_eigenvalue(lat, self.order) * diff),
            "advection": safe_div(COURANT * h, float(jnp.max(self.lam)) ** 0.5 * D**0.5 * deig),
            "damping": safe_div(1.0, float(jnp.max(self.nu)) + curvature),
            "rotation": safe_div(COURANT, rotation),
        }

    def time_scales(self, lat: Lattice, x: State, length: float) -> dict[str, float]:
        # ∂tΦ = −∇·v, ∂t v = −λ∇Φ: waves at speed √λ
        diff = max(float(jnp.max(self.D_S)), float(jnp.max(self.nu_v)))
        return {"tile_crossing": safe_div(length, float(jnp.max(self.lam)) ** 0.5),
                "damping": safe_div(1.0, float(jnp.max(self.nu))), "diffusion": safe_div(length**2, diff)}
