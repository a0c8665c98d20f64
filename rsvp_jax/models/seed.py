"""The seed's tile rule, made consistent: a discrete map on a 2D lattice."""

from __future__ import annotations


from .. import lattice as L
from ..lattice import Lattice
from ..state import State
from ._base import Model, register


@register
class Seed(Model):
    r"""The tile update of the seed conversation (`"seed"`), a discrete map on a 2D lattice.

    ```
    Φ' = Φ + α (v·∇Φ − β S)
    v' = v + γ (∇Φ − δ (v_r − v_l))
    S' = S + η (|∇Φ|² − λ |v|²)
    ```

    ∇Φ is the central-difference gradient (both axes; the seed's `0.5 * (phi_r - phi_l)`
    at h = 1) and r / l are the neighbours along the first axis. The seed's own code
    (`evolve_tile`) took ∇Φ as a scalar, so `np.dot(v, grad_phi)` made Φ' a vector and the
    state could not be reassembled; here ∇Φ is the 2-vector it denotes, which makes every
    term well-typed. The seed names no parameter values: all six default to 0.1.

    It is a map, not a rate: one `step` applies it once, whatever the integrator or dt.
    Source: `../shared/seed/` ("RSVP Jacobian Prototype Simulation").
    """

    name = "seed"
    dims = (2,)
    discrete = True

    alpha: float = 0.1
    beta: float = 0.1
    gamma: float = 0.1
    delta: float = 0.1
    eta: float = 0.1
    lam: float = 0.1

    def entropy_production(self, lat: Lattice, x: State):
        grad = L.gradient(x.phi, lat)
        return self.eta * (L.sum_components(grad**2, lat) - self.lam * L.sum_components(x.v**2, lat))

    def map(self, lat: Lattice, x: State) -> State:
        grad = L.gradient(x.phi, lat)  # central differences, order 2
        phi = x.phi + self.alpha * (L.sum_components(x.v * grad, lat) - self.beta * x.S)
        first = -lat.ndim  # the first spatial axis
        v = x.v + self.gamma * (grad - self.delta * (L.shift(x.v, 1, first) - L.shift(x.v, -1, first)))
        S = x.S + self.entropy_production(lat, x)
        return State(phi, v, S)
