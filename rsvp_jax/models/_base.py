"""The base of every equation set: a frozen pytree dataclass of parameters plus a right-hand side."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .. import lattice as L
from ..lattice import Lattice
from ..state import State
from ..errors import ConfigError

_PRESETS: dict[str, type["Model"]] = {}


def static(default):
    """A static (compile-time) field: a switch or a size, not a number to sweep or differentiate."""
    return dataclasses.field(default=default, metadata=dict(static=True))


def register(cls):
    """Make `cls` a frozen dataclass registered as a pytree and as the preset `cls.name`.

    Unflattening does not validate: the leaves may then be gradients, tangents or batching
    placeholders (a negative gradient of a non-negative coefficient is no error).
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    data = tuple(f.name for f in dataclasses.fields(cls) if not f.metadata.get("static"))
    meta = tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("static"))

    def flatten_with_keys(m):
        return [(jax.tree_util.GetAttrKey(n), getattr(m, n)) for n in data], tuple(getattr(m, n) for n in meta)

    def flatten(m):
        return [getattr(m, n) for n in data], tuple(getattr(m, n) for n in meta)

    def unflatten(aux, leaves):
        m = object.__new__(cls)
        for n, v in zip(data + meta, (*leaves, *aux)):
            object.__setattr__(m, n, v)
        return m

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    _PRESETS[cls.name] = cls
    return cls


