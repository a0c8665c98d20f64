"""Parameter sweeps: many runs of one model, as `vmap`ped batches under one `jit`, on every device.

A sweep is a list of *points*, each a set of parameter values (and optionally an
initial-condition `seed`). A grid `{"gamma": [...], "nu": [...]}` is the Cartesian product
of its axes, in C order (the last name varies fastest). Every point runs
`steps` steps of the model from its initial state, saving the diagnostics of
`rsvp_jax.diagnostics` every `save_every` steps and a few summaries of its final state.

How it runs:

1. **On the host, per point:** the parameters are validated (`model.replace`) and dt is
   checked against the point's stability limits (`rj.stability_limits`); a point that
   violates one is recorded as `"unstable"` with the limit's message and is not run.
2. **On the devices, per batch:** B points are stacked along a leading axis and run by
   `jax.vmap` of one pure function under one `jax.jit`; the batch axis is split over a
   one-axis `Mesh` of all devices (`_sharding`). B is a multiple of the device count; a
   last, short batch is padded (with copies of its last point), never refused. With no
   `batch_size`, B is chosen from the free memory; a batch that runs out of memory anyway
   is halved and retried (in a single process).
3. **Inside the batch, per point:** the first step whose result is not finite is
   recorded (the state is frozen at the last finite one, so one bad point cannot poison
   its batch); the point is then `"nonfinite"`, its diagnostics from that step on are NaN.

`iter_sweep` yields each finished batch as a `SweepResult` over its points (the resumable
`rsvp sweep` writes them as they come); `sweep` collects them into one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import diagnostics as _diag
from ..errors import ConfigError, UnstableTimestepError
from ..integrate import check_method, check_timestep, snapshots, stages
from ..lattice import Lattice
from ..progress import Progress
from ..state import State
from . import _mesh as sh
from ._points import SEED, check_names, grid_points, list_points, point_label
from ._result import SweepResult
from ._summaries import extra_summaries, final_summaries


# ---- one batch ----------------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("lat", "method", "n_saves", "save_every", "diag_names", "extra", "final_states"))
def _run_batch(models, x0, dt, *, lat, method, n_saves, save_every, diag_names, extra, final_states):
    """`snapshots` `vmap`ped over the leading axis of every parameter of `models` and every field of `x0`.

    Every numeric parameter is batched, swept or not, so that one compiled batch serves every
    choice of swept names (a sweep over nu reuses the compilation of a sweep over gamma).
    """

    def one(m, x0):
        run = snapshots(m, lat, x0, dt, n_saves, save_every, method, diagnostics=diag_names, keep_states=False)
        m = m.astype(x0.phi.dtype)
        d0 = _diag.compute(m, lat, x0)
        diags = {k: jnp.concatenate([d0[k][None], run.diagnostics[k]]) for k in diag_names}
        x = run.states
        summ = {**final_summaries(m, lat, x, x0), **extra_summaries(extra, m, lat, x)}
        return diags, run.failed_step, summ, (x if final_states else None)

    return jax.vmap(one)(models, x0)


def _free_bytes_per_device() -> int:
    dev = jax.local_devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(0.5 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        free = 2**31
    return int(0.25 * free / max(1, jax.local_device_count()))


def auto_batch_size(lat: Lattice, dtype, n_points: int, n_devices: int, n_stages: int = 3, memory: int | None = None,
                    max_per_device: int = 256) -> int:
    """Points per batch: as many as fit in `memory` bytes per device (default: a share of the free
    memory), at most what `n_points` needs, at most `max_per_device`; always a multiple of `n_devices`.

    A point holds its state, one buffer per Runge–Kutta stage and the operators' temporaries:
    about (4·n_stages + 16) states, which is generous on purpose.
    """
    state = lat.channels * lat.size * np.dtype(dtype).itemsize
    per_point = state * (4 * n_stages + 16)
    fit = max(1, (memory or _free_bytes_per_device()) // per_point)
    need = math.ceil(max(1, n_points) / n_devices)
    return n_devices * int(min(fit, need, max_per_device))


# ---- the sweep ------------------------------------------------------------------------------------
def _initial(x0, seed):
    state = x0(int(seed)) if callable(x0) else x0
    return jax.tree.map(np.asarray, state)


def check_sweep(model, lat: Lattice, x0, steps: int, save_every, method: str, values: Mapping[str, Sequence],
                diagnostics: Sequence[str] | None = None) -> list:
    """Validate a sweep before anything runs or is written: the names, the run length, the
    diagnostics, and every point's parameters (a bad one is a `ConfigError` naming the point).
    Returns the point models."""
    check_method(method)
    model.check_lattice(lat)
    check_names(model, values)
    P = len(next(iter(values.values()))) if values else 1
    if any(len(v) != P for v in values.values()):
        raise ConfigError(f"every swept name needs the same number of values; got {({k: len(v) for k, v in values.items()})}")
    steps, save_every = int(steps), int(save_every or steps)
    if steps < 1 or save_every < 1 or steps % save_every:
        raise ConfigError(f"steps={steps} must be >= 1 and a multiple of save_every={save_every}")
    if SEED in values and not callable(x0):
        raise ConfigError("sweeping 'seed' needs x0 to be a function of the seed, e.g. lambda s: rj.initial_state(lat, 'blobs', s)")
    models = []
    for i in range(P):
        try:
            models.append(model.replace(**{k: np.asarray(v[i]).item() for k, v in values.items() if k != SEED}))
        except ConfigError as e:
            raise ConfigError(f"sweep point {i} ({point_label(values, i)}): {e}") from None
    if diagnostics is not None:
        probe = _initial(x0, np.asarray(values.get(SEED, [0]))[0])
        available = tuple(jax.eval_shape(lambda x: _diag.compute(model, lat, x), probe))
        bad = [k for k in diagnostics if k not in available]
        if bad:
            raise ConfigError(f"unknown diagnostic {bad[0]!r}; valid ones are {', '.join(available)}")
    return models


def iter_sweep(model, lat: Lattice, x0, dt, steps: int, values: Mapping[str, Sequence], *, grid_shape=None,
               save_every: int | None = None, method: str = "ssprk3", diagnostics: Sequence[str] | None = None,
               summaries: Mapping[str, Callable] | None = None, final_states: bool = False,
               batch_size: int | None = None, mesh=None, check: bool = True, skip=None) -> Iterator[SweepResult]:
    """Run the points `values` (name → (P,) values) batch by batch; yield each batch's `SweepResult`.

    The arguments are those of `sweep` (which builds `values` from a grid); `skip` is a boolean
    mask (P,) of points not to run (already done). Unstable points come first, as one result.
    The inputs are validated (`check_sweep`) when this is called, before the first batch.
    """
    values = {k: np.asarray(v) for k, v in values.items()}
    models = check_sweep(model, lat, x0, steps, save_every, method, values, diagnostics)
    return _batches(model, models, lat, x0, dt, int(steps), values, grid_shape, int(save_every or steps), method,
                    diagnostics, summaries, final_states, batch_size, mesh, check, skip)


def _batches(model, models, lat, x0, dt, steps, values, grid_shape, save_every, method, diagnostics, summaries,
             final_states, batch_size, mesh, check, skip):
    P = len(models)
    skip = np.zeros(P, bool) if skip is None else np.asarray(skip, bool)
    params = {k: v for k, v in values.items() if k != SEED}
    seeds = values.get(SEED, np.zeros(P, int)).astype(int)

    # 1. host: check dt for every point to run.
    states = {s: _initial(x0, s) for s in np.unique(seeds)}
    on_device = {s: jax.tree.map(jnp.asarray, x) for s, x in states.items()}
    dtype = next(iter(states.values())).phi.dtype
    status, reason = np.zeros(P, np.int8), np.full(P, "", dtype=object)
    for i in np.flatnonzero(~skip) if check else ():
        try:
            check_timestep(models[i], lat, on_device[seeds[i]], dt)
        except UnstableTimestepError as e:
            status[i], reason[i] = 1, str(e)
    # All values at once set the static switches the batch needs (e.g. ∇⁴S on if any eps > 0).
    base = model.replace(**{k: v for k, v in params.items()})
    base = base.replace(**{k: v[0] for k, v in params.items()})

    x_probe = on_device[seeds[0]]
    diag_names = tuple(jax.eval_shape(lambda x: _diag.compute(model, lat, x), x_probe) if diagnostics is None else diagnostics)
    extra = tuple((summaries or {}).items())
    n_saves = steps // save_every
    step_numbers = np.arange(n_saves + 1) * save_every
    times = step_numbers * (1.0 if model.discrete else float(dt))

    unstable = np.flatnonzero((status == 1) & ~skip)
    todo = np.flatnonzero((status == 0) & ~skip)
    if len(unstable):  # not run: NaN results, with the reason
        k = len(unstable)
        yield SweepResult(unstable, {n: v[unstable] for n, v in values.items()}, grid_shape, times, step_numbers,
                          {n: np.full((k, n_saves + 1), np.nan) for n in diag_names},
                          {n: np.full(k, np.nan) for n in _summary_names(base, lat, x_probe, extra, dtype)},
                          status[unstable], np.zeros(k, np.int64), reason[unstable],
                          _nan_states(states[seeds[0]], k) if final_states else None)
    if not len(todo):
        return

    # 2. devices: batches of B points (a multiple of the mesh size), the last one padded.
    mesh = sh.device_mesh() if mesh is None else mesh
    n_dev = sh.mesh_size(mesh)
    B = auto_batch_size(lat, dtype, len(todo), n_dev, stages(model, method)) if batch_size is None else \
        sh.pad_batch(int(batch_size), n_dev)
    on_batch = sh.batch_sharding(mesh)
    dt_dev = sh.put(np.asarray(dt, dtype), sh.replicated(mesh))
    every = {k: np.asarray(getattr(base, k), dtype) for k in model.param_names()}  # the swept ones are replaced below
    static = dict(lat=lat, method=method, n_saves=n_saves, save_every=save_every, diag_names=diag_names,
                  extra=extra, final_states=bool(final_states))

    def run(idx, B):
        padded = np.concatenate([idx, np.full(B - len(idx), idx[-1])])
        batched = {k: np.broadcast_to(v, (B,)) for k, v in every.items()}
        batched.update({k: v[padded].astype(dtype) for k, v in params.items()})
        models = dataclasses.replace(base, **batched)
        xs = jax.tree.map(lambda *a: np.stack(a), *(states[seeds[i]] for i in padded))
        return sh.to_host(_run_batch(sh.put(models, on_batch), sh.put(xs, on_batch), dt_dev, **static))

    start = 0
    while start < len(todo):
        idx = todo[start:start + B]
        try:
            diags, bad, summ, final = run(idx, B)
        except Exception as e:  # noqa: BLE001 -- only an out-of-memory error is handled
            if not is_out_of_memory(e) or B <= n_dev or jax.process_count() > 1:
                raise
            B = max(n_dev, (B // 2) // n_dev * n_dev)  # halve the batch and try again
            continue
        start += len(idx)
        k = len(idx)
        diags = {n: np.asarray(diags[n][:k], np.float64) for n in diag_names}
        summ = {n: np.asarray(v[:k], np.float64) for n, v in summ.items()}
        bad = np.asarray(bad[:k], np.int64)
        st, why = status[idx].copy(), reason[idx].copy()
        for j in np.flatnonzero(bad > 0):
            st[j] = 2
            t = bad[j] * (1.0 if model.discrete else float(dt))
            why[j] = f"the run became non-finite at step {bad[j]} (t = {t:g})"
            for n in diag_names:
                diags[n][j, step_numbers >= bad[j]] = np.nan
            for n in summ:
                summ[n][j] = np.nan
        layout = dict(batch_size=B, devices=n_dev, processes=jax.process_count())
        yield SweepResult(idx, {n: v[idx] for n, v in values.items()}, grid_shape, times, step_numbers, diags, summ,
                          st, bad, why, None if final is None else jax.tree.map(lambda a: a[:k], final), layout)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is XLA's out-of-memory error (the batch is then halved and retried)."""
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "Out of memory" in text or "out of memory" in text


