"""The inverse problem behind `fit` and `sensitivity`: unknowns, their reparameterization,
the predicted snapshots and the weighted residuals.

Given observed snapshots y_k of a run at steps n_k (a `Trajectory`), the unknowns θ (some
model parameters, optionally some fields of the initial state x₀) are fitted by minimizing

```
L(θ) = Σ_k Σ_f Σ_cells  m · ((F^{n_k}(x₀; θ)_f − y_{k,f}) / s_f)²  /  Σ m
```

with F the one-step map of the integrator, s_f a scale per field (by default the standard
deviation of the observed field, so Φ, v and S weigh alike whatever their units), and m a
0/1 mask of the observed cells. `residuals` returns the terms r with L = Σ r², the form a
Gauss–Newton method needs.

Valid ranges are kept by a reparameterization, not by clipping (which would zero the
gradient): a coefficient the model declares non-negative or positive, and the Φ and S of an
initial field, are θ = softplus(u) with u unconstrained; every other unknown is θ = u.
Near 0 softplus is ≈ eᵘ, so steps in u are relative steps in θ, which also makes
coefficients of very different sizes comparably scaled.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..integrate import check_method, rollout
from ..lattice import Lattice
from ..models import Model
from ..state import FIELDS, State

POSITIVE_FIELDS = ("phi", "S")
# Parameters that take discrete values (validated in the model) cannot be fitted by gradients.
DISCRETE_PARAMS = {"s": "s is a sign (+1 lamphron, -1 lamphrodyne), not a continuous parameter"}


def softplus_inverse(theta):
    """u with softplus(u) = θ (θ > 0), computed stably in float64 NumPy."""
    theta = np.asarray(theta, np.float64)
    return theta + np.log(-np.expm1(-theta))


@dataclasses.dataclass(frozen=True)
class Problem:
    """Everything the loss needs. A pytree: arrays are leaves; names, steps and switches are static.

    Build it with `make_problem`. `u0` (a dict `{"params": {name: u}, "initial": {field: u}}`,
    unconstrained) is the starting point; `constrain(problem, u)` maps any u back to
    `(model, x0)`.
    """

    model: Model  # the starting model; parameters not fitted keep these values
    x0: State  # the starting initial state; fields not fitted keep these values
    observed: State  # (T, ...) the observations
    weight: State  # (T, ...) m / (s_f² Σm): L = Σ weight · (prediction − observed)²
    initial_mask: jax.Array | None  # (*N) where the initial field is free (None: everywhere)
    dt: jax.Array
    lat: Lattice = dataclasses.field(metadata=dict(static=True))
    steps: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))
    names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))
    positive: tuple[bool, ...] = dataclasses.field(metadata=dict(static=True))
    fit_initial: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))
    method: str = dataclasses.field(metadata=dict(static=True))
    checkpoint_every: int = dataclasses.field(metadata=dict(static=True))

    @property
    def u0(self) -> dict:
        params = {n: jnp.asarray(softplus_inverse(getattr(self.model, n)) if pos else getattr(self.model, n), self.dtype)
                  for n, pos in zip(self.names, self.positive)}
        initial = {}
        for f in self.fit_initial:
            value = np.asarray(getattr(self.x0, f), np.float64)
            initial[f] = jnp.asarray(softplus_inverse(value) if f in POSITIVE_FIELDS else value, self.dtype)
        return {"params": params, "initial": initial}

    @property
    def dtype(self):
        return self.x0.phi.dtype

    @property
    def n_unknowns(self) -> int:
        return len(self.names) + sum(int(np.prod(np.shape(getattr(self.x0, f)))) for f in self.fit_initial)


jax.tree_util.register_dataclass(Problem)


def constrain(problem: Problem, u: dict) -> tuple[Model, State]:
    """The model and initial state an unconstrained point `u` stands for."""
    params = {n: (jax.nn.softplus(u["params"][n]) if pos else u["params"][n]) for n, pos in zip(problem.names, problem.positive)}
    model = problem.model.replace(**params) if params else problem.model
    x0 = problem.x0
    for f in problem.fit_initial:
        value = jax.nn.softplus(u["initial"][f]) if f in POSITIVE_FIELDS else u["initial"][f]
        if problem.initial_mask is not None:
            value = jnp.where(problem.initial_mask, value, getattr(x0, f))
        x0 = dataclasses.replace(x0, **{f: value})
    return model, x0


def auto_checkpoint(total_steps: int) -> int:
    """The default chunk length: √n for n ≥ 100 steps (memory ~ 2√n states), else none."""
    return int(math.ceil(math.sqrt(total_steps))) if total_steps >= 100 else 0


def predict(model: Model, lat: Lattice, x0: State, dt, steps, method: str = "ssprk3", checkpoint_every: int = 0) -> State:
    """The states at the given step numbers (non-decreasing, ≥ 0), stacked on a leading axis.

    Equal gaps between snapshots run as one `lax.scan` of `rollout`s (so compile time does not
    grow with the number of snapshots); each rollout is checkpointed in chunks of
    `min(checkpoint_every, gap)` steps when `checkpoint_every > 0`.
    """
    steps = tuple(int(s) for s in steps)
    gaps = np.diff((0, *steps))
    x, blocks = x0, []
    for gap, run in itertools.groupby(gaps):
        count = len(list(run))
        if gap == 0:
            blocks.append(jax.tree.map(lambda a: jnp.broadcast_to(a, (count, *a.shape)), x))
            continue
        c = min(checkpoint_every, int(gap)) if checkpoint_every else 0

        def segment(x, _, gap=int(gap), c=c):
            y = rollout(model, lat, x, dt, gap, method, checkpoint_every=c)
            return y, y

        x, ys = jax.lax.scan(segment, x, None, length=count)
        blocks.append(ys)
    return jax.tree.map(lambda *b: jnp.concatenate(b), *blocks)


def residuals(problem: Problem, u: dict) -> State:
    """The weighted residuals r (one `State` of shape (T, ...)), with loss = Σ r²."""
    model, x0 = constrain(problem, u)
    pred = predict(model, problem.lat, x0, problem.dt, problem.steps, problem.method, problem.checkpoint_every)
    return jax.tree.map(lambda p, y, w: jnp.sqrt(w) * (p - y), pred, problem.observed, problem.weight)


def ravel(problem: Problem, u: dict) -> jax.Array:
    """The unknowns as one vector: the parameters in `names` order, then each fitted field."""
    parts = [jnp.reshape(u["params"][n], (1,)) for n in problem.names]
    parts += [jnp.ravel(u["initial"][f]) for f in problem.fit_initial]
    return jnp.concatenate(parts)


def unravel(problem: Problem, z: jax.Array) -> dict:
    """The inverse of `ravel`."""
    params = {n: z[i] for i, n in enumerate(problem.names)}
    initial, i = {}, len(problem.names)
    for f in problem.fit_initial:
        shape = np.shape(getattr(problem.x0, f))
        size = int(np.prod(shape))
        initial[f] = jnp.reshape(z[i:i + size], shape)
        i += size
    return {"params": params, "initial": initial}


def flat_residuals(problem: Problem, u: dict) -> jax.Array:
    return jnp.concatenate([a.ravel() for a in jax.tree.leaves(residuals(problem, u))])


def loss(problem: Problem, u: dict) -> jax.Array:
    """L(u) = Σ r²: the mask-averaged squared misfit in units of each field's scale."""
    return sum(jnp.sum(r**2) for r in jax.tree.leaves(residuals(problem, u)))


