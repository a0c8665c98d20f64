"""The RSVP state (Φ, v, S), its array form, and reproducible initial conditions."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ConfigError
from .lattice import Lattice

FIELDS = ("phi", "v", "S")
DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class State:
    """Fields on a lattice: `phi` (*N), `v` (D, *N), `S` (*N). A pytree; leading batch axes allowed."""

    phi: jax.Array
    v: jax.Array
    S: jax.Array

    @property
    def dtype(self):
        return self.phi.dtype

    def astype(self, dtype) -> "State":
        return jax.tree.map(lambda a: jnp.asarray(a, dtype), self)


jax.tree_util.register_dataclass(State, data_fields=list(FIELDS), meta_fields=[])


def channel_names(lat: Lattice) -> tuple[str, ...]:
    """The channel order of `to_array`: ('phi', 'v1', ..., 'vD', 'S')."""
    return ("phi", *(f"v{d + 1}" for d in range(lat.ndim)), "S")


def to_array(x: State):
    """Stack a state into one array of shape (..., C, *N), channels Φ, v_1..v_D, S."""
    ax = x.phi.ndim - spatial_ndim(x)
    return jnp.concatenate([jnp.expand_dims(x.phi, ax), x.v, jnp.expand_dims(x.S, ax)], axis=ax)


def spatial_ndim(x: State) -> int:
    """D, read off the shapes: Φ is (..., *N) and v is (..., D, *N)."""
    for D in (3, 2, 1):
        if D > x.phi.ndim:
            continue
        batch = x.phi.shape[: x.phi.ndim - D]
        if x.v.shape == (*batch, D, *x.phi.shape[x.phi.ndim - D :]):
            return D
    raise ConfigError(f"state shapes phi {x.phi.shape}, v {x.v.shape} are inconsistent; v must be (..., D, *N)")


def from_array(arr, lat: Lattice) -> State:
    """The inverse of `to_array` for an array of shape (..., D + 2, *N)."""
    D = lat.ndim
    ax = arr.ndim - D - 1
    if arr.ndim < D + 1 or arr.shape[ax] != D + 2 or tuple(arr.shape[ax + 1 :]) != lat.shape:
        raise ConfigError(
            f"array of shape {tuple(arr.shape)} does not match the lattice; expected (..., {D + 2}, {', '.join(map(str, lat.shape))})"
        )
    phi = jnp.take(arr, 0, axis=ax)
    v = jax.lax.slice_in_dim(arr, 1, 1 + D, axis=ax)
    S = jnp.take(arr, D + 1, axis=ax)
    return State(phi, v, S)


def check_dtype(dtype) -> jnp.dtype:
    """Resolve 'float32' / 'float64' (float64 needs `jax_enable_x64`)."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; valid dtypes are {DTYPES}")
    if name == "float64" and not jax.config.read("jax_enable_x64"):
        raise ConfigError(
            "dtype 'float64' needs 64-bit JAX: set JAX_ENABLE_X64=1 or jax.config.update('jax_enable_x64', True) first"
        )
    return jnp.dtype(name)


INITIAL_KINDS = ("blobs", "noise", "vortex", "dipole", "uniform")


def _gaussian(lat: Lattice, centre, width):
    """A periodic Gaussian bump (minimum-image distance) of unit height."""
    r2 = 0.0
    for x, c, L in zip(lat.mesh(), centre, lat.extent):
        dx = (x - c + 0.5 * L) % L - 0.5 * L
        r2 = r2 + dx**2
    return np.exp(-r2 / (2.0 * width**2)), r2


