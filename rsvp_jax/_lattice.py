"""Periodic lattices and the finite-difference / finite-volume operators on them.

Fields are cell values on a periodic grid of `shape = (N_1, ..., N_D)` cells of width `h`.
Every operator acts on the *last D axes* of its input, so leading axes (vector components,
batches) pass through. Read the values as cell averages: then the face formulas below are
the standard finite-volume ones, and the cell-centred stencils (gradient, Laplacian) are
exactly the divergence of face quantities, so any equation written with
`flux_divergence` conserves its integral to round-off.

| operator            | order 2                          | order 4                                         |
|---------------------|----------------------------------|-------------------------------------------------|
| `face_average`      | (a_i + a_{i+1}) / 2              | (−a_{i−1} + 7a_i + 7a_{i+1} − a_{i+2}) / 12     |
| `face_difference`   | (a_{i+1} − a_i) / h              | (a_{i−1} − 15a_i + 15a_{i+1} − a_{i+2}) / 12h   |
| `derivative`        | (f_{i+1} − f_{i−1}) / 2h         | (f_{i−2} − 8f_{i−1} + 8f_{i+1} − f_{i+2}) / 12h |
| `laplacian` (per d) | (f_{i−1} − 2f_i + f_{i+1}) / h²  | (−f_{i−2} + 16f_{i−1} − 30f_i + 16f_{i+1} − f_{i+2}) / 12h² |

Face arrays are indexed by their left cell: entry i holds the value at face i + 1/2.

Two representations run through the same operators. A plain array is periodic: `shift`
is `jnp.roll`. A `HaloArray` carries `halo[d]` extra cells on each side of axis d (filled
once per time step from the periodic neighbours by `pad_periodic`); there `shift` is a
static slice that uses up halo cells, and arithmetic crops operands to their common
interior. XLA fuses static slices into vectorised loops, while rolls along the minor axis
become slow element-wise selects, so the integrators run the models on halo arrays (about
an order of magnitude faster on CPU); the results are the same cell for cell.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ConfigError

ORDERS = (2, 4)


@dataclasses.dataclass(frozen=True)
class Lattice:
    """A periodic lattice of `shape` cells (1, 2 or 3 axes) with cell width `spacing`.

    It is static under `jit` (a pytree with no leaves): changing it recompiles.
    """

    shape: tuple[int, ...]
    spacing: float = 1.0

    def __post_init__(self):
        try:
            shape = tuple(int(n) for n in self.shape)
        except (TypeError, ValueError):
            raise ConfigError(f"lattice shape {self.shape!r} is not a tuple of integers") from None
        if not 1 <= len(shape) <= 3:
            raise ConfigError(f"lattice shape {shape} has {len(shape)} axes; 1, 2 or 3 are valid")
        if any(n < 1 for n in shape) or any(n != m for n, m in zip(shape, self.shape)):
            raise ConfigError(f"lattice shape {self.shape!r} is invalid; every axis needs a whole number >= 1 of cells")
        spacing = float(self.spacing)
        if not (math.isfinite(spacing) and spacing > 0):
            raise ConfigError(f"lattice spacing {self.spacing!r} is invalid; it must be a finite number > 0")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", spacing)

    @property
    def ndim(self) -> int:
        """D, the number of spatial axes."""
        return len(self.shape)

    @property
    def channels(self) -> int:
        """C = D + 2: Φ, v_1..v_D, S."""
        return self.ndim + 2

    @property
    def size(self) -> int:
        """The number of cells."""
        return math.prod(self.shape)

    @property
    def cell_volume(self) -> float:
        return self.spacing**self.ndim

    @property
    def extent(self) -> tuple[float, ...]:
        """The periodic length of each axis."""
        return tuple(n * self.spacing for n in self.shape)

    def coords(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinates along each axis, (i + 1/2)·h."""
        return tuple((np.arange(n) + 0.5) * self.spacing for n in self.shape)

    def mesh(self) -> tuple[np.ndarray, ...]:
        """`coords()` broadcast to the lattice shape (`indexing="ij"`)."""
        return tuple(np.meshgrid(*self.coords(), indexing="ij"))


jax.tree_util.register_static(Lattice)