def infer_dt(model: Model, observations) -> float:
    """dt from a trajectory's times and step numbers (1 for a discrete model)."""
    if model.discrete:
        return 1.0
    steps, times = np.asarray(observations.steps), np.asarray(observations.times, np.float64)
    if not np.any(steps > 0):
        raise ConfigError("cannot infer dt: no snapshot after step 0; pass dt explicitly")
    return float(np.median(times[steps > 0] / steps[steps > 0]))


def field_scales(observed: State, fields, scale=None) -> dict:
    """s_f for each compared field: `scale[f]` if given, else the observed field's standard
    deviation over snapshots and cells (1 if it is constant)."""
    scale = dict(scale or {})
    unknown = [f for f in scale if f not in FIELDS]
    if unknown:
        raise ConfigError(f"scale for {unknown[0]!r}: valid fields are {', '.join(FIELDS)}")
    out = {}
    for f in fields:
        s = float(scale[f]) if f in scale else float(np.std(np.asarray(getattr(observed, f), np.float64)))
        out[f] = s if s > 0 and math.isfinite(s) else 1.0
    return out


def make_problem(model: Model, lat: Lattice, observations, names=(), *, dt=None, x0=None, fit_initial=(),
                 initial_mask=None, fields=FIELDS, mask=None, scale=None, method="ssprk3",
                 checkpoint_every=None, nudge: bool = True) -> Problem:
    """Check the inputs and build a `Problem` (see `rsvp_jax.calibration.fit` for the arguments).

    With `nudge`, a softplus-parameterized unknown that starts at 0 starts at 1e-3 instead
    (softplus reaches 0 only at u = −∞); this also switches on a term that a zero value
    compiles out (e.g. rsvp's hyperdiffusion for eps), so that it can be fitted.
    """
    check_method(method)
    model.check_lattice(lat)
    names = (names,) if isinstance(names, str) else tuple(names)
    fit_initial = _fields(fit_initial, "fit_initial")
    fields = _fields(fields, "fields")
    valid = model.param_names()
    for n in names:
        if n not in valid:
            raise ConfigError(f"cannot fit {n!r}: preset {model.name!r} has no such parameter; its parameters are {', '.join(valid)}")
        if n in DISCRETE_PARAMS:
            raise ConfigError(f"cannot fit {n!r}: {DISCRETE_PARAMS[n]}")
        if np.ndim(getattr(model, n)) != 0:
            raise ConfigError(f"cannot fit {n!r}: it holds an array of shape {np.shape(getattr(model, n))}, not one number")
    if len(set(names)) != len(names):
        raise ConfigError(f"the fitted parameters {names} name one twice")
    if not names and not fit_initial:
        raise ConfigError(f"nothing to fit: name parameters (one of {', '.join(valid)}) and/or initial fields")
    if not fields:
        raise ConfigError(f"no field to compare: fields must name some of {', '.join(FIELDS)}")

    observed, steps = _check_observations(observations, lat)
    if x0 is None:
        if steps[0] != 0:
            raise ConfigError(f"the observations start at step {steps[0]}, not 0: pass the initial state x0")
        x0 = jax.tree.map(lambda a: a[0], observed)
    _check_state(x0, lat, "x0")
    dtype = x0.phi.dtype
    x0 = x0.astype(dtype)
    observed = observed.astype(dtype)
    dt = infer_dt(model, observations) if dt is None else dt
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise ConfigError(f"dt={dt!r} is not a number") from None
    if not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt={dt!r} is invalid; it must be a finite number > 0")

    positive = tuple(n in model.nonnegative or n in model.positive for n in names)
    start = {}
    for n, pos in zip(names, positive):
        value = float(np.asarray(getattr(model, n)))
        if nudge and pos and value <= 0:
            start[n] = 1e-3  # softplus cannot start on the boundary; a small positive guess instead
    model = model.replace(**start) if start else model
    for f in fit_initial:
        if f in POSITIVE_FIELDS and not bool(jnp.all(getattr(x0, f) > 0)):
            raise ConfigError(f"cannot fit the initial {f}: its starting guess must be > 0 everywhere")

    T = len(steps)
    mask_arr = np.ones((T, *lat.shape)) if mask is None else _mask(mask, (T, *lat.shape), "mask")
    s = field_scales(observed, fields, scale)
    count = sum(mask_arr.sum() * (lat.ndim if f == "v" else 1) for f in fields)
    if count == 0:
        raise ConfigError("the mask selects no observed cell")

    def weight(f):
        w = mask_arr / (s[f] ** 2 * count) if f in fields else np.zeros_like(mask_arr)
        return jnp.asarray(w[:, None] if f == "v" else w, dtype)

    if initial_mask is not None:
        initial_mask = jnp.asarray(_mask(initial_mask, lat.shape, "initial_mask").astype(bool))
    total = max(steps)
    ce = auto_checkpoint(total) if checkpoint_every is None else int(checkpoint_every)
    if ce < 0:
        raise ConfigError(f"checkpoint_every={ce} is invalid; it must be >= 0 (0: no checkpointing)")
    return Problem(model=model, x0=x0, observed=observed, weight=State(weight("phi"), weight("v"), weight("S")),
                   initial_mask=initial_mask, dt=jnp.asarray(dt, dtype), lat=lat, steps=steps, names=names,
                   positive=positive, fit_initial=fit_initial, method=method, checkpoint_every=ce)