def concrete(value):
    """The value as a NumPy array if it is a concrete number, else None (tracers, placeholders)."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    return arr if arr.dtype.kind in "biuf" else None


class Model:
    """An equation set ∂_t x = rhs(x) on a lattice (or, if `discrete`, a map x ↦ map(x)).

    Subclasses are frozen dataclasses (see `register`) whose numeric fields are the pytree
    leaves (swept, differentiated) and whose `static` fields are compile-time switches.
    Two switches are shared and validated here, once: a static `order` field (the order of
    the lattice operators, one of `ORDERS`; it also sets the default `stencil_radius`) and a
    static `advection` field (the face flux of Φ and S, one of `ADVECTION_SCHEMES`; see
    `transport_fluxes`).
    """

    name: ClassVar[str]
    dims: ClassVar[tuple[int, ...]] = (1, 2, 3)
    discrete: ClassVar[bool] = False
    nonnegative: ClassVar[tuple[str, ...]] = ()
    positive: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("static"):
                continue
            arr = concrete(value)
            if arr is None:
                continue
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"{self.name}: parameter {f.name}={_fmt(value)} is not finite")
            if f.name in self.nonnegative and np.any(arr < 0):
                raise ConfigError(f"{self.name}: parameter {f.name}={_fmt(value)} is negative; it must be >= 0")
            if f.name in self.positive and np.any(arr <= 0):
                raise ConfigError(f"{self.name}: parameter {f.name}={_fmt(value)} must be > 0")
        statics = self.static_names()
        if "order" in statics and self.order not in L.ORDERS:
            raise ConfigError(f"{self.name}: order={self.order!r} is invalid; valid orders are {L.ORDERS}")
        if "advection" in statics and self.advection not in L.ADVECTION_SCHEMES:
            raise ConfigError(
                f"{self.name}: advection={self.advection!r} is invalid; valid schemes are {L.ADVECTION_SCHEMES}"
            )
        self.validate()

    def validate(self) -> None:
        """Extra checks on concrete parameter values (override)."""

    # ---- parameters -------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """The numeric (leaf) parameters, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls) if not f.metadata.get("static"))

    @classmethod
    def static_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("static"))

    def params(self) -> dict:
        """All fields (numeric and static) as a dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes) -> "Model":
        """A copy with some fields changed; unknown names are an error listing the valid ones."""
        names = self.param_names() + self.static_names()
        unknown = [k for k in changes if k not in names]
        if unknown:
            raise ConfigError(f"{self.name} has no parameter {unknown[0]!r}; its parameters are {', '.join(names)}")
        return dataclasses.replace(self, **changes)

    def astype(self, dtype) -> "Model":
        """The numeric parameters cast to `dtype` (so float64 parameters never promote a float32 state)."""
        return jax.tree.map(lambda p: jnp.asarray(p, dtype), self)

    # ---- the equations ----------------------------------------------------------------------
    def rhs(self, lat: Lattice, x: State) -> State:
        """∂_t x (continuous models)."""
        raise NotImplementedError

    def map(self, lat: Lattice, x: State) -> State:
        """x at the next step (discrete models)."""
        raise NotImplementedError

    def stencil_radius(self) -> int:
        """How many cells away one evaluation of `rhs` (or `map`) reads, along each axis.

        By default one cell at order 2 and two at order 4 (the widest stencils of `lattice`).
        """
        return 1 if getattr(self, "order", 2) == 2 else 2

    # ---- transport of Φ and S (models with an `advection` switch) ---------------------------
    def wave_speed_scale(self):
        """A fixed speed of the model's waves (its parameters, not the state): the unit of δ."""
        return 1.0

    def dissipation_floor(self):
        """δ of the smooth dissipation speed a(u) = √(u² + δ²): `DISSIPATION_FLOOR` × `wave_speed_scale`."""
        return L.DISSIPATION_FLOOR * self.wave_speed_scale()

    def transport_fluxes(self, lat: Lattice, q, v, diffusivity):
        """The face fluxes of q v − κ∇q with this model's `order` and `advection` scheme."""
        return L.transport_fluxes(q, v, diffusivity, lat, self.order, self.advection, self.dissipation_floor())

    def transport_divergence(self, lat: Lattice, q, v, diffusivity):
        """∇· of `transport_fluxes`, the same numbers computed faster (`lattice.transport_divergence`)."""
        return L.transport_divergence(q, v, diffusivity, lat, self.order, self.advection, self.dissipation_floor())

    def transport_positivity_rate(self, lat: Lattice, x: State, diffusivity: float) -> float | None:
        """`lattice.transport_positivity_rate` at state `x` (|u| ≤ max |v|), or None if not monotone."""
        delta = float(jnp.max(self.dissipation_floor()))
        return L.transport_positivity_rate(lat, vmax(lat, x), diffusivity, delta, self.advection, self.order)

    def entropy_production(self, lat: Lattice, x: State):
        """The local entropy production σ (*N), the source term of S."""
        return L.zeros_like(x.S)

    def invariant(self, lat: Lattice, x: State):
        """The integral the equations conserve exactly, or None if there is none."""
        return None

    def stability_limits(self, lat: Lattice, x: State) -> dict[str, float]:
        """Each explicit limit's largest stable dt (name → dt), from the concrete state `x`."""
        return {}

    def check_lattice(self, lat: Lattice) -> None:
        if lat.ndim not in self.dims:
            raise ConfigError(
                f"preset {self.name!r} is defined on {' / '.join(f'{d}D' for d in self.dims)} lattices, not {lat.ndim}D"
            )

    def time_scales(self, lat: Lattice, x: State, length: float) -> dict[str, float]:
        """The dynamics' clocks at the concrete state `x` over a distance `length` (model time):
        `tile_crossing` length / (|v|max + wave speed), `damping` 1 / (damping rate), `diffusion`
        length² / (largest diffusivity); those the model has (none for discrete maps)."""
        return {}


def _fmt(value):
    arr = np.asarray(value)
    return f"{arr.item():g}" if arr.ndim == 0 else f"{arr.tolist()}"


def vmax(lat: Lattice, x: State) -> float:
    """max |v| over the lattice (and any batch), as a Python float."""
    return float(jnp.sqrt(jnp.max(jnp.sum(x.v**2, axis=-lat.ndim - 1))))


def fmax(a) -> float:
    return float(jnp.max(a))


def safe_div(num: float, den: float) -> float:
    return num / den if den > 0 else math.inf
