"""Where whole-lattice modes live: each global singular vector's energy and make-up, tile by tile.

At horizons where exact tile blocks are unaffordable (the k-step map's reach covers the
lattice), the TARTAN map is drawn from the top global singular vectors instead: a vector
w (C, *N) is cut into the tiles of the tile grid, and each piece gets its share of ‖w‖² and its
make-up (`mode_makeup`: Φ, drift / compressive / rotational flow, S) and label.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from ._modes import mode_labels, mode_makeup, shares_array
from ._tiles import tile_shape


@dataclasses.dataclass(frozen=True)
class ModeMap:
    """Per mode i and tile T: `energy` (k, *G) the share of ‖w_i‖² in T (sums to 1 per mode),
    `shares` (k, *G, 5) the make-up of w_i restricted to T, `labels` (k, *G) its label code;
    `tile` the tile edge per axis."""

    energy: np.ndarray
    shares: np.ndarray
    labels: np.ndarray
    tile: tuple

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(self.energy.shape[1:])


def tile_pieces(w, lat, tile):
    """Vectors w (k, C, *N) cut into tiles: (k, *G, C·Πb), each piece channel-major then cells."""
    b = tile_shape(lat, tile)
    D, C = lat.ndim, lat.channels
    grid = tuple(N // bd for N, bd in zip(lat.shape, b))
    k = w.shape[0]
    split = (k, C) + sum(((n, bd) for n, bd in zip(grid, b)), ())  # (k, C, n_1, b_1, ..., n_D, b_D)
    order = (0, *range(2, 2 * D + 2, 2), 1, *range(3, 2 * D + 3, 2))  # → (k, n.., C, b..)
    return jnp.transpose(jnp.reshape(w, split), order).reshape((k, *grid, C * math.prod(b)))


@jax.jit(static_argnames=("cells",))
def _describe(pieces, cells):
    energy = jnp.sum(pieces**2, axis=-1)
    shares = shares_array(mode_makeup(pieces, cells))
    return energy / jnp.sum(energy, axis=tuple(range(1, energy.ndim)), keepdims=True), shares, mode_labels(shares)


def mode_map(vectors, lat, tile) -> ModeMap:
    """The `ModeMap` of lattice vectors (k, C, *N) (e.g. `propagator_spectrum(...).V`) on tiles `tile`."""
    b = tile_shape(lat, tile)
    energy, shares, labels = _describe(tile_pieces(jnp.asarray(vectors), lat, b), b)
    return ModeMap(np.asarray(energy), np.asarray(shares), np.asarray(labels), b)


__all__ = ["ModeMap", "mode_map", "tile_pieces"]
