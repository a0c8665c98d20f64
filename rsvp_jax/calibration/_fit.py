"""Calibration: fit model parameters (and initial fields) to observed snapshots with optax.

```python
import optax, rsvp_jax as rj
lat = rj.Lattice((16, 16))
truth = rj.preset("rsvp")
obs = rj.simulate(truth, lat, rj.initial_state(lat), dt=0.05, steps=100, save_every=10)
res = rj.fit(truth.replace(gamma=0.15, D_S=0.03), lat, obs, fit=("gamma", "D_S"), dt=0.05)
res.model.gamma, res.loss_history, res.plot(truth=truth)
```

The loss, the reparameterization that keeps every unknown in its valid range, and the
checkpointed rollout are described in `rsvp_jax._fit_problem`. The optimizer is any optax
`GradientTransformation` (`optax.adam(1e-2)`, ...), or by name:

| `optimizer` | method                                                         | cost per iteration        |
|-------------|----------------------------------------------------------------|---------------------------|
| `"lbfgs"`   | `optax.lbfgs` with its zoom line search (the default)          | ≥ 1 value + gradient      |
| `"adam"`    | `optax.adam(0.05)` (steps in the softplus-unconstrained space) | 1 value + gradient        |
| `"lm"`      | Levenberg–Marquardt (`rsvp_jax._gauss_newton`), dense J        | 1 forward pass per unknown |
| `"auto"`    | `"lm"` when only parameters are fitted, else `"lbfgs"`         |                           |

L-BFGS handles thousands of unknowns (whole initial fields); Levenberg–Marquardt converges
quadratically on a few parameters and is the fastest way to the last digits of a
noise-free twin experiment (measured on a 12² twin fitting three parameters, float32:
L-BFGS 13 iterations to 2e-6 relative error, LM 3 iterations to 1e-6, in about a third
of L-BFGS's compile time, which dominates both).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..integrate import check_timestep
from ..lattice import Lattice
from ..models import Model
from ..progress import Progress
from ..state import FIELDS, State
from ._problem import Problem, constrain, loss, make_problem, ravel

OPTIMIZERS = ("lbfgs", "adam", "lm", "auto")


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `fit` returns.

    - `model`, `x0`: the fitted model and initial state (fields not fitted are the given ones).
    - `start`: the model the fit started from.
    - `names`, `fit_initial`: the fitted parameters and initial fields.
    - `loss_history` (iterations + 1,): the loss at each iterate, the start first.
    - `param_history`: name → (iterations + 1,) values of each fitted parameter.
    - `converged`, `reason`: whether a stopping test (not `max_iter`) ended the fit, and which:
      `"loss"` (the misfit fell below `tol` of its start), `"step"` (the unknowns stopped
      moving), `"stalled"` (no progress for `patience` iterations) or `"max_iter"`.
    """

    model: Model
    x0: State
    start: Model
    names: tuple[str, ...]
    fit_initial: tuple[str, ...]
    loss_history: np.ndarray
    param_history: dict
    converged: bool
    reason: str
    optimizer: str
    seconds: float

    @property
    def iterations(self) -> int:
        return len(self.loss_history) - 1

    @property
    def loss(self) -> float:
        return float(self.loss_history[-1])

    @property
    def params(self) -> dict:
        return {n: float(getattr(self.model, n)) for n in self.names}

    def relative_errors(self, truth: Model) -> dict:
        """|θ − θ*| / |θ*| for each fitted parameter, against a known `truth` (twin experiments)."""
        return {n: abs(float(getattr(self.model, n)) - float(getattr(truth, n))) / max(abs(float(getattr(truth, n))), 1e-300)
                for n in self.names}

    def summary(self, truth: Model | None = None) -> dict:
        """A JSON-able digest: fitted and starting values, loss, iterations, stop reason."""
        out = {
            "fitted": self.params, "start": {n: float(getattr(self.start, n)) for n in self.names},
            "fit_initial": list(self.fit_initial), "loss_start": float(self.loss_history[0]), "loss": self.loss,
            "iterations": self.iterations, "converged": self.converged, "reason": self.reason,
            "optimizer": self.optimizer, "seconds": round(self.seconds, 3),
        }
        if truth is not None:
            out["truth"] = {n: float(getattr(truth, n)) for n in self.names}
            out["relative_error"] = self.relative_errors(truth)
        return out

    def plot(self, truth: Model | None = None, title: str = ""):
        """The loss and parameter histories (`rsvp_jax.plots_fit.plot_fit`)."""
        from ..plots import plot_fit

        return plot_fit(self, truth=truth, title=title)


