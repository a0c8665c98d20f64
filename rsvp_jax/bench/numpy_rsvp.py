"""A straightforward NumPy implementation of the default "rsvp" model: the speed baseline.

The same finite-volume discretisation as `rsvp_jax.models.Rsvp` (order 2, the default
smooth face flux or upwinding, as the model selects; no hyperdiffusion, no self-advection,
any D) written the way one would without JAX: `np.roll` stencils and an SSP-RK3 loop. `bench/solver.py` first checks that it gives the
same states as the JAX solver, then times both.
"""

from __future__ import annotations

import numpy as np


def _shift(f, k, axis):
    return np.roll(f, -k, axis=axis)


def rhs(p: dict, h: float, phi, v, S, advection: str = "smooth"):
    """∂t(Φ, v, S) of the rsvp model for NumPy arrays; `p` holds the model's parameters."""
    D = phi.ndim
    speed2 = np.sum(v**2, axis=0)
    grad_v2 = 0.0
    for d in range(D):
        g2 = np.sum(((_shift(v, 1, d + 1) - v) / h) ** 2, axis=0)
        grad_v2 = grad_v2 + 0.5 * (g2 + _shift(g2, -1, d))
    sigma = p["chi"] * phi * (p["gamma"] * speed2 + p["nu"] * grad_v2)

    delta = 0.01 * (abs(p["c_phi"]) + abs(p["c_S"]))  # δ = `lattice.DISSIPATION_FLOOR` × (|c_Φ| + |c_S|)

    def transport(q, diff):
        out = 0.0
        for d in range(D):
            u = 0.5 * (v[d] + _shift(v[d], 1, d))
            q_right = _shift(q, 1, d)
            if advection == "upwind":
                flux = np.maximum(u, 0) * q + np.minimum(u, 0) * q_right - diff * (q_right - q) / h
            else:  # the smooth flux: u q̄ − (κ⁴ + (a h/2)⁴)^{1/4} ∂q, a = √(u² + δ²)
                b = 0.5 * h * np.sqrt(u * u + delta * delta)
                flux = 0.5 * u * (q + q_right) - (diff**4 + b**4) ** 0.25 * (q_right - q) / h
            out = out - (flux - _shift(flux, -1, d)) / h
        return out

    def lap(f, axes_offset=0):
        return sum((_shift(f, 1, d + axes_offset) - 2 * f + _shift(f, -1, d + axes_offset)) / h**2 for d in range(D))

    dphi = transport(phi, p["D_phi"]) - p["lam"] * sigma
    dS = transport(S, p["D_S"]) + sigma
    pressure = p["c_phi"] ** 2 * phi + p["s"] * p["c_S"] ** 2 * S
    grad_p = np.stack([(_shift(pressure, 1, d) - _shift(pressure, -1, d)) / (2 * h) for d in range(D)])
    dv = -grad_p - p["gamma"] * v + p["nu"] * lap(v, 1)
    if D == 2:
        dv = dv + p["omega"] * np.stack([-v[1], v[0]])
    return dphi, dv, dS


def ssprk3(p: dict, h: float, phi, v, S, dt: float, steps: int, advection: str = "smooth"):
    """`steps` SSP-RK3 steps."""
    x = (phi, v, S)
    for _ in range(steps):
        k = rhs(p, h, *x, advection)
        u1 = tuple(a + dt * b for a, b in zip(x, k))
        k = rhs(p, h, *u1, advection)
        u2 = tuple(0.75 * a + 0.25 * (b + dt * c) for a, b, c in zip(x, u1, k))
        k = rhs(p, h, *u2, advection)
        x = tuple(a / 3 + 2 / 3 * (b + dt * c) for a, b, c in zip(x, u2, k))
    return x


def supports(model) -> bool:
    """Whether this implementation covers `model` (the default configuration of "rsvp", or it with upwinding)."""
    return (model.name == "rsvp" and model.order == 2 and model.advection in ("smooth", "upwind")
            and not model.advect_v and not model.hyperdiffusion)