class HaloArray:
    """Field values plus ghost cells on both sides of each of the last D axes.

    `halo[d] = (left, right)`: `data` has N_d + left + right entries along spatial axis d,
    and entry j holds cell j − left. Arithmetic with another HaloArray crops both to the
    smaller halo on each side; with a scalar it broadcasts. `shift` by k > 0 uses up k
    cells of the right halo, by k < 0 |k| cells of the left one. Used only inside a time
    step (see `pad_periodic`); it is not a pytree and never crosses a `jit` boundary.
    """

    __slots__ = ("data", "halo")

    def __init__(self, data, halo):
        self.data = data
        self.halo = tuple(tuple(h) for h in halo)

    @property
    def dtype(self):
        return self.data.dtype

    def crop(self, halo) -> "HaloArray":
        halo = tuple(tuple(h) for h in halo)
        if halo == self.halo:
            return self
        D = len(self.halo)
        data = self.data
        for d, ((l, r), (tl, tr)) in enumerate(zip(self.halo, halo)):
            if tl > l or tr > r:
                raise ValueError(f"cannot crop a halo of {self.halo} to {halo}: a stencil reached further than declared")
            if (l, r) != (tl, tr):
                axis = data.ndim - D + d
                data = jax.lax.slice_in_dim(data, l - tl, data.shape[axis] - (r - tr), axis=axis)
        return HaloArray(data, halo)

    def interior(self):
        """The plain array of the lattice's own cells (no halo)."""
        return self.crop(((0, 0),) * len(self.halo)).data

    def _binary(self, other, op, reverse=False):
        if isinstance(other, HaloArray):
            halo = _common_halo([self.halo, other.halo])
            a, b = self.crop(halo).data, other.crop(halo).data
        else:
            if getattr(other, "ndim", 0) > 0:
                raise TypeError("a HaloArray combines only with scalars and other HaloArrays")
            halo, a, b = self.halo, self.data, other
        return HaloArray(op(b, a) if reverse else op(a, b), halo)

    def __add__(self, o): return self._binary(o, jnp.add)  # noqa: E704
    def __radd__(self, o): return self._binary(o, jnp.add, True)  # noqa: E704
    def __sub__(self, o): return self._binary(o, jnp.subtract)  # noqa: E704
    def __rsub__(self, o): return self._binary(o, jnp.subtract, True)  # noqa: E704
    def __mul__(self, o): return self._binary(o, jnp.multiply)  # noqa: E704
    def __rmul__(self, o): return self._binary(o, jnp.multiply, True)  # noqa: E704
    def __truediv__(self, o): return self._binary(o, jnp.divide)  # noqa: E704
    def __rtruediv__(self, o): return self._binary(o, jnp.divide, True)  # noqa: E704
    def __pow__(self, o): return self._binary(o, jnp.power)  # noqa: E704
    def __neg__(self): return HaloArray(-self.data, self.halo)  # noqa: E704


def _common_halo(halos):
    return tuple((min(h[d][0] for h in halos), min(h[d][1] for h in halos)) for d in range(len(halos[0])))


def pad_periodic(f, width: tuple[int, ...]) -> HaloArray:
    """Wrap a periodic field (last D = len(width) axes) into a HaloArray with `width[d]` ghost
    cells on each side of axis d."""
    D = len(width)
    for d, h in enumerate(width):
        if h == 0:
            continue
        axis = f.ndim - D + d
        n = f.shape[axis]
        if h <= n:
            left = jax.lax.slice_in_dim(f, n - h, n, axis=axis)
            right = jax.lax.slice_in_dim(f, 0, h, axis=axis)
            f = jnp.concatenate([left, f, right], axis=axis)
        else:  # a halo wider than the axis wraps around more than once
            f = jnp.take(f, np.arange(-h, n + h) % n, axis=axis)
    return HaloArray(f, tuple((h, h) for h in width))


def _lift(fn):
    """Apply a NumPy-style function to plain arrays, or to HaloArrays cropped to their common halo."""

    def lifted(*args, **kwargs):
        halos = [a.halo for a in args if isinstance(a, HaloArray)]
        if not halos:
            return fn(*args, **kwargs)
        halo = _common_halo(halos)
        data = [a.crop(halo).data if isinstance(a, HaloArray) else a for a in args]
        return HaloArray(fn(*data, **kwargs), halo)

    return lifted


maximum = _lift(jnp.maximum)
minimum = _lift(jnp.minimum)
sqrt = _lift(jnp.sqrt)
abs_ = _lift(jnp.abs)