def fit(
    model: Model,
    lat: Lattice,
    observations,
    fit=(),
    *,
    dt=None,
    x0: State | None = None,
    fit_initial=(),
    initial_mask=None,
    fields=FIELDS,
    mask=None,
    scale=None,
    method: str = "ssprk3",
    optimizer="lbfgs",
    max_iter: int = 200,
    tol: float = 1e-6,
    patience: int = 20,
    checkpoint_every: int | None = None,
    progress=False,
) -> FitResult:
    """Fit the parameters `fit` (and the initial fields `fit_initial`) of `model` to `observations`.

    Args:
      model: the starting guess; parameters not in `fit` are held at its values.
      lat: the lattice of the observations.
      observations: a `Trajectory` (e.g. from `simulate` or `rsvp_jax.io.load_trajectory`):
        snapshots at increasing step numbers `observations.steps`.
      fit: names of model parameters to fit, e.g. `("gamma", "D_S")`.
      dt: the time step of the run (default: inferred from `observations.times / steps`).
      x0: the initial state, or the starting guess of the fitted initial fields (default: the
        snapshot at step 0, which the observations must then hold). Every snapshot counts in
        the loss, one at step 0 too: it compares x0 with it, which only matters when initial
        fields are fitted (then leave it out, e.g. `observations[1:]`, to fit from later data).
      fit_initial: initial fields to fit too: some of `"phi"`, `"v"`, `"S"` (or True for all).
      initial_mask: (*N) booleans: fit the initial fields only there (elsewhere `x0` is kept).
      fields: the observed fields the loss compares (default all three).
      mask: 0/1 weights of the observed cells, broadcastable to (snapshots, *N).
      scale: field → s_f, the misfit unit of each field (default: its observed std).
      method: the integrator that made the observations.
      optimizer: `"lbfgs"` (default), `"adam"`, `"lm"`, `"auto"` (see the module table), or any
        optax `GradientTransformation`.
      max_iter: the most iterations (optimizer updates; for `"lm"`, Jacobian evaluations).
      tol: stop when the rms misfit falls below `tol` times its starting value.
      patience: stop when the loss has not improved by a relative 1e-6 for this many iterations.
      checkpoint_every: steps per `jax.checkpoint` chunk of the rollout (default √steps once a
        run has ≥ 100 steps; 0 switches checkpointing off).
      progress: True for a tqdm bar showing the loss, or a callable `progress(iteration, loss)`.

    Returns a `FitResult`. Raises `ConfigError` for unknown names or inconsistent shapes, and
    `UnstableTimestepError` if dt is unstable for the starting guess.
    """
    t0 = time.perf_counter()
    problem = make_problem(model, lat, observations, fit, dt=dt, x0=x0, fit_initial=fit_initial,
                           initial_mask=initial_mask, fields=fields, mask=mask, scale=scale, method=method,
                           checkpoint_every=checkpoint_every)
    if not problem.model.discrete:
        check_timestep(problem.model, lat, problem.x0, float(problem.dt))
    if max_iter < 0 or not (tol >= 0):
        raise ConfigError(f"max_iter={max_iter} and tol={tol} must be >= 0")
    u0 = problem.u0
    report, close = _reporter(progress, max_iter)
    if isinstance(optimizer, str) and optimizer == "auto":
        optimizer = "lbfgs" if problem.fit_initial else "lm"
    try:
        if optimizer in ("lm", "gauss-newton", "levenberg-marquardt"):
            from ._gauss_newton import MAX_DENSE_UNKNOWNS, levenberg_marquardt

            if problem.n_unknowns > MAX_DENSE_UNKNOWNS:
                raise ConfigError(f"optimizer 'lm' forms a dense Jacobian; {problem.n_unknowns} unknowns is too many "
                                  f"(max {MAX_DENSE_UNKNOWNS}): use 'lbfgs' to fit initial fields")
            u, history, converged, reason = levenberg_marquardt(problem, u0, max_iter=max_iter, tol=tol, report=report)
            name = "lm"
        else:
            opt, name = _optimizer(optimizer)
            u, history, converged, reason = _optax_loop(problem, u0, opt, max_iter, tol, patience, report)
    finally:
        close()
    fitted, x0_fit = constrain(problem, u)
    fitted = jax.tree.map(lambda a: np.asarray(a).item() if np.ndim(a) == 0 else a, fitted)
    losses = np.array([h[0] for h in history])
    models = [constrain(problem, h[1])[0] for h in history]
    params = {n: np.array([float(getattr(m, n)) for m in models]) for n in problem.names}
    return FitResult(model=fitted, x0=x0_fit, start=problem.model, names=problem.names, fit_initial=problem.fit_initial,
                     loss_history=losses, param_history=params, converged=bool(converged), reason=reason,
                     optimizer=name, seconds=time.perf_counter() - t0)