def add_noise(observations, sigma, seed: int = 0, fields=FIELDS, keep_initial: bool = True):
    """A copy of a `Trajectory` with Gaussian noise N(0, σ²) added to `fields`, for twin experiments.

    `sigma` is one number or a dict field → σ_f. With `keep_initial` the snapshot at step 0 is
    left exact (an initial state known without error, as `fit` assumes when it takes x0 from it).
    """
    fields = _fields(fields, "fields")
    sig = dict(sigma) if isinstance(sigma, dict) else {f: sigma for f in fields}
    rng = np.random.default_rng(seed)
    clean = np.asarray(observations.steps) == 0 if keep_initial else np.zeros(len(observations.steps), bool)
    states = {}
    for f in FIELDS:
        a = np.asarray(getattr(observations.states, f))
        if f in fields and float(sig.get(f, 0.0)) > 0:
            noise = rng.standard_normal(a.shape) * float(sig[f])
            noise[clean] = 0.0
            a = a + noise.astype(a.dtype)
        states[f] = jnp.asarray(a)
    return dataclasses.replace(observations, states=State(**states))


def _fields(value, what) -> tuple[str, ...]:
    if value is True:
        return FIELDS
    value = (value,) if isinstance(value, str) else tuple(value or ())
    bad = [f for f in value if f not in FIELDS]
    if bad:
        raise ConfigError(f"{what}: {bad[0]!r} is not a field; valid fields are {', '.join(FIELDS)}")
    return tuple(f for f in FIELDS if f in value)


