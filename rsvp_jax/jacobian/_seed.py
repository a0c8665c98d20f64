"""The seed's "RSVP Jacobian Prototype Simulation", reproduced exactly and checked.

The seed conversation (`../shared/seed/`, "RSVP Jacobian Prototype Simulation") computes the
4×4 Jacobian of one tile's update ∂(Φ′, v₁′, v₂′, S′)/∂(Φ, v₁, v₂, S) at
x0 = [1.0, 0.5, −0.5, 0.2] by central differences (eps = 1e-5), then its SVD: a Jacobian
heatmap, a log singular-value spectrum and the top input / output directions. Its code does
not run as written: `grad_phi` is a scalar, so `np.dot(v, grad_phi)` makes Φ′ a 2-vector and
the final `np.concatenate` fails (and α…λ are never given values). The `"seed"` model is the
consistent reading (∇Φ the central-difference 2-vector; α = β = γ = δ = η = λ = 0.1).

What "reproduce exactly" means here:

- The seed's `wrapped_evolution` sets every left / right neighbour (along the first axis) to
  the centre ∓ 0.1; it has no second axis. We place that on a 3×3 periodic lattice: row 0 =
  x0 − 0.1, row 1 = x0, row 2 = x0 + 0.1 (uniform along the second axis, so ∂Φ/∂y = 0).
  Then at every centre-row cell ∇Φ = (0.1, 0) and v_r − v_l = (0.2, 0.2), as in the seed.
  (`neighbours="uniform"` instead puts x0 in every cell: ∇Φ = 0.)
- The exact Jacobian is `tile_jacobians(seed, lat, x, tile=1, halo=False)` at a centre-row
  cell, float64. Because the update reads its neighbours only through differences, it is the
  same whether the neighbours stay put (the tile Jacobian) or move with the centre (the
  seed's `wrapped_evolution`); in closed form

  ```
  J = [[1, α∂xΦ, α∂yΦ, −αβ],
       [0,   1,     0,    0],
       [0,   0,     1,    0],
       [0, −2ηλv₁, −2ηλv₂, 1]]
  ```

- The finite difference is the seed's own `compute_jacobian` (central, eps = 1e-5) applied
  to the seed's `wrapped_evolution` with the scalar gradient made the 2-vector it denotes, in
  float64 NumPy. The update is at most quadratic, so the central difference has no truncation
  error (its third derivative is 0): what remains is round-off, about u·max|f|/eps ≈ 1e-11
  with u = 2⁻⁵³. `fd_error_bound` is 10 u·max|f|/eps.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..lattice import Lattice
from ..models import preset
from ..state import State
from ._tiles import tile_jacobians

SEED_X0 = (1.0, 0.5, -0.5, 0.2)
SEED_OFFSET = 0.1
SEED_EPS = 1e-5
CHANNELS = ("phi", "v1", "v2", "S")


@dataclasses.dataclass(frozen=True)
class SeedPrototype:
    """The seed prototype's numbers (NumPy, float64). `U`, `Vt` as `numpy.linalg.svd` returns them,
    signed so that the largest entry of each input direction is positive."""

    x0: np.ndarray
    neighbours: str
    params: dict
    state: State
    jacobian: np.ndarray
    analytic: np.ndarray
    jacobian_fd: np.ndarray
    fd_error: float
    fd_error_bound: float
    singular_values: np.ndarray
    U: np.ndarray
    Vt: np.ndarray

    @property
    def top_input(self) -> np.ndarray:
        """Vt[0]: the most effective perturbation of [Φ, v₁, v₂, S]."""
        return self.Vt[0]

    @property
    def top_output(self) -> np.ndarray:
        """U[:, 0]: the dominant output direction."""
        return self.U[:, 0]


def seed_lattice_state(x0=SEED_X0, neighbours: str = "seed") -> tuple[Lattice, State]:
    """The 3×3 lattice and state described in the module docstring (float64)."""
    if neighbours not in ("seed", "uniform"):
        raise ConfigError(f"neighbours={neighbours!r} is invalid; use 'seed' (centre ± 0.1) or 'uniform'")
    x0 = np.asarray(x0, np.float64)
    offsets = np.array([-SEED_OFFSET, 0.0, SEED_OFFSET]) if neighbours == "seed" else np.zeros(3)
    rows = x0[:, None] + offsets[None, :]  # (4 channels, 3 rows)
    arr = np.repeat(rows[:, :, None], 3, axis=2)  # (4, 3, 3): uniform along the second axis
    lat = Lattice((3, 3))
    return lat, State(jnp.asarray(arr[0]), jnp.asarray(arr[1:3]), jnp.asarray(arr[3]))


def seed_evolve_tile(p: dict, phi, v, S, phi_l, phi_r, v_l, v_r, S_l, S_r, dphi_dy=0.0):
    """The seed's `evolve_tile`, with ∇Φ the 2-vector (0.5 (Φ_r − Φ_l), ∂Φ/∂y) it denotes."""
    grad_phi = np.array([0.5 * (phi_r - phi_l), dphi_dy])
    curl_v = v_r - v_l
    new_phi = phi + p["alpha"] * (np.dot(v, grad_phi) - p["beta"] * S)
    new_v = v + p["gamma"] * (grad_phi - p["delta"] * curl_v)
    new_S = S + p["eta"] * (np.linalg.norm(grad_phi) ** 2 - p["lam"] * np.linalg.norm(v) ** 2)
    return new_phi, new_v, new_S


