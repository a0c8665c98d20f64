"""`simulate`: a checked, recorded run — snapshots, diagnostics, a stop at the first NaN."""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from .. import diagnostics as _diagnostics
from ..errors import ConfigError, NonFiniteError
from ..lattice import Lattice
from ..models import Model
from ..progress import Progress
from ..state import FIELDS, State
from ._snapshots import snapshots
from ._step import check_method, step
from ._timestep import check_timestep


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

_snapshots_jit = jax.jit(snapshots, static_argnames=("lat", "n_saves", "save_every", "method", "checkpoint",
                                                     "diagnostics", "keep_states"))


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
    run = functools.partial(_snapshots_jit, lat=lat, save_every=save_every, method=method, checkpoint=bool(checkpoint),
                            diagnostics=None if diagnostics else ())
    x, done, chunks = x0, 0, []
    with Progress(progress, steps, unit="step") as bar:
        while done < n_saves:
            n = min(block, n_saves - done)
            states, diags, bad = run(model, x0=x, dt=dt, n_saves=n)
            chunks.append((states, diags))
            x = jax.tree.map(lambda a: a[-1], states)
            done += n
            bar.update(done * save_every)
            if concrete and int(bad) > 0:
                bar.close()
                _raise_nonfinite(model, lat, x0, dt, method, save_every, chunks, (done - n) * save_every + int(bad),
                                 diagnostics)
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


__all__ = ["Trajectory", "simulate"]