def initial_state(
    lat: Lattice, kind: str = "blobs", seed: int = 0, dtype="float32", amplitude: float = 1.0
) -> State:
    """A reproducible initial state; Φ and S are positive for every kind.

    - `"blobs"`: a few Gaussian bumps of Φ and S over 1, with a weak random flow.
    - `"noise"`: Φ, S = 1 + 0.1·noise, v = 0.05·noise (smoothed once, so no grid-scale spikes).
    - `"vortex"`: one Gaussian vortex (2D/3D: rotation about the last-axis line) on Φ = S = 1.
    - `"dipole"`: a counter-rotating vortex pair (2D/3D), or a ± bump pair of Φ in 1D.
    - `"uniform"`: Φ = S = 1, v = 0 (a fixed point of every conservative preset).

    `amplitude` scales the perturbation (the bumps and the flow), not the background.
    """
    if kind not in INITIAL_KINDS:
        raise ConfigError(f"initial condition {kind!r} is unknown; valid kinds are {INITIAL_KINDS}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ConfigError(f"seed {seed!r} is invalid; a seed is a whole number >= 0")
    dtype = check_dtype(dtype)
    rng = np.random.default_rng(seed)
    D, L = lat.ndim, lat.extent
    ones = np.ones(lat.shape)
    phi, S = ones.copy(), ones.copy()
    v = np.zeros((D, *lat.shape))
    width = 0.08 * min(L)

    if kind == "blobs":
        for _ in range(4):
            bump, _ = _gaussian(lat, rng.uniform(0, 1, D) * L, width * rng.uniform(0.7, 1.4))
            phi += amplitude * rng.uniform(0.5, 1.5) * bump
        for _ in range(3):
            bump, _ = _gaussian(lat, rng.uniform(0, 1, D) * L, width * rng.uniform(0.7, 1.4))
            S += 0.5 * amplitude * rng.uniform(0.5, 1.5) * bump
        v = 0.1 * amplitude * _smooth(rng.standard_normal((D, *lat.shape)), D, passes=4)
    elif kind == "noise":
        phi += 0.1 * amplitude * _smooth(rng.standard_normal(lat.shape), D)
        S += 0.1 * amplitude * _smooth(rng.standard_normal(lat.shape), D)
        v = 0.05 * amplitude * _smooth(rng.standard_normal((D, *lat.shape)), D)
    elif kind in ("vortex", "dipole"):
        centres = [0.5 * np.asarray(L)] if kind == "vortex" else [
            np.asarray(L) * np.r_[0.35, [0.5] * (D - 1)],
            np.asarray(L) * np.r_[0.65, [0.5] * (D - 1)],
        ]
        signs = [1.0] if kind == "vortex" else [1.0, -1.0]
        if D == 1:
            if kind == "vortex":
                raise ConfigError("initial condition 'vortex' needs a 2D or 3D lattice; a 1D flow has no rotation")
            for c, sgn in zip(centres, signs):
                phi += 0.5 * amplitude * sgn * _gaussian(lat, c, width)[0]
        else:
            X = lat.mesh()
            for c, sgn in zip(centres, signs):
                bump, _ = _gaussian(lat, c, 1.5 * width)
                dx = [(X[i] - c[i] + 0.5 * L[i]) % L[i] - 0.5 * L[i] for i in range(2)]
                # solid-body core, Gaussian envelope: v = (−y, x)·e^{−r²/2w²} / w
                v[0] += -sgn * amplitude * dx[1] * bump / (1.5 * width)
                v[1] += sgn * amplitude * dx[0] * bump / (1.5 * width)
            v *= 0.5
    if phi.min() <= 0 or S.min() <= 0:
        raise ConfigError(f"amplitude {amplitude!r} is too large for {kind!r}: Φ or S would not be positive; use a smaller one")
    return State(jnp.asarray(phi, dtype), jnp.asarray(v, dtype), jnp.asarray(S, dtype))


def _smooth(a, D, passes=2):
    """Average each cell with its neighbours a few times (periodic), removing grid-scale noise."""
    for _ in range(passes):
        acc = a.copy()
        for d in range(D):
            ax = a.ndim - D + d
            acc = acc + np.roll(a, 1, ax) + np.roll(a, -1, ax)
        a = acc / (1 + 2 * D)
    std = np.std(a)
    # A lattice too small for any structure (one cell): no perturbation, rather than noise / 1e-12.
    return a / std if std > 1e-6 * max(np.max(np.abs(a)), 1e-300) else np.zeros_like(a)
