r"""The tangent-linear and adjoint models of a rollout: blocks of perturbations pushed forward and back.

For the k-step map $x_k = F^k(x_0)$ with one step $x_{t+1} = f(x_t)$, the propagator
$M = \partial x_k / \partial x_0 = f'(x_{k-1}) \cdots f'(x_0)$ acts on a block of p tangents W as

```
tangent_rollout:  W ← f'(x_t) W          for t = 0 .. k−1   (x_t recomputed alongside)
adjoint_rollout:  U ← f'(x_t)ᵀ U         for t = k−1 .. 0   (x_t from checkpoints)
```

— the tangent-linear and adjoint models of data assimilation. A tangent step is `jax.jvp` of f
`vmap`ped over the block with the primal unbatched (`out_axes=None`), so the primal is computed
once per step however many vectors the block holds, and the tangents ride along through the
Runge–Kutta stage loop. (`jax.linearize` per step would do the same arithmetic but splits the
stage loop into a primal loop that stacks its residuals and a linear loop that reads them back:
measured 64² float32, a block of 16, SSP-RK3: 5× slower.) An adjoint step is `jax.vjp` of f at
x_t, its pullback `vmap`ped over the block, with two choices that give the same numbers and
matter on XLA CPU (measured float32, SSP-RK3, blocks of 16, `bench.horizons.tangent_throughput`):

- the step is traced in `lattice.transposable_form` (the stencils shift what they compute, not
  what they read, so the pullback shifts cotangents already in memory): 64², 331 → ~1,000
  vector-steps/s;
- its Runge–Kutta stages are staged (`step_fn`'s fused form, which `fuse_stages` picks for the
  primal from 128 cells up, takes its derivatives from the staged one: differentiated as it
  is, every stage's transposed stencils fuse into one kernel that recomputes them); 256²:
  1–3 → ~30 vector-steps/s.

`steps` is a traced argument (a `fori_loop` bound): one compiled program serves every horizon.
The adjoint keeps one state per `segment` steps (checkpoints, `n_segments` of them at most),
recomputes each segment's states forward, then sweeps it backward: memory is `n_segments` +
`segment` states, i.e. O(√steps) with `segment` ≈ √steps (`checkpoint_layout`), and the primal
is computed twice.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from ..lattice import Lattice, transposable_form
from ..models import Model
from ..state import from_array, to_array
from ._step import step_fn


def checkpoint_layout(max_steps: int) -> tuple[int, int]:
    """(segment, n_segments) for adjoints of up to `max_steps` steps: segment ≈ √max_steps."""
    segment = max(1, math.isqrt(max(1, int(max_steps) - 1)) + 1)
    return segment, -(-int(max_steps) // segment)


def _one_step(model, lat, dt, method):
    return lambda a: to_array(step_fn(model, lat, from_array(a, lat), dt, method))


@functools.partial(jax.jit, static_argnames=("lat", "method"))
def tangent_rollout(model: Model, lat: Lattice, x0, dt, steps, W, method: str = "ssprk3"):
    """(x_k, M W): the state after `steps` steps from the array x0 (C, *N), and the block of
    tangents W (p, C, *N) pushed through them. `steps` may be traced (no recompilation)."""
    model = model.astype(x0.dtype)
    f = _one_step(model, lat, jnp.asarray(dt, x0.dtype), method)

    def body(_, carry):
        x, W = carry
        return jax.vmap(lambda w: jax.jvp(f, (x,), (w,)), out_axes=(None, 0))(W)

    return jax.lax.fori_loop(0, steps, body, (x0, W))


@functools.partial(jax.jit, static_argnames=("lat", "method", "segment", "n_segments"))
def adjoint_rollout(model: Model, lat: Lattice, x0, dt, steps, U, method: str = "ssprk3", *, segment: int,
                    n_segments: int):
    """Mᵀ U: the block of cotangents U (p, C, *N) at step `steps` pulled back to step 0.

    `steps` ≤ segment · n_segments may be traced; see `checkpoint_layout` for the two sizes.
    """
    model = model.astype(x0.dtype)
    f = _one_step(model, lat, jnp.asarray(dt, x0.dtype), method)
    n_full, rest = steps // segment, steps % segment
    n_used = n_full + (rest > 0)

    # Forward: the state at the start of every segment.
    def save(j, carry):
        x, ck = carry
        ck = ck.at[j].set(x)
        length = jnp.where(j < n_full, segment, rest)
        return jax.lax.fori_loop(0, length, lambda _, y: f(y), x), ck

    _, ck = jax.lax.fori_loop(0, n_used, save, (x0, jnp.zeros((n_segments, *x0.shape), x0.dtype)))

    # Backward: segment by segment, last first; recompute its states, then sweep them back.
    def segment_back(i, U):
        j = n_used - 1 - i
        length = jnp.where(j < n_full, segment, rest)

        def remember(t, carry):
            x, xs = carry
            return f(x), xs.at[t].set(x)

        _, xs = jax.lax.fori_loop(0, length, remember, (ck[j], jnp.zeros((segment, *x0.shape), x0.dtype)))

        def back(s, U):
            with transposable_form():  # the same step, in the form whose pullback runs fast
                _, pull = jax.vjp(f, xs[length - 1 - s])
            return jax.vmap(lambda u: pull(u)[0])(U)

        return jax.lax.fori_loop(0, length, back, U)

    return jax.lax.fori_loop(0, n_used, segment_back, U)


__all__ = ["tangent_rollout", "adjoint_rollout", "checkpoint_layout"]
