"""The snapshot engine: a pure `lax.scan` that saves a run every few steps and stops at a NaN.

`snapshots` is the one place where runs are advanced and recorded: `simulate` jits it (in blocks,
for progress), `rj.sweep` `vmap`s it over a batch of parameter sets. It is pure and traceable:
differentiable, batchable, shardable.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import diagnostics as _diagnostics
from ..lattice import Lattice
from ..models import Model
from ..state import State
from ._step import step_fn


class Snapshots(NamedTuple):
    """What `snapshots` returns.

    - `states`: the n saved states stacked on a leading axis (`keep_states=True`), else the final one.
    - `diagnostics`: name → (n,) values at the saved states.
    - `failed_step`: the first step (1-based) whose result was not finite, or 0.
    """

    states: State
    diagnostics: dict
    failed_step: jax.Array


def _all_finite(x: State):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(x)]))


def advance(model: Model, lat: Lattice, x: State, dt, n: int, method: str = "ssprk3", checkpoint: bool = False):
    """n steps by `lax.scan`: (x_n, k) with k the first step (1-based) whose result was not finite,
    or 0. After such a step the state is frozen at the last finite one, so nothing after it is
    computed from garbage (and one bad point of a batch cannot poison the others)."""

    def body(carry, i):
        x, bad = carry
        x_new = step_fn(model, lat, x, dt, method)
        bad = jnp.where((bad == 0) & ~_all_finite(x_new), i + 1, bad)
        x = jax.tree.map(lambda new, old: jnp.where(bad == 0, new, old), x_new, x)
        return (x, bad), None

    def chunk(x):
        (x, bad), _ = jax.lax.scan(body, (x, jnp.zeros((), jnp.int32)), jnp.arange(n, dtype=jnp.int32))
        return x, bad

    return (jax.checkpoint(chunk) if checkpoint else chunk)(x)


def snapshots(model: Model, lat: Lattice, x0: State, dt, n_saves: int, save_every: int, method: str = "ssprk3", *,
              checkpoint: bool = False, diagnostics: tuple[str, ...] | None = None, keep_states: bool = True) -> Snapshots:
    """`n_saves` snapshots, `save_every` steps apart, after `x0` (x0 itself is not among them).

    Args:
      checkpoint: wrap each `save_every`-step interval in `jax.checkpoint` (a gradient then stores
        one state per snapshot and recomputes the steps between).
      diagnostics: the names of `rsvp_jax.diagnostics.compute` to record (None: all; (): none).
      keep_states: stack every snapshot (else only the final state is returned).

    Static: `lat`, `n_saves`, `save_every`, `method`, `checkpoint`, `diagnostics`, `keep_states`.
    """
    model = model.astype(x0.phi.dtype)

    def save(carry, j):
        x, bad = carry
        x, b = advance(model, lat, x, dt, save_every, method, checkpoint)
        bad = jnp.where((bad == 0) & (b > 0), j * save_every + b, bad)
        diag = {}
        if diagnostics is None or diagnostics:
            d = _diagnostics.compute(model, lat, x)
            diag = d if diagnostics is None else {k: d[k] for k in diagnostics}
        return (x, bad), ((x if keep_states else None), diag)

    (x, bad), (states, diags) = jax.lax.scan(save, (x0, jnp.zeros((), jnp.int32)), jnp.arange(n_saves, dtype=jnp.int32))
    return Snapshots(states if keep_states else x, diags, bad)


__all__ = ["Snapshots", "snapshots", "advance"]