def _summary_names(base, lat, x, extra, dtype) -> tuple[str, ...]:
    m = base.astype(dtype)
    shapes = jax.eval_shape(lambda x: {**final_summaries(m, lat, x, x), **extra_summaries(extra, m, lat, x)}, x)
    return tuple(shapes)


def _nan_states(x: State, k: int) -> State:
    return jax.tree.map(lambda a: np.full((k, *a.shape), np.nan, a.dtype), x)


def sweep(model, lat: Lattice, x0, dt, steps: int, grid: Mapping[str, Sequence] | None = None,
          points: Sequence[Mapping] | None = None, *, save_every: int | None = None, method: str = "ssprk3",
          diagnostics: Sequence[str] | None = None, summaries: Mapping[str, Callable] | None = None,
          final_states: bool = False, batch_size: int | None = None, mesh=None, check: bool = True,
          progress=None) -> SweepResult:
    """Run `model` at every point of a parameter grid (or list), batched, on every device.

    ```python
    res = rj.sweep(model, lat, x0, dt=0.05, steps=500, grid={"gamma": np.linspace(0.05, 0.5, 8)})
    res.summaries["phi_std"]           # (8,) final-state summaries
    res.diagnostics["kinetic_energy"]  # (8, T) over time; res.status / res.reason for failures
    ```

    Args:
      model, lat: the equations (the base values of every parameter not swept) and the lattice.
      x0: the initial `State` of every point, or a function `seed -> State` when `"seed"` is swept.
      dt, steps, save_every, method: as in `rj.simulate` (diagnostics every `save_every` steps).
      grid: name → values; the sweep is their Cartesian product (C order). Names are numeric
        model parameters (not static switches) and `"seed"`.
      points: instead of `grid`, a list of `{name: value}` dicts.
      diagnostics: which `rsvp_jax.diagnostics` to keep over time (default all).
      summaries: extra final-state summaries, name → `fn(model, lat, x_final)` giving a scalar or
        a dict of scalars (vmappable; e.g. `TileSpectrum(dt, tile=4)` for tile-Jacobian spectra).
        Pass the same (or equal, hashable) function objects between calls to reuse the compiled batch.
      final_states: also return every point's final state.
      batch_size: points per batch (rounded up to a multiple of the device count); default: from
        the free memory. mesh: a one-axis `jax.sharding.Mesh` (default: all devices).
      check: check dt per point against the stability limits (unstable points are not run).
      progress: `progress(points_done, points_total)`, or True for a tqdm bar.

    Returns a `SweepResult` over all points, in sweep order. Failed points (`status` ≠ 0) do
    not stop the sweep.
    """
    if (grid is None) == (points is None):
        raise ConfigError("give exactly one of grid={name: values} or points=[{name: value}, ...]")
    values, shape = grid_points(grid) if grid is not None else (list_points(points), None)
    total = len(next(iter(values.values()))) if values else 1
    parts = []
    with Progress(progress, total, unit="point") as bar:
        for part in iter_sweep(model, lat, x0, dt, steps, values, grid_shape=shape, save_every=save_every, method=method,
                               diagnostics=diagnostics, summaries=summaries, final_states=final_states,
                               batch_size=batch_size, mesh=mesh, check=check):
            parts.append(part)
            bar.advance(len(part))
    return SweepResult.concatenate(parts)


__all__ = ["sweep", "iter_sweep", "check_sweep", "auto_batch_size", "is_out_of_memory"]
