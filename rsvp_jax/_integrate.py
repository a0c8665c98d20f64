"""Time integration: explicit Runge–Kutta steps, and rollouts with `lax.scan`.

| method     | order | stages | note                                                   |
|------------|-------|--------|--------------------------------------------------------|
| `euler`    | 1     | 1      | forward Euler                                          |
| `heun`     | 2     | 2      | SSP-RK2 (Shu & Osher 1988): a convex sum of Euler steps |
| `ssprk3`   | 3     | 3      | SSP-RK3 (Shu & Osher 1988), the default                |
| `rk4`      | 4     | 4      | classical Runge–Kutta; not strong-stability-preserving |

Every method is generic over the model (it only calls `model.rhs`); a discrete model
(`model.discrete`, e.g. `"seed"`) is advanced by applying `model.map` once per step.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from . import diagnostics as _diagnostics
from ._lattice import Lattice
from ._state import FIELDS, State
from ._timestep import check_timestep
from .errors import ConfigError, NonFiniteError
from .models import Model

ORDER = {"euler": 1, "heun": 2, "ssprk3": 3, "rk4": 4}
METHODS = tuple(ORDER)


def _lin(*terms):
    """Σ c_i x_i over states, for (c_i, x_i) pairs."""
    return jax.tree.map(lambda *xs: sum(c * x for c, x in zip((t[0] for t in terms), xs)), *(t[1] for t in terms))


def _euler(f, x, dt):
    return _lin((1.0, x), (dt, f(x)))


def _heun(f, x, dt):
    u1 = _euler(f, x, dt)
    return _lin((0.5, x), (0.5, _euler(f, u1, dt)))


def _ssprk3(f, x, dt):
    u1 = _euler(f, x, dt)
    u2 = _lin((0.75, x), (0.25, _euler(f, u1, dt)))
    return _lin((1.0 / 3.0, x), (2.0 / 3.0, _euler(f, u2, dt)))


def _rk4(f, x, dt):
    k1 = f(x)
    k2 = f(_lin((1.0, x), (0.5 * dt, k1)))
    k3 = f(_lin((1.0, x), (0.5 * dt, k2)))
    k4 = f(_lin((1.0, x), (dt, k3)))
    return _lin((1.0, x), (dt / 6, k1), (dt / 3, k2), (dt / 3, k3), (dt / 6, k4))


_STEPPERS = {"euler": _euler, "heun": _heun, "ssprk3": _ssprk3, "rk4": _rk4}

# The same methods with each stage's state materialised: the stages run as a `fori_loop`, whose
# carry XLA cannot fuse through (on CPU it drops `optimization_barrier`s). Fused, XLA CPU puts the
# stencils of one stage into every shifted read of the next and repeats that work: SSP-RK3 at 64³
# took 0.78 s a step fused and 0.053 s staged, at 64² 1.5 ms fused and 0.65 ms staged (a vmapped
# batch of 64² lattices: 4.5x), RK4 at 512² 38 ms fused and 15 ms staged. Only SSP-RK3 on 2D
# lattices with a last axis of 128 cells or more runs faster fused (512²: 11.3 vs 13.2 ms). See
# `fuse_stages`. Same arithmetic, in the same order, as the fused forms above; they agree to
# round-off (XLA may contract or reorder the fused form's operations differently: 1 ulp seen).
_CONVEX_STAGES = {"heun": ((0.0, 1.0), (0.5, 0.5)), "ssprk3": ((0.0, 1.0), (0.75, 0.25), (1.0 / 3.0, 2.0 / 3.0))}


def _staged_convex(method):
    """Heun / SSP-RK3 as convex combinations u ← a_k x + b_k (u + dt f(u)) (Shu & Osher form)."""
    coef = _CONVEX_STAGES[method]

    def stepper(f, x, dt):
        a, b = (jnp.asarray([c[i] for c in coef], dt.dtype) for i in (0, 1))

        def stage(k, u):
            return jax.tree.map(lambda xi, ei: a[k] * xi + b[k] * ei, x, _euler(f, u, dt))

        u1 = _euler(f, x, dt)  # stage 1 is u + dt f(u) itself (a = 0, b = 1)
        return jax.lax.fori_loop(1, len(coef), stage, u1)

    return stepper


def _staged_rk4(f, x, dt):
    """`_rk4` with its four stages in a `fori_loop` (carry: the last k and the running sum)."""
    half = jnp.asarray([0.5, 0.5, 1.0], dt.dtype)
    weight = jnp.asarray([3.0, 3.0, 6.0], dt.dtype)  # dt / weight: dt/3, dt/3, dt/6

    def stage(i, carry):
        k, acc = carry
        k = f(_lin((1.0, x), (half[i] * dt, k)))
        return k, jax.tree.map(lambda s, ki: s + dt / weight[i] * ki, acc, k)

    k1 = f(x)
    acc = _lin((1.0, x), (dt / 6, k1))
    return jax.lax.fori_loop(0, 3, stage, (k1, acc))[1]


_STAGED = {"euler": _euler, "heun": _staged_convex("heun"), "ssprk3": _staged_convex("ssprk3"), "rk4": _staged_rk4}


def check_method(method: str) -> None:
    if method not in _STEPPERS:
        raise ConfigError(f"integrator {method!r} is unknown; valid methods are {', '.join(METHODS)}")


def stages(model: Model, method: str) -> int:
    """How many right-hand-side evaluations one step makes (1 for a discrete model)."""
    check_method(method)
    return 1 if model.discrete else ORDER[method]


def fuse_stages(lat: Lattice, method: str) -> bool:
    """Whether a step fuses its Runge–Kutta stages or materialises each stage's state (`_STAGED`):
    fused only for SSP-RK3 on 2D lattices whose last axis has at least 128 cells, where it was
    10–15 % faster. Measured on XLA CPU, jax 0.10, float32, 32² to 2048² (not on accelerators):
    staged was 1.2–3x faster for RK4 everywhere and for SSP-RK3 below 128 cells and in 3D. For
    Heun the two were within noise from 128² up (staged 0.73–1.05x the fused time over repeated
    runs); fused Heun was faster at 32²–64², by 0.05–0.3 ms a step. A `vmap`ped batch of
    lattices (a sweep) keeps the last axis, and the choice."""
    return method == "ssprk3" and lat.ndim == 2 and lat.shape[-1] >= 128


def step_fn(model: Model, lat: Lattice, x: State, dt, method: str = "ssprk3") -> State:
    """One step, un-jitted: the pure function `step` compiles. Parameters follow the state's dtype."""
    model = model.astype(x.phi.dtype)
    if model.discrete:
        return model.map(lat, x)
    dt = jnp.asarray(dt, x.phi.dtype)
    steppers = _STEPPERS if fuse_stages(lat, method) else _STAGED
    return steppers[method](lambda y: model.rhs(lat, y), x, dt)


