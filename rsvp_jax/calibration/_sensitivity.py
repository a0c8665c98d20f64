"""Sensitivity analysis: which parameters the observations pin down, and how well.

For the weighted residuals r(θ) of `rsvp_jax._fit_problem` (loss L = Σ r²), with
J = ∂r/∂θ computed in forward mode (one jvp of the run per parameter):

```
∇L  = 2 Jᵀ r                      (the gradient)
G   = Jᵀ J                        (Gauss–Newton matrix: ∇²L ≈ 2G near a good fit)
F   = Σ_f Σ_cells m (∂y_f/∂θ)ᵀ(∂y_f/∂θ) / σ_f²   (Fisher information for Gaussian noise σ_f)
SE  = √diag(F⁻¹)                  (Cramér–Rao standard errors of the fitted θ)
```

The eigen-decomposition of G tells identifiability: a large eigenvalue is a combination of
parameters the data constrain tightly, a near-zero one a combination they cannot see (a
"sloppy" direction; Gutenkunst et al., *PLoS Comput. Biol.* 3, e189, 2007). Parameters have
units, so by default the spectrum is that of the relative sensitivities θᵢθⱼGᵢⱼ, i.e. with
respect to log θ (a parameter equal to 0 keeps its absolute scale). The singular values
√eig of that J are summarized by `rsvp_jax.spectra.summarize`, like every other spectrum in
the project.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .. import spectra
from ..errors import ConfigError
from ..lattice import Lattice
from ..models import Model
from ..state import FIELDS
from ._problem import Problem, make_problem, predict, ravel


@dataclasses.dataclass(frozen=True)
class Sensitivity:
    """What `sensitivity` returns (NumPy float64 arrays; P = number of parameters).

    - `names`, `values` (P,): the parameters and the point θ they were evaluated at.
    - `loss`, `gradient` (P,): L(θ) and ∂L/∂θ.
    - `jacobian` (M, P): ∂r/∂θ over the M weighted residuals.
    - `gauss_newton` (P, P): JᵀJ in the parameters' own units.
    - `scales` (P,): the column scales of the spectrum (|θᵢ|, or 1; all 1 if `relative=False`).
    - `eigenvalues` (P,), `eigenvectors` (P, P): of diag(scales)·G·diag(scales), descending;
      column k is the k-th parameter combination.
    - `spectrum`: `rsvp_jax.spectra.summarize` of √eigenvalues (the singular values of the
      scaled J).
    - `fisher` (P, P), `standard_errors` (P,): given `noise`, else None.
    """

    names: tuple[str, ...]
    values: np.ndarray
    loss: float
    gradient: np.ndarray
    jacobian: np.ndarray
    gauss_newton: np.ndarray
    scales: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    spectrum: dict
    fisher: np.ndarray | None = None
    standard_errors: np.ndarray | None = None

    @property
    def condition_number(self) -> float:
        """λ_max / λ_min of the scaled Gauss–Newton matrix (inf if a direction is invisible)."""
        lo = self.eigenvalues[-1]
        return float(self.eigenvalues[0] / lo) if lo > 0 else float("inf")

    def identifiable(self, ratio: float = 1e-8) -> np.ndarray:
        """For each eigen-direction, whether its eigenvalue exceeds `ratio` times the largest."""
        return self.eigenvalues > ratio * self.eigenvalues[0]

    def summary(self) -> dict:
        """A JSON-able digest (`spectra.to_json` for the spectrum)."""
        out = {
            "names": list(self.names), "values": self.values, "loss": self.loss, "gradient": self.gradient,
            "eigenvalues": self.eigenvalues, "eigenvectors": self.eigenvectors,
            "condition_number": self.condition_number, "spectrum": spectra.to_json(self.spectrum),
        }
        if self.standard_errors is not None:
            out["standard_errors"] = dict(zip(self.names, self.standard_errors.tolist()))
        return out

    def plot(self, title: str = ""):
        """The eigen-spectrum and the parameter make-up of each direction (`plots_fit.plot_sensitivity`)."""
        from ..plots import plot_sensitivity

        return plot_sensitivity(self, title=title)


@jax.jit
def _theta_residuals_and_jacobian(problem: Problem, theta):
    """r and ∂r/∂θ directly in the parameters (used when a softplus parameter sits at 0)."""

    def f(theta):
        model = problem.model.replace(**{n: theta[i] for i, n in enumerate(problem.names)})
        pred = predict(model, problem.lat, problem.x0, problem.dt, problem.steps, problem.method, problem.checkpoint_every)
        r = jax.tree.map(lambda p, y, w: jnp.sqrt(w) * (p - y), pred, problem.observed, problem.weight)
        return jnp.concatenate([a.ravel() for a in jax.tree.leaves(r)])

    return f(theta), jax.jacfwd(f)(theta)


def residuals_and_jacobian_theta(problem: Problem, values: np.ndarray):
    """(r, ∂r/∂θ) in float64 at θ = `values`. Where every softplus parameter is > 0 this reuses
    the compiled Jacobian of Levenberg–Marquardt (in u, then ∂θ/∂u = 1 − e^{−θ})."""
    positive = np.asarray(problem.positive, bool)
    if np.all(values[positive] > 0):
        from ._gauss_newton import residuals_and_jacobian

        u = problem.u0  # softplus⁻¹(θ) where positive, θ elsewhere
        r, J = residuals_and_jacobian(problem, ravel(problem, u))
        dtheta_du = np.where(positive, -np.expm1(-np.where(positive, values, 1.0)), 1.0)
        return np.asarray(r, np.float64), np.asarray(J, np.float64) / dtheta_du[None, :]
    r, J = _theta_residuals_and_jacobian(problem, jnp.asarray(values, problem.dtype))
    return np.asarray(r, np.float64), np.asarray(J, np.float64)


def sensitivity(
    model: Model,
    lat: Lattice,
    observations,
    params,
    *,
    dt=None,
    x0=None,
    fields=FIELDS,
    mask=None,
    scale=None,
    method: str = "ssprk3",
    noise=None,
    relative: bool = True,
    checkpoint_every: int | None = None,
) -> Sensitivity:
    """Gradient, Gauss–Newton / Fisher matrix and identifiability spectrum of the fit loss at `model`.

    The arguments are those of `rsvp_jax.calibration.fit` (`params` plays the part of `fit`), plus:

    - `noise`: the standard deviation σ of the observation noise, one number or a dict
      field → σ_f; given it, `fisher` and `standard_errors` are filled in.
    - `relative`: take the spectrum with respect to log θ (default) rather than θ.

    Evaluate it at the fitted model to get error bars, or at a guess to see, before fitting,
    which parameters the observations can determine.
    """
    problem = make_problem(model, lat, observations, params, dt=dt, x0=x0, fields=fields, mask=mask, scale=scale,
                           method=method, checkpoint_every=checkpoint_every, nudge=False)
    if not problem.names:
        raise ConfigError("sensitivity needs at least one parameter name")
    values = np.asarray([float(getattr(model, n)) for n in problem.names], np.float64)
    r, J = residuals_and_jacobian_theta(problem, values)
    sigma = _noise(noise, problem_fields(problem))
    fisher = None
    if sigma is not None:
        # r = √w (y_pred − y) entry by entry, so ∂y_pred/∂θ = J / √w where w > 0.
        w = np.concatenate([np.broadcast_to(np.asarray(getattr(problem.weight, f), np.float64),
                                            np.shape(getattr(problem.observed, f))).ravel() for f in FIELDS])
        s2 = np.concatenate([np.full(int(np.prod(np.shape(getattr(problem.observed, f)))), sigma.get(f, np.inf) ** 2)
                             for f in FIELDS])
        c = np.where(w > 0, 1.0 / np.where(w > 0, w, 1.0) / s2, 0.0)
        fisher = J.T @ (c[:, None] * J)
    G = J.T @ J
    scales = np.where(values != 0, np.abs(values), 1.0) if relative else np.ones_like(values)
    lam, vec = np.linalg.eigh(scales[:, None] * G * scales[None, :])
    order = np.argsort(lam)[::-1]
    lam, vec = np.clip(lam[order], 0.0, None), vec[:, order]
    vec = vec * np.where(vec[np.argmax(np.abs(vec), axis=0), np.arange(len(lam))] < 0, -1.0, 1.0)  # sign: largest entry > 0
    summary = {k: np.asarray(v) for k, v in spectra.summarize(jnp.asarray(np.sqrt(lam))).items()}
    se = None
    if sigma is not None:
        se = np.sqrt(np.clip(np.diag(np.linalg.pinv(fisher)), 0.0, None))
    return Sensitivity(names=problem.names, values=values, loss=float(r @ r), gradient=2 * J.T @ r, jacobian=J,
                       gauss_newton=G, scales=scales, eigenvalues=lam, eigenvectors=vec, spectrum=summary,
                       fisher=fisher, standard_errors=se)


def problem_fields(problem: Problem) -> tuple[str, ...]:
    """The fields the loss compares (those with a non-zero weight somewhere)."""
    return tuple(f for f in FIELDS if bool(jnp.any(getattr(problem.weight, f) > 0)))


def _noise(noise, fields):
    """σ_f for each compared field, from one number or a dict that must cover them all."""
    if noise is None:
        return None
    if isinstance(noise, dict):
        bad = [f for f in noise if f not in FIELDS]
        if bad:
            raise ConfigError(f"noise for {bad[0]!r}: valid fields are {', '.join(FIELDS)}")
        missing = [f for f in fields if f not in noise]
        if missing:
            raise ConfigError(f"noise gives no standard deviation for the compared field {missing[0]!r}")
        out = {f: float(s) for f, s in noise.items()}
    else:
        out = {f: float(noise) for f in fields}
    if any(not s > 0 for s in out.values()):
        raise ConfigError(f"noise {noise!r} is invalid; every standard deviation must be > 0")
    return out