def sum_components(v, lat: "Lattice"):
    """Σ_i v_i over the component axis of a vector field (..., D, *N)."""
    return _lift(lambda a: jnp.sum(a, axis=-lat.ndim - 1))(v)


def stack_components(parts, lat: "Lattice"):
    """Stack D fields into a vector field (..., D, *N)."""
    return _lift(lambda *a: jnp.stack(a, axis=-lat.ndim - 1))(*parts)


def zeros_like(f):
    return _lift(jnp.zeros_like)(f)


def _check_order(order: int) -> None:
    if order not in ORDERS:
        raise ConfigError(f"finite-difference order {order!r} is not supported; valid orders are {ORDERS}")


def _axis(lat: Lattice, d: int) -> int:
    return d - lat.ndim  # the d-th spatial axis, counted from the end


def shift(f, k: int, axis: int):
    """f_{i+k} along `axis` (negative: counted from the end): a periodic roll of a plain
    array, a slice (using up |k| halo cells) of a HaloArray."""
    if k == 0:
        return f
    if not isinstance(f, HaloArray):
        return jnp.roll(f, -k, axis=axis)
    d = len(f.halo) + axis  # the spatial axis index
    left, right = f.halo[d]
    if (k > 0 and k > right) or (k < 0 and -k > left):
        raise ValueError(f"shift by {k} along axis {d} needs {abs(k)} halo cells on that side; the halo is {f.halo[d]}")
    n = f.data.shape[axis]
    data = jax.lax.slice_in_dim(f.data, max(k, 0), n + min(k, 0), axis=f.data.ndim + axis)
    side = (left, right - k) if k > 0 else (left + k, right)
    return HaloArray(data, f.halo[:d] + (side,) + f.halo[d + 1:])


def face_average(f, lat: Lattice, d: int, order: int = 2):
    """The value at face i + 1/2 along spatial axis d."""
    _check_order(order)
    a = _axis(lat, d)
    if order == 2:
        return 0.5 * (f + shift(f, 1, a))
    return (7.0 * (f + shift(f, 1, a)) - (shift(f, -1, a) + shift(f, 2, a))) / 12.0


def face_difference(f, lat: Lattice, d: int, order: int = 2):
    """The derivative ∂_d f at face i + 1/2."""
    _check_order(order)
    a, h = _axis(lat, d), lat.spacing
    if order == 2:
        return (shift(f, 1, a) - f) / h
    return (15.0 * (shift(f, 1, a) - f) - (shift(f, 2, a) - shift(f, -1, a))) / (12.0 * h)


def face_divergence(flux, lat: Lattice, d: int):
    """(F_{i+1/2} − F_{i−1/2}) / h along spatial axis d: the exact cell balance of a face flux."""
    return (flux - shift(flux, -1, _axis(lat, d))) / lat.spacing


def flux_divergence(fluxes, lat: Lattice):
    """∇·F for face fluxes `fluxes[d]` (a sequence of D arrays, one per axis)."""
    return sum(face_divergence(fluxes[d], lat, d) for d in range(lat.ndim))


def upwind_flux(q, u_face, lat: Lattice, d: int):
    """The donor-cell flux u q at face i + 1/2: u⁺ q_i + u⁻ q_{i+1}.

    Monotone (positivity-preserving under the CFL limit), first order.
    """
    return maximum(u_face, 0.0) * q + minimum(u_face, 0.0) * shift(q, 1, _axis(lat, d))


def derivative(f, lat: Lattice, d: int, order: int = 2):
    """The centred derivative ∂_d f at cell centres (the divergence of `face_average`)."""
    _check_order(order)
    a, h = _axis(lat, d), lat.spacing
    if order == 2:
        return (shift(f, 1, a) - shift(f, -1, a)) / (2.0 * h)
    return (8.0 * (shift(f, 1, a) - shift(f, -1, a)) - (shift(f, 2, a) - shift(f, -2, a))) / (12.0 * h)


def gradient(f, lat: Lattice, order: int = 2):
    """∇f, shape (..., D, *N)."""
    return stack_components([derivative(f, lat, d, order) for d in range(lat.ndim)], lat)


def component(v, lat: Lattice, d: int):
    """The d-th component of a vector field of shape (..., D, *N)."""
    return _lift(lambda a: jnp.take(a, d, axis=-lat.ndim - 1))(v)