@functools.partial(jax.jit, static_argnames=("method",))
def _step_jit(model, lat, x, dt, method):
    return step_fn(model, lat, x, dt, method)


def step(model: Model, lat: Lattice, x: State, dt, method: str = "ssprk3") -> State:
    """Advance `x` by one time step `dt` with `method` (see the module table). Jitted.

    No stability check here (it would cost a device sync per step); `simulate` checks dt.
    """
    check_method(method)
    model.check_lattice(lat)
    return _step_jit(model, lat, x, dt, method)


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Saved snapshots of a run: `states` (a `State` with a leading time axis), `times`,
    `steps` (the step index of each snapshot) and `diagnostics` (name → array over time)."""

    states: State
    times: jax.Array
    steps: jax.Array
    diagnostics: dict

    def __len__(self) -> int:
        return int(self.times.shape[0])

    @property
    def final(self) -> State:
        return jax.tree.map(lambda a: a[-1], self.states)

    def __getitem__(self, index) -> "Trajectory":
        take = lambda a: a[index]  # noqa: E731
        return Trajectory(jax.tree.map(take, self.states), take(self.times), take(self.steps),
                          {k: take(v) for k, v in self.diagnostics.items()})


jax.tree_util.register_dataclass(Trajectory, data_fields=["states", "times", "steps", "diagnostics"], meta_fields=[])


def _all_finite(x: State):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(x)]))


def _advance(model, lat, x, dt, n, method, checkpoint):
    """n steps by `lax.scan`; returns (x, k) with k the first step (1-based, within these n) whose
    result was not finite, or 0. After such a step the state is frozen at the last finite one."""

    def body(carry, i):
        x, bad = carry
        x_new = step_fn(model, lat, x, dt, method)
        fail = (bad == 0) & ~_all_finite(x_new)
        bad = jnp.where(fail, i + 1, bad)
        keep = bad == 0
        x = jax.tree.map(lambda new, old: jnp.where(keep, new, old), x_new, x)
        return (x, bad), None

    def chunk(x):
        (x, bad), _ = jax.lax.scan(body, (x, jnp.zeros((), jnp.int32)), jnp.arange(n, dtype=jnp.int32))
        return x, bad

    if checkpoint:
        chunk = jax.checkpoint(chunk)
    return chunk(x)


@functools.partial(jax.jit, static_argnames=("n_saves", "save_every", "method", "checkpoint", "with_diagnostics"))
def _run_block(model, lat, x, dt, n_saves, save_every, method, checkpoint, with_diagnostics):
    """n_saves snapshots, save_every steps apart, starting after x. Returns the snapshots, their
    diagnostics and the first non-finite step counted from x (0 if none)."""
    model = model.astype(x.phi.dtype)

    def save(carry, j):
        x, bad = carry
        x, b = _advance(model, lat, x, dt, save_every, method, checkpoint)
        bad = jnp.where((bad == 0) & (b > 0), j * save_every + b, bad)
        diag = _diagnostics.compute(model, lat, x) if with_diagnostics else {}
        return (x, bad), (x, diag)

    (x, bad), (states, diags) = jax.lax.scan(save, (x, jnp.zeros((), jnp.int32)), jnp.arange(n_saves, dtype=jnp.int32))
    return states, diags, bad


def _is_concrete(tree) -> bool:
    return not any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(tree))


def simulate(
    model: Model,
    lat: Lattice,
    x0: State,
    dt,
    steps: int,
    save_every: int | None = None,
    method: str = "ssprk3",
    checkpoint: bool = False,
    diagnostics: bool = True,
    check: bool = True,
    progress=None,
) -> Trajectory:
    """Run `steps` steps from `x0`, saving x0 and every `save_every`-th state.

    Args:
      model, lat, x0: the equations, the lattice and the initial state (its dtype is the run's).
      dt: the time step (ignored by discrete models, whose snapshot times are step numbers).
      steps: the number of steps; a multiple of `save_every` (default: `steps`, i.e. save the
        initial and the final state only).
      method: `"euler"`, `"heun"`, `"ssprk3"` (default) or `"rk4"`.
      checkpoint: wrap each `save_every`-step chunk in `jax.checkpoint`, so a gradient through
        the run stores one state per chunk instead of one per step (recomputing the rest).
      diagnostics: compute `rsvp_jax.diagnostics.compute` at every snapshot.
      check: before running, check that x0 is finite and dt is within the model's stability
        limits (`UnstableTimestepError`). Independently of `check`, a NaN / inf that appears
        during a run raises `NonFiniteError` (naming the step and field, carrying the snapshots
        before it): the state is frozen at the last finite one, so nothing after it is computed
        from garbage.
      progress: a callable `progress(steps_done, steps_total)`, or True for a tqdm bar; the run
        is then split into up to ~20 jitted blocks so that progress can be reported.

    Returns a `Trajectory`. The function is differentiable (`jax.grad`) and can be traced
    under `jit` / `vmap`; the checks then apply only to concrete inputs.
    """
    check_method(method)
    model.check_lattice(lat)
    steps, save_every = int(steps), int(save_every or steps)
    if steps < 1 or save_every < 1 or steps % save_every:
        raise ConfigError(f"steps={steps} must be >= 1 and a multiple of save_every={save_every}")
    concrete = _is_concrete((model, x0, dt))
    if check and concrete:
        bad_fields = [f for f in FIELDS if not bool(jnp.all(jnp.isfinite(getattr(x0, f))))]
        if bad_fields:
            raise ConfigError(f"the initial state is not finite in field {bad_fields[0]!r}")
        check_timestep(model, lat, x0, dt)

    n_saves = steps // save_every
    n_blocks = min(n_saves, 20) if progress else 1
    block = math.ceil(n_saves / n_blocks)
    report = _progress_callback(progress, steps)

    x, done, chunks = x0, 0, []
    while done < n_saves:
        n = min(block, n_saves - done)
        states, diags, bad = _run_block(model, lat, x, dt, n, save_every, method, bool(checkpoint), bool(diagnostics))
        chunks.append((states, diags))
        x = jax.tree.map(lambda a: a[-1], states)
        done += n
        report(done * save_every)
        if concrete and int(bad) > 0:
            report(None)
            _raise_nonfinite(model, lat, x0, dt, method, save_every, chunks, (done - n) * save_every + int(bad), diagnostics)
    report(None)
    return _assemble(model, x0, dt, save_every, chunks, diagnostics, lat)


def _assemble(model, x0, dt, save_every, chunks, with_diagnostics, lat, keep=None):
    states = jax.tree.map(lambda a0, *blocks: jnp.concatenate([a0[None], *blocks]), x0, *(c[0] for c in chunks))
    n = states.phi.shape[0] if keep is None else keep
    states = jax.tree.map(lambda a: a[:n], states)
    steps = jnp.arange(n) * save_every
    times = steps.astype(x0.phi.dtype) * (1.0 if model.discrete else jnp.asarray(dt, x0.phi.dtype))
    diags = {}
    if with_diagnostics:
        first = _diagnostics.compute(model.astype(x0.phi.dtype), lat, x0)
        diags = {k: jnp.concatenate([jnp.asarray(first[k])[None], *(c[1][k] for c in chunks)])[:n] for k in first}
    return Trajectory(states, times, steps, diags)


def _raise_nonfinite(model, lat, x0, dt, method, save_every, chunks, bad_step, with_diagnostics):
    """Name the first non-finite step and field; keep every snapshot taken before it."""
    keep = 1 + (bad_step - 1) // save_every  # snapshots at steps < bad_step, x0 included
    traj = _assemble(model, x0, dt, save_every, chunks, with_diagnostics, lat, keep=keep)
    # Re-run from the last good snapshot to the failing step, to name the field.
    x = traj.final
    for _ in range(bad_step - int(traj.steps[-1]) - 1):
        x = step(model, lat, x, dt, method)
    bad = step(model, lat, x, dt, method)
    field = next((f for f in FIELDS if not bool(jnp.all(jnp.isfinite(getattr(bad, f))))), "?")
    raise NonFiniteError(
        f"the run became non-finite at step {bad_step} (t = {bad_step * float(dt):g}) in field {field!r}; "
        f"{len(traj)} snapshot(s) before it were kept; try a smaller dt or check the parameters",
        step=bad_step,
        field=field,
        trajectory=traj,
    )


def _progress_callback(progress, total):
    if not progress:
        return lambda done: None
    if callable(progress):
        return lambda done: progress(done, total) if done is not None else None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="step", dynamic_ncols=True)

    def report(done):
        if done is None:
            bar.close()
        else:
            bar.update(done - bar.n)

    return report


def rollout(model: Model, lat: Lattice, x0: State, dt, steps: int, method: str = "ssprk3", checkpoint_every: int = 0) -> State:
    """The state after `steps` steps, with no snapshots or checks: the k-step map F(x0).

    Pure and traceable (the building block of tile Jacobians, sweeps and fits). With
    `checkpoint_every = c > 0` the scan runs in chunks of c steps, each under
    `jax.checkpoint`, so reverse-mode memory grows like steps / c + c states.
    """
    check_method(method)
    model = model.astype(x0.phi.dtype)
    f = lambda x, _: (step_fn(model, lat, x, dt, method), None)  # noqa: E731
    if not checkpoint_every:
        return jax.lax.scan(f, x0, None, length=steps)[0]
    n_chunks, rest = divmod(steps, checkpoint_every)
    chunk = jax.checkpoint(lambda x: jax.lax.scan(f, x, None, length=checkpoint_every)[0])
    x = jax.lax.scan(lambda x, _: (chunk(x), None), x0, None, length=n_chunks)[0]
    return jax.lax.scan(f, x, None, length=rest)[0] if rest else x


__all__ = ["step", "step_fn", "simulate", "rollout", "Trajectory", "METHODS", "ORDER", "stages"]