def seed_wrapped_evolution(p: dict, neighbours: str = "seed"):
    """The seed's `wrapped_evolution`: [Φ, v₁, v₂, S] → the same after one tile update."""
    off = SEED_OFFSET if neighbours == "seed" else 0.0

    def f(x):
        phi, v1, v2, S = x
        v = np.array([v1, v2])
        phi_, v_, S_ = seed_evolve_tile(p, phi, v, S, phi - off, phi + off, v - off, v + off, S - off, S + off)
        return np.concatenate([[phi_], v_, [S_]])

    return f


def seed_compute_jacobian(f, x, eps: float = SEED_EPS) -> np.ndarray:
    """The seed's `compute_jacobian`: J[:, i] = (f(x + eps e_i) − f(x − eps e_i)) / (2 eps)."""
    x = np.asarray(x, np.float64)
    m = len(f(x))
    J = np.zeros((m, len(x)))
    for i in range(len(x)):
        dx = np.zeros_like(x)
        dx[i] = eps
        J[:, i] = (f(x + dx) - f(x - dx)) / (2 * eps)
    return J


def seed_analytic_jacobian(p: dict, grad_phi, v) -> np.ndarray:
    """The closed form of the module docstring."""
    a, b, e, lam = p["alpha"], p["beta"], p["eta"], p["lam"]
    return np.array([
        [1.0, a * grad_phi[0], a * grad_phi[1], -a * b],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, -2 * e * lam * v[0], -2 * e * lam * v[1], 1.0],
    ])


def seed_prototype(x0=SEED_X0, neighbours: str = "seed", eps: float = SEED_EPS, **params) -> SeedPrototype:
    """The seed's prototype, exact beside its finite difference (see the module docstring).

    `params` change the seed model's α, β, γ, δ, η, λ (`alpha`, ..., `lam`). Needs nothing
    global: float64 is switched on for the duration of the call.
    """
    model = preset("seed", **params)
    p = {k: float(v) for k, v in model.params().items()}
    with jax.enable_x64(True):
        lat, x = seed_lattice_state(x0, neighbours)
        J = np.asarray(tile_jacobians(model, lat, x, 1.0, tile=1, steps=1, halo=False, method="euler"))[1, 1]
    x0 = np.asarray(x0, np.float64)
    f = seed_wrapped_evolution(p, neighbours)
    J_fd = seed_compute_jacobian(f, x0, eps)
    off = SEED_OFFSET if neighbours == "seed" else 0.0
    analytic = seed_analytic_jacobian(p, (off, 0.0), x0[1:3])
    U, s, Vt = np.linalg.svd(J)
    flip = np.sign(Vt[np.arange(len(s)), np.argmax(np.abs(Vt), axis=1)])
    U, Vt = U * flip[None, :], Vt * flip[:, None]
    scale = max(float(np.max(np.abs(f(x0)))), 1.0)
    return SeedPrototype(
        x0=x0, neighbours=neighbours, params=p, state=x, jacobian=J, analytic=analytic, jacobian_fd=J_fd,
        fd_error=float(np.max(np.abs(J_fd - J))), fd_error_bound=10 * np.finfo(np.float64).eps / 2 * scale / eps,
        singular_values=s, U=U, Vt=Vt,
    )


__all__ = ["SeedPrototype", "seed_prototype", "seed_lattice_state", "seed_evolve_tile", "seed_wrapped_evolution",
           "seed_compute_jacobian", "seed_analytic_jacobian", "SEED_X0", "SEED_EPS", "SEED_OFFSET", "CHANNELS"]
