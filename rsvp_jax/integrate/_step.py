"""One time step of a model, and the k-step map: `step`, `step_fn`, `rollout`.

Every method (`METHODS`, tables in `_tableau`) is generic over the model: it only calls
`model.rhs`. A discrete model (`model.discrete`, e.g. `"seed"`) is advanced by applying
`model.map` once per step, whatever the method.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..lattice import Lattice
from ..models import Model
from ..state import State
from ._tableau import TABLEAUS, rk_step

ORDER = {name: t.order for name, t in TABLEAUS.items()}
METHODS = tuple(TABLEAUS)


def check_method(method: str) -> None:
    if method not in TABLEAUS:
        raise ConfigError(f"integrator {method!r} is unknown; valid methods are {', '.join(METHODS)}")


def stages(model: Model, method: str) -> int:
    """How many right-hand-side evaluations one step makes (1 for a discrete model)."""
    check_method(method)
    return 1 if model.discrete else TABLEAUS[method].stages


def fuse_stages(lat: Lattice, method: str) -> bool:
    """Whether a step runs its Runge–Kutta stages fused or staged (`_tableau.rk_step`): fused only
    for SSP-RK3 on 2D lattices whose last axis has at least 128 cells, where it was 10–15 % faster.
    Measured on XLA CPU, jax 0.10, float32, 32² to 2048² (not on accelerators): staged was 1.2–3x
    faster for RK4 everywhere and for SSP-RK3 below 128 cells and in 3D. For Heun the two were
    within noise from 128² up (staged 0.73–1.05x the fused time over repeated runs); fused Heun was
    faster at 32²–64², by 0.05–0.3 ms a step. A `vmap`ped batch of lattices (a sweep) keeps the
    last axis, and the choice."""
    return method == "ssprk3" and lat.ndim == 2 and lat.shape[-1] >= 128


def step_fn(model: Model, lat: Lattice, x: State, dt, method: str = "ssprk3") -> State:
    """One step, un-jitted: the pure function `step` compiles. Parameters follow the state's dtype."""
    model = model.astype(x.phi.dtype)
    if model.discrete:
        return model.map(lat, x)
    dt = jnp.asarray(dt, x.phi.dtype)
    if fuse_stages(lat, method):
        return _fused_step(model, x, dt, lat, method)
    return _staged_step(model, lat, x, dt, method)


def _staged_step(model, lat, x, dt, method):
    return rk_step(method, lambda y: model.rhs(lat, y), x, dt, staged=True)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _fused_step(model, x, dt, lat, method):
    """The fused step, whose derivatives are those of the staged step: the same function, equal
    to rounding (under differentiation the primal output is the staged one too). Differentiated
    as it is, the fused form is slow on XLA CPU: the tangent and transposed stencils of every
    stage fuse into kernels that recompute them. The gradient of a 100-step fit loss on 128²,
    SSP-RK3: 19.3 s fused against 2.2 s staged, the forward pass 0.09 s
    (`tests/test_integrate.py` checks that these are the fused step's derivatives)."""
    return rk_step(method, lambda y: model.rhs(lat, y), x, dt, staged=False)


@_fused_step.defjvp
def _fused_step_jvp(lat, method, primals, tangents):
    return jax.jvp(lambda m, y, h: _staged_step(m, lat, y, h, method), primals, tangents)


@functools.partial(jax.jit, static_argnames=("method",))
def _step_jit(model, lat, x, dt, method):
    return step_fn(model, lat, x, dt, method)


def step(model: Model, lat: Lattice, x: State, dt, method: str = "ssprk3") -> State:
    """Advance `x` by one time step `dt` with `method` (`METHODS`). Jitted.

    No stability check here (it would cost a device sync per step); `simulate` checks dt.
    """
    check_method(method)
    model.check_lattice(lat)
    return _step_jit(model, lat, x, dt, method)


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


__all__ = ["METHODS", "ORDER", "check_method", "stages", "fuse_stages", "step_fn", "step", "rollout"]
