"""Levenberg–Marquardt on the residuals of a `Problem`: the Gauss–Newton option of `fit`.

For a least-squares loss L(u) = Σ r(u)², each step solves the damped normal equations

```
(JᵀJ + μ diag(JᵀJ)) δ = −Jᵀr,        J = ∂r/∂u  (forward mode, one jvp per unknown)
```

accepts u + δ if the loss fell (then μ shrinks), else grows μ and retries (Nielsen's update
of μ; Madsen, Nielsen & Tingleff, *Methods for non-linear least squares problems*, 2004,
§3.2). Near a zero-residual minimum (a noise-free twin experiment) it converges
quadratically, which first-order methods do not; it needs the dense J, so it is meant for a
few dozen unknowns (parameters), not for whole initial fields. The linear algebra runs in
float64 NumPy whatever the dtype of the simulation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ._problem import Problem, flat_residuals, ravel, unravel

MAX_DENSE_UNKNOWNS = 256


@jax.jit
def residuals_and_jacobian(problem: Problem, z):
    """The flat weighted residuals r and J = ∂r/∂z at the unconstrained point z (`ravel` order).

    Shared by Levenberg–Marquardt and `sensitivity`, so that one compilation serves both.
    """
    f = lambda z: flat_residuals(problem, unravel(problem, z))  # noqa: E731
    return f(z), jax.jacfwd(f)(z)


def _evaluate(problem, z):
    r, J = (np.asarray(a, np.float64) for a in residuals_and_jacobian(problem, z))
    return float(r @ r), J.T @ J, J.T @ r


def levenberg_marquardt(problem: Problem, u0: dict, *, max_iter: int = 100, tol: float = 1e-10,
                        xtol: float | None = None, report=None):
    """Minimize Σ r² from `u0`. Returns `(u, history, converged, reason)`, with `history` a list of
    `(loss, u)` at each accepted iterate (the first is the start).

    Stops when a step changes no unknown by more than `xtol`·(|u| + `xtol`) (default: 10 times the
    dtype's epsilon), when the loss falls below `tol`² times its starting value, or after
    `max_iter` accepted steps. `report(iteration, loss)` is called at each iterate. Every trial
    point is evaluated with its Jacobian, so an accepted step costs no second pass.
    """
    z = ravel(problem, u0)
    if z.size > MAX_DENSE_UNKNOWNS:
        raise ValueError(f"Levenberg–Marquardt forms a dense Jacobian; {z.size} unknowns is too many (max {MAX_DENSE_UNKNOWNS})")
    eps = float(jnp.finfo(z.dtype).eps)
    xtol = 10 * eps if xtol is None else xtol
    L, A, g = _evaluate(problem, z)
    if not (np.isfinite(L) and np.all(np.isfinite(A))):
        raise ConfigError("the loss or its Jacobian is not finite at the starting guess; start closer to the data")
    L_start = L
    history = [(L, unravel(problem, z))]
    mu, nu = 1e-3 * max(float(np.max(np.diag(A))), 1e-300), 2.0
    for it in range(max_iter + 1):
        if report is not None:
            report(it, L)
        if L <= (tol**2) * L_start or L == 0.0:
            return unravel(problem, z), history, True, "loss"
        if not np.any(g):
            return unravel(problem, z), history, True, "gradient"
        if it == max_iter:
            break
        d = np.maximum(np.diag(A), 1e-12 * max(np.max(np.diag(A)), 1e-300))
        znp = np.asarray(z, np.float64)
        while True:
            delta = np.linalg.solve(A + mu * np.diag(d), -g)
            if np.all(np.abs(delta) <= xtol * (np.abs(znp) + xtol)) or mu > 1e30:
                return unravel(problem, z), history, True, "step"
            z_new = jnp.asarray(znp + delta, z.dtype)
            L_new, A_new, g_new = _evaluate(problem, z_new)
            predicted = -(2 * delta @ g + delta @ A @ delta)
            rho = (L - L_new) / predicted if predicted > 0 else -1.0
            if np.isfinite(L_new) and np.all(np.isfinite(A_new)) and rho > 0:
                mu *= max(1 / 3, 1 - (2 * rho - 1) ** 3)
                nu = 2.0
                break
            mu *= nu
            nu *= 2
        z, L, A, g = z_new, L_new, A_new, g_new
        history.append((L, unravel(problem, z)))
    return unravel(problem, z), history, False, "max_iter"