def _mask(mask, shape, what):
    arr = np.asarray(mask)
    try:
        return np.broadcast_to(arr, shape).astype(np.float64)
    except ValueError:
        raise ConfigError(f"{what} of shape {arr.shape} does not broadcast to {shape}") from None


def _check_state(x, lat, what, batch=()):
    D, N = lat.ndim, lat.shape
    want = {"phi": (*batch, *N), "v": (*batch, D, *N), "S": (*batch, *N)}
    for f in FIELDS:
        got = tuple(np.shape(getattr(x, f)))
        if got != want[f]:
            raise ConfigError(f"{what}.{f} has shape {got}; the lattice {N} needs {want[f]}")


def _check_observations(obs, lat):
    if not hasattr(obs, "states") or not hasattr(obs, "steps"):
        raise ConfigError(f"observations must be a Trajectory (states, times, steps), not {type(obs).__name__}")
    steps = tuple(int(s) for s in np.asarray(obs.steps).ravel())
    if not steps:
        raise ConfigError("the observations hold no snapshot")
    _check_state(obs.states, lat, "observations.states", batch=(len(steps),))
    if steps[0] < 0 or any(b <= a for a, b in zip(steps, steps[1:])):
        raise ConfigError(f"the observation steps {list(steps)[:6]}... must be >= 0 and increasing")
    bad = [f for f in FIELDS if not bool(np.all(np.isfinite(np.asarray(getattr(obs.states, f)))))]
    if bad:
        raise ConfigError(f"the observed {bad[0]!r} holds NaN or inf values")
    return obs.states, steps
