"""Device meshes: a batch of sweep points, or one large lattice, spread over every device.

Two layouts, both on a one-axis `jax.sharding.Mesh` of all (global) devices:

- **batch**: arrays with a leading batch axis (one entry per sweep point) are split along
  it, `PartitionSpec("batch")`; everything else (the model, dt) is replicated.
- **lattice**: one state split along its *first lattice axis*: Φ and S as `P(axis, None, ...)`,
  v as `P(None, axis, None, ...)`. The periodic shifts of `lattice` (`jnp.roll`) then
  compile, under sharded `jit`, to halo exchanges between neighbouring devices
  (XLA `collective-permute`), never to an all-gather of the lattice.

Every placement goes through `jax.make_array_from_callback`, so the same code makes
*global* arrays under `jax.distributed` (each process fills only its own devices), and
`to_host` brings a (possibly multi-process) result back to NumPy on every process.
"""

from __future__ import annotations

import functools
import math

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..errors import ConfigError
from ..state import State


def device_mesh(devices=None, axis: str = "batch") -> Mesh:
    """A one-axis mesh over `devices` (default: every device of every process, `jax.devices()`).

    The axis is `Auto`, i.e. ordinary sharded `jit`: the compiler propagates shardings.
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ConfigError("a device mesh needs at least one device")
    return Mesh(np.asarray(devices), (axis,), axis_types=(jax.sharding.AxisType.Auto,))


def mesh_size(mesh: Mesh) -> int:
    return math.prod(mesh.shape.values())


def _axis(mesh: Mesh) -> str:
    if len(mesh.axis_names) != 1:
        raise ConfigError(f"a mesh with one axis is expected, not {dict(mesh.shape)}")
    return mesh.axis_names[0]


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Split the leading axis over the mesh."""
    return NamedSharding(mesh, P(_axis(mesh)))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def pad_batch(n: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that holds n entries (n ≥ 1)."""
    return max(1, math.ceil(n / multiple)) * multiple


def put(tree, sharding):
    """Place a pytree of host arrays with `sharding` (one sharding, or a matching pytree of them).

    Works in one process and under `jax.distributed` alike: each process supplies, from its
    own full copy of the host data, only the slices its devices hold.
    """

    def one(a, s):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, s, lambda index: a[index])

    if isinstance(sharding, jax.sharding.Sharding):
        return jax.tree.map(lambda a: one(a, sharding), tree)
    return jax.tree.map(one, tree, sharding)


def to_host(tree):
    """A pytree of (possibly sharded, possibly multi-process) arrays as NumPy arrays on every process."""
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    from jax.experimental import multihost_utils

    return jax.tree.map(
        lambda a: np.asarray(a) if getattr(a, "is_fully_addressable", True) else
        np.asarray(multihost_utils.process_allgather(a, tiled=True)),
        tree,
    )


# ---- one lattice over the mesh ------------------------------------------------------------------
def lattice_sharding(x: State, mesh: Mesh) -> State:
    """A `State` of shardings that split the first lattice axis of `x` over the mesh."""
    from ..state import spatial_ndim

    D, axis = spatial_ndim(x), _axis(mesh)
    field = P(*([None] * (x.phi.ndim - D)), axis, *([None] * (D - 1)))
    flow = P(*([None] * (x.v.ndim - D)), axis, *([None] * (D - 1)))
    n, first = mesh_size(mesh), x.phi.shape[x.phi.ndim - D]
    if first % n:
        ok = [d for d in range(1, first + 1) if first % d == 0]
        raise ConfigError(
            f"the first lattice axis ({first} cells) does not split evenly over {n} devices; "
            f"use a mesh of {', '.join(map(str, ok))} devices or a first axis that is a multiple of {n}"
        )
    return State(NamedSharding(mesh, field), NamedSharding(mesh, flow), NamedSharding(mesh, field))


def shard_state(x: State, mesh: Mesh | None = None) -> State:
    """`x` placed on the mesh, split along its first lattice axis (see the module docstring).

    On one host, `rj.simulate` / `rj.rollout` of the returned state already run sharded
    (jit follows the input sharding); `sharded_rollout` also works across processes.
    """
    mesh = device_mesh(axis="lattice") if mesh is None else mesh
    return put(x, lattice_sharding(x, mesh))


@functools.partial(jax.jit, static_argnames=("lat", "steps", "method", "shardings"))
def _rollout_sharded(model, lat, x, dt, steps, method, shardings):
    from ..integrate import rollout

    return jax.lax.with_sharding_constraint(rollout(model, lat, x, dt, steps, method), shardings)


def sharded_rollout(model, lat, x0: State, dt, steps: int, method: str = "ssprk3", mesh: Mesh | None = None) -> State:
    """The k-step map `rj.rollout(model, lat, x0, dt, steps)` with the lattice split over `mesh`.

    `x0` may be a host state (it is placed here) or one from `shard_state`. The result is a
    sharded `State`; `to_host(result)` gathers it (on every process under `jax.distributed`).
    It equals the unsharded rollout to round-off (every operator is local: the shifts
    across device boundaries become `collective-permute`s, and nothing is reduced).
    """
    from ..integrate import check_method

    check_method(method)
    model.check_lattice(lat)
    mesh = device_mesh(axis="lattice") if mesh is None else mesh
    shardings = lattice_sharding(x0, mesh)
    if not all(isinstance(a, jax.Array) and a.sharding == s for a, s in zip(jax.tree.leaves(x0), jax.tree.leaves(shardings))):
        x0 = put(to_host(x0), shardings)
    dt = put(np.asarray(dt, x0.phi.dtype), replicated(mesh))
    model = put(model.astype(x0.phi.dtype), replicated(mesh))
    return _rollout_sharded(model, lat, x0, dt, int(steps), method, shardings)


__all__ = [
    "device_mesh", "batch_sharding", "replicated", "pad_batch", "put", "to_host",
    "lattice_sharding", "shard_state", "sharded_rollout",
]
