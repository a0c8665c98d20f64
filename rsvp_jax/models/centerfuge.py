"""The CENTERFUGE preset: a diffusing potential, a flow relaxing to its gradient, entropy from motion."""

from __future__ import annotations

import jax.numpy as jnp

from .. import lattice as L
from ..lattice import Lattice
from ..state import State
from ._base import Model, register, safe_div, static


@register
class Centerfuge(Model):
    r"""The CENTERFUGE field equations (`"centerfuge"`).

    ```
    ∂tφ = D ∇²φ − α |∇S|²
    ∂t v = (v_target − v) / τ,     v_target = −β ∇φ
    ∂tS = η |v| + γ φ²
    ```

    Source: the CENTERFUGE form of the RSVP
    literature, as quoted in `../shared/DESIGN.md`. Two corrections, both documented here:

    - |v| is not differentiable at v = 0, which breaks `jax.grad` and the tile Jacobians of
      a fluid at rest; it is read as the smooth √(|v|² + δ²) − δ (δ = `delta`, 1e-6 by
      default), which differs from |v| by less than δ.
    - S has no transport or diffusion, so |∇S|² in the φ equation can grow without bound at
      the grid scale; an optional entropy diffusivity `D_S` (default 0, i.e. the source form)
      regularises it.

    Nothing is conserved: φ only loses (−α|∇S|²) and S only gains (η|v| + γφ² ≥ 0).
    """

    name = "centerfuge"
    nonnegative = ("D", "alpha", "eta", "gamma", "D_S")
    positive = ("tau", "delta")

    D: float = 0.1
    alpha: float = 0.05
    beta: float = 1.0
    tau: float = 1.0
    eta: float = 0.05
    gamma: float = 0.01
    D_S: float = 0.0
    delta: float = 1e-6
    order: int = static(2)

    def speed(self, lat: Lattice, x: State):
        """The smoothed |v| = √(|v|² + δ²) − δ."""
        return L.sqrt(L.sum_components(x.v**2, lat) + self.delta**2) - self.delta

    def entropy_production(self, lat: Lattice, x: State):
        return self.eta * self.speed(lat, x) + self.gamma * x.phi**2

    def rhs(self, lat: Lattice, x: State) -> State:
        order = self.order
        grad_S2 = L.sum_components(L.gradient(x.S, lat, order) ** 2, lat)
        dphi = self.D * L.laplacian(x.phi, lat, order) - self.alpha * grad_S2
        dv = (-self.beta * L.gradient(x.phi, lat, order) - x.v) / self.tau
        dS = self.entropy_production(lat, x) + self.D_S * L.laplacian(x.S, lat, order)
        return State(dphi, dv, dS)

    def stability_limits(self, lat: Lattice, x: State) -> dict[str, float]:
        diff = max(float(jnp.max(self.D)), float(jnp.max(self.D_S)))
        return {
            "diffusion": safe_div(2.0, L.max_laplacian_eigenvalue(lat, self.order) * diff),
            "damping": float(jnp.min(self.tau)),  # the relaxation ∂t v = −v/τ
        }

    def time_scales(self, lat: Lattice, x: State, length: float) -> dict[str, float]:
        # nothing is transported: no crossing time; v relaxes at 1/τ
        diff = max(float(jnp.max(self.D)), float(jnp.max(self.D_S)))
        return {"damping": float(jnp.max(self.tau)), "diffusion": safe_div(length**2, diff)}