def _optimizer(optimizer):
    import optax

    if isinstance(optimizer, str):
        if optimizer == "lbfgs":
            return optax.lbfgs(), "lbfgs"
        if optimizer == "adam":
            return optax.adam(0.05), "adam"
        raise ConfigError(f"optimizer {optimizer!r} is unknown; valid names are {', '.join(OPTIMIZERS)}, "
                          "or pass an optax GradientTransformation")
    if not hasattr(optimizer, "init") or not hasattr(optimizer, "update"):
        raise ConfigError(f"optimizer {optimizer!r} is neither a name ({', '.join(OPTIMIZERS)}) nor an optax GradientTransformation")
    return optimizer, type(optimizer).__name__


@functools.partial(jax.jit, static_argnames=("opt", "reuse"))
def _optax_step(problem: Problem, u, state, opt, reuse):
    """One optimizer update: returns the new iterate and state, and the loss at the old iterate."""
    import optax

    f = functools.partial(loss, problem)
    value, grad = optax.value_and_grad_from_state(f)(u, state=state) if reuse else jax.value_and_grad(f)(u)
    updates, state = opt.update(grad, state, u, value=value, grad=grad, value_fn=f)
    return optax.apply_updates(u, updates), state, value


def _optax_loop(problem: Problem, u0, opt, max_iter, tol, patience, report):
    import optax

    state = opt.init(u0)
    reuse = optax.tree.get(state, "value") is not None and optax.tree.get(state, "grad") is not None
    # init leaves some leaves weak-typed and update returns them strong-typed: make them strong
    # now, or the second call of `_optax_step` would compile it all again.
    state = jax.tree.map(lambda a: jnp.asarray(a, jnp.asarray(a).dtype), state)
    u, history, reason = u0, [], "max_iter"
    eps = float(jnp.finfo(problem.dtype).eps)
    xtol = 10 * eps
    best, best_at = math.inf, 0
    for it in range(max_iter + 1):
        u_new, state, value = _optax_step(problem, u, state, opt, reuse)
        L = float(value)
        history.append((L, u))
        report(it, L)
        if not math.isfinite(L):
            raise ConfigError(f"the loss became non-finite at iteration {it}; start closer to the data or lower the step size")
        if L < best * (1 - 1e-6):
            best, best_at = L, it
        if L <= tol**2 * history[0][0] or L == 0.0:
            reason = "loss"
            break
        if it - best_at >= patience:
            reason = "stalled"
            break
        if it == max_iter:
            break
        z, z_new = np.asarray(ravel(problem, u)), np.asarray(ravel(problem, u_new))
        if it > 0 and np.all(np.abs(z_new - z) <= xtol * (np.abs(z) + xtol)):
            reason = "step"  # u_new ≈ u, whose loss is known
            break
        u = u_new
    u = history[-1][1]
    if reason == "stalled":  # hand back the best iterate, not the last
        i = int(np.argmin([h[0] for h in history]))
        history = history[: i + 1]
        u = history[-1][1]
    return u, history, reason != "max_iter", reason


def _reporter(progress, total):
    """(report(iteration, loss), close()): a callable `progress` receives (iteration, loss) itself;
    True / False give a `Progress` bar (or none) that shows the loss."""
    if callable(progress):
        return progress, (lambda: None)
    bar = Progress(progress, total, unit="it", desc="fit")
    return (lambda it, L: bar.update(it, note=f"loss {L:.3e}")), bar.close


__all__ = ["fit", "FitResult", "OPTIMIZERS"]