def divergence(v, lat: Lattice, order: int = 2):
    """∇·v for v of shape (..., D, *N)."""
    return sum(derivative(component(v, lat, d), lat, d, order) for d in range(lat.ndim))


def laplacian(f, lat: Lattice, order: int = 2):
    """∇²f, the divergence of `face_difference` (so it conserves ∫f exactly)."""
    _check_order(order)
    h2 = lat.spacing**2
    out = 0.0
    for d in range(lat.ndim):
        a = _axis(lat, d)
        if order == 2:
            out = out + (shift(f, 1, a) - 2.0 * f + shift(f, -1, a)) / h2
        else:
            out = out + (
                16.0 * (shift(f, 1, a) + shift(f, -1, a)) - (shift(f, 2, a) + shift(f, -2, a)) - 30.0 * f
            ) / (12.0 * h2)
    return out


def biharmonic(f, lat: Lattice, order: int = 2):
    """∇⁴f = ∇²(∇²f)."""
    return laplacian(laplacian(f, lat, order), lat, order)


def curl(v, lat: Lattice, order: int = 2):
    """∇×v: in 3D the vector (3, *N); in 2D the scalar vorticity ∂_x v_y − ∂_y v_x; in 1D zero."""
    D = lat.ndim
    c = lambda i: component(v, lat, i)  # noqa: E731
    dd = lambda f, i: derivative(f, lat, i, order)  # noqa: E731
    if D == 1:
        return zeros_like(c(0))
    if D == 2:
        return dd(c(1), 0) - dd(c(0), 1)
    return stack_components([dd(c(2), 1) - dd(c(1), 2), dd(c(0), 2) - dd(c(2), 0), dd(c(1), 0) - dd(c(0), 1)], lat)


def velocity_gradient_squared(v, lat: Lattice, order: int = 2):
    """|∇v|² = Σ_ij (∂_j v_i)², from face differences averaged over the two faces of a cell.

    This is the dissipation that the discrete ν∇²v actually produces, and it is ≥ 0 by
    construction; it is what makes the entropy production σ ≥ 0 exactly.
    """
    out = 0.0
    for d in range(lat.ndim):
        g2 = sum_components(face_difference(v, lat, d, order) ** 2, lat)
        out = out + 0.5 * (g2 + shift(g2, -1, _axis(lat, d)))
    return out


def max_laplacian_eigenvalue(lat: Lattice, order: int = 2) -> float:
    """The largest |eigenvalue| of the discrete ∇² (the checkerboard mode): 4D/h² or (16/3)D/h²."""
    per_axis = 4.0 if order == 2 else 16.0 / 3.0
    return per_axis * lat.ndim / lat.spacing**2


def max_derivative_eigenvalue(lat: Lattice, order: int = 2) -> float:
    """The largest |eigenvalue| of the centred first derivative along one axis: 1/h or ≈1.372/h."""
    return (1.0 if order == 2 else 1.3722) / lat.spacing


ADVECTION_SCHEMES = ("upwind", "central")


def transport_fluxes(q, v, diffusivity, lat: Lattice, order: int = 2, advection: str = "upwind"):
    """Face fluxes of q·v − κ∇q, one array per axis, for `flux_divergence`.

    The face velocity is `face_average(v_d)`. `advection="upwind"` uses the donor cell
    (monotone: q stays ≥ 0 under the CFL limit, first order); `"central"` the `order`-th
    order face average of q (no monotonicity).
    """
    if advection not in ADVECTION_SCHEMES:
        raise ConfigError(f"advection scheme {advection!r} is unknown; valid schemes are {ADVECTION_SCHEMES}")
    fluxes = []
    for d in range(lat.ndim):
        u = face_average(component(v, lat, d), lat, d, order)
        adv = upwind_flux(q, u, lat, d) if advection == "upwind" else u * face_average(q, lat, d, order)
        fluxes.append(adv - diffusivity * face_difference(q, lat, d, order))
    return fluxes


def advective_derivative(v, lat: Lattice, order: int = 2):
    """(v·∇)v with centred derivatives, shape (..., D, *N)."""
    expand = _lift(lambda a: jnp.expand_dims(a, -lat.ndim - 1))
    return sum(expand(component(v, lat, d)) * derivative(v, lat, d, order) for d in range(lat.ndim))
