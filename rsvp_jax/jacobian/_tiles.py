"""Exact tile Jacobians of the k-step map: the diagonal blocks ∂F(x)|_T / ∂x|_T, all tiles at once.

Let F be the k-step map of the whole lattice (`rollout`), x its state as a (C, *N) array
(channels Φ, v_1..v_D, S) and T a tile of bᴰ cells. The tile Jacobian is

```
J_T = ∂F(x)|_T / ∂x|_T                   (C·bᴰ × C·bᴰ)
J_T = ∂F(x)|_T / ∂x|_{T+halo}            (C·bᴰ × C·(b+2r)ᴰ, with halo=True)
```

rows and columns channel-major, then cells row-major. One evaluation of the right-hand
side reads `model.stencil_radius()` cells along each axis, so a cell of F(x) depends only on
cells within the halo radius r = k · stages(model, method) · stencil_radius (an L∞ box).
That locality gives two exact algorithms, neither of which forms the full Jacobian:

- `"coloured"` (default; Curtis, Powell & Reid 1974, *On the estimation of sparse Jacobian
  matrices*): perturb, in one channel, every cell whose index is ≡ c (mod s) along each axis,
  with periods s_d ≥ 2r + 1 dividing N_d. One lattice-wide JVP then gives, at every output
  cell, the derivative with respect to the *one* perturbed cell within reach (any two are
  more than 2r apart). C·Πs_d JVPs (256 for C = 4, s = 8 in 2D) thus give every entry of
  every block, whatever the tile size and with or without halo; entries of cells further
  than r apart are exact zeros. The JVPs run in groups, one `vmap`ped `jax.jvp` each with
  the primal computed once per group (`_responses`). This is the CPR idea applied at the cell
  level; colouring whole tiles instead (tiles of a colour further apart than the halo) needs
  C·bᴰ·mᴰ JVPs with (m − 1)·b ≥ r, four times as many for 8×8 tiles and r = 3.
- `"padded"` (the reference): cut each tile out with its halo, run F on the padded tile as a
  small periodic lattice (its wrap-around only corrupts the halo, never the tile), and take
  `jax.jacfwd` of the tile's outputs; `vmap` over tiles in chunks.

Both are checked against blocks of `jax.jacfwd` of the whole map in the tests.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..integrate import check_method, rollout, stages
from ..lattice import Lattice
from ..models import Model
from ..state import State, from_array, to_array

ALGORITHMS = ("coloured", "padded")
# Bytes of padded tiles' tangents per `vmap` batch of the padded algorithm.
CHUNK_BYTES = 2**22


def halo_radius(model: Model, steps: int, method: str = "ssprk3", generator: bool = False) -> int:
    """r = k · stages · stencil radius: how far (in cells, per axis) the k-step map reaches; the
    stencil radius itself for the rate map (`generator=True`)."""
    if generator:
        return int(model.stencil_radius())
    return int(steps) * stages(model, method) * int(model.stencil_radius())


def tile_shape(lat: Lattice, tile) -> tuple[int, ...]:
    """The tile edge per axis: an int b (→ (b,)*D) or a D-tuple; each must divide the lattice."""
    sizes = (tile,) * lat.ndim if np.ndim(tile) == 0 else tuple(tile)
    try:
        sizes = tuple(int(b) for b in sizes)
    except (TypeError, ValueError):
        raise ConfigError(f"tile {tile!r} is not an integer or a tuple of integers") from None
    if len(sizes) != lat.ndim or any(b < 1 for b in sizes):
        raise ConfigError(f"tile {tile!r} is invalid for a {lat.ndim}D lattice; give one size >= 1 or {lat.ndim} of them")
    for N, b in zip(lat.shape, sizes):
        if N % b:
            valid = [d for d in range(1, N + 1) if N % d == 0]
            raise ConfigError(
                f"tile size {b} does not divide the lattice shape {lat.shape} (axis of {N} cells); "
                f"valid tile sizes along it are {', '.join(map(str, valid))}"
            )
    return sizes


def tile_grid(lat: Lattice, tile) -> tuple[int, ...]:
    """The number of tiles along each axis, N_d / b_d."""
    return tuple(N // b for N, b in zip(lat.shape, tile_shape(lat, tile)))


def comb_periods(lat: Lattice, radius: int) -> tuple[int, ...]:
    """The colouring periods s_d: the smallest divisor of N_d that is ≥ 2r + 1, else N_d."""
    return tuple(next((s for s in range(2 * radius + 1, N + 1) if N % s == 0), N) for N in lat.shape)


def step_map(model: Model, lat: Lattice, dt, steps: int = 1, method: str = "ssprk3", generator: bool = False):
    """F as a function of arrays: (C, *N) → (C, *N), the `steps`-step map (pure, traceable); with
    `generator=True` the rate map Ψ ↦ ∂tΨ of the equations instead (dt, steps, method unused)."""
    if generator:
        return lambda a: to_array(model.rhs(lat, from_array(a, lat)))
    return lambda a: to_array(rollout(model, lat, from_array(a, lat), dt, steps, method))


def _check(model: Model, lat: Lattice, state, steps, method, tile, halo, algorithm, generator=False):
    check_method(method)
    model.check_lattice(lat)
    if generator and model.discrete:
        raise ConfigError(f"preset {model.name!r} is a discrete map (one step applies its rule), so it has no rate "
                          "map ∂tΨ = F(Ψ) to differentiate; use generator=False for its step map")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm {algorithm!r} is unknown; valid algorithms are {', '.join(ALGORITHMS)}")
    if int(steps) != steps or steps < 1:
        raise ConfigError(f"steps={steps!r} is invalid; the k-step map needs an integer k >= 1")
    b = tile_shape(lat, tile)
    x = to_array(state) if isinstance(state, State) else jnp.asarray(state)
    if x.shape != (lat.channels, *lat.shape):
        raise ConfigError(f"state of shape {x.shape} does not match the lattice; expected {(lat.channels, *lat.shape)}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ConfigError(f"state dtype {x.dtype} is not floating point; use float32 or float64")
    r = halo_radius(model, int(steps), method, generator)
    if halo:
        check_halo(lat, b, r)
    return x, b, r


def check_halo(lat: Lattice, tile, radius: int, what: str = "halo=True") -> None:
    """A tile with its halo must fit in the lattice (b + 2r ≤ N along every axis), or the halo would
    wrap onto the tile itself: else a `ConfigError` naming `what` asked for it."""
    for N, bd in zip(lat.shape, tile_shape(lat, tile)):
        if bd + 2 * radius > N:
            raise ConfigError(
                f"{what} needs tile + 2·halo = {bd} + 2·{radius} <= the lattice size {N} along every axis "
                "(the halo would wrap onto itself); use a larger lattice, fewer steps or no halo"
            )


def tile_jacobians(
    model: Model,
    lat: Lattice,
    state,
    dt,
    tile=8,
    steps: int = 1,
    halo: bool = False,
    method: str = "ssprk3",
    *,
    algorithm: str = "coloured",
    chunk: int | None = None,
    generator: bool = False,
) -> jax.Array:
    """Every tile's Jacobian of the `steps`-step map at `state` (see the module docstring), or with
    `generator=True` of the rate map ∂Ψ/∂t = F(Ψ) (the blocks of A = ∂F/∂Ψ, halo = the stencil radius).

    Args:
      model, lat, dt, method: the map F (as in `rollout`); discrete models ignore dt.
      state: a `State` or its (C, *N) array; its dtype (float32 / float64) is the result's.
      tile: the tile edge b (or a D-tuple); it must divide the lattice shape (`ConfigError`).
      steps: k, the number of steps of F.
      halo: also return the columns of the tile's halo (the padded tile, b + 2r per axis).
      algorithm: `"coloured"` (fast, the default) or `"padded"` (per-tile `jacfwd`); both exact.
      chunk: tiles per `vmap` batch of the padded algorithm; default from `CHUNK_BYTES`.
      generator: the blocks of the generator A = ∂F/∂Ψ of ∂tΨ = F(Ψ) (`dt`, `steps`, `method` unused):
        the one-step map's blocks are I + dt·A + O(dt²). A discrete model has none (`ConfigError`).

    Returns an array of shape (*tile_grid, C·bᴰ, C·bᴰ), or (*tile_grid, C·bᴰ, C·(b+2r)ᴰ) with
    the halo; columns of the padded tile run from −r to b + r − 1 along each axis.
    """
    x, b, r = _check(model, lat, state, steps, method, tile, halo, algorithm, generator)
    model = model.astype(x.dtype)
    itemsize = x.dtype.itemsize
    steps, generator = (1, True) if generator else (int(steps), False)
    if algorithm == "coloured":
        return _coloured(model, lat, x, dt, steps, method, b, r, bool(halo), comb_periods(lat, r), generator)
    n_tiles = math.prod(N // bd for N, bd in zip(lat.shape, b))
    padded_cells = lat.channels * math.prod(bd + 2 * r for bd in b)
    chunk = chunk or max(1, min(n_tiles, CHUNK_BYTES // (padded_cells * lat.channels * math.prod(b) * itemsize)))
    return _padded(model, lat, x, dt, steps, method, b, r, bool(halo), int(chunk), generator)


# ---- the coloured algorithm ------------------------------------------------------------------


def _comb_tangent(i, C, periods, shape, dtype):
    """Unit tangent number i of C·Πs: channel i // Πs, cells ≡ colour (mod s) along each axis."""
    n_col = math.prod(periods)
    channel, colour = i // n_col, i % n_col
    mask = (jnp.arange(C) == channel).reshape((C,) + (1,) * len(shape))
    for d, (s, N) in enumerate(zip(periods, shape)):
        stride = math.prod(periods[d + 1 :])
        c_d = (colour // stride) % s
        axis_shape = [1] * (len(shape) + 1)
        axis_shape[d + 1] = N
        mask = mask & ((jnp.arange(N) % s) == c_d).reshape(axis_shape)
    return mask.astype(dtype)


def _responses(model, lat, x, dt, steps, method, periods, generator=False):
    """(comb tangent numbers (g,) → their responses J_F(x)·e_i (g, C, *N), the number of tangents).

    A group is one `jax.jvp` of the map `vmap`ped over its tangents with the primal unbatched: the
    primal runs once per group and the tangents ride along through every step and stage. (One
    `jax.linearize` for all would run the primal once, but its linear map reads the stacked
    residuals of every stage and step back: measured 4–13x slower, rsvp 32²–64² float32, 1–5 steps.)
    """
    F = step_map(model, lat, dt, steps, method, generator)
    tangent = functools.partial(_comb_tangent, C=lat.channels, periods=tuple(periods), shape=lat.shape, dtype=x.dtype)
    push = jax.vmap(lambda i: jax.jvp(F, (x,), (tangent(i),))[1])
    return push, lat.channels * math.prod(periods)


def comb_responses(model, lat, x, dt, steps, method, periods, generator=False):
    """Y[i] = J_F(x) · e_i for every comb tangent e_i: shape (C·Πs, C, *N). Traceable.

    The tangents run in groups (`_responses`) of up to one 64-byte line of columns.
    """
    push, n_dirs = _responses(model, lat, x, dt, steps, method, periods, generator)
    g = _group_size(n_dirs, x.dtype.itemsize)
    body = lambda k, Y: jax.lax.dynamic_update_slice_in_dim(Y, push(k * g + jnp.arange(g)), k * g, 0)  # noqa: E731
    return jax.lax.fori_loop(0, n_dirs // g, body, jnp.zeros((n_dirs,) + x.shape, x.dtype))


def colour_tables(N, b, s, r, halo):
    """Per axis: output cells (n, b), colour of each column (n, Q) and the reach mask (n, b, Q).

    Column q of tile t is lattice cell g = (t·b + q) mod N, of colour g mod s; its entry at
    output cell t·b + p is kept iff the two are within r (periodically), where it is the only
    perturbed cell in reach.
    """
    n = N // b
    t = np.arange(n)[:, None]
    q = np.arange(-r, b + r) if halo else np.arange(b)
    g_out = t * b + np.arange(b)[None, :]
    g_in = (t * b + q[None, :]) % N
    gap = np.abs(g_in[:, None, :] - g_out[:, :, None]) % N
    mask = np.minimum(gap, N - gap) <= r
    return g_out, g_in % s, mask


def _coloured(model, lat, x, dt, steps, method, b, r, halo, periods, generator=False):
    if not halo and tuple(periods) == tuple(b):  # column j of every block is comb tangent j
        return _direct_jit(model, lat, x, dt, steps, method, b, r, generator)
    # Two compiled programs per (lattice, model structure, steps, method, tile): later calls at new
    # states or parameter values reuse them (as `rsvp jacobian --evolve` and sweeps do). Compiled
    # apart, the responses' loop and the extraction ran 10 % faster than as one program (512²).
    return _blocks_jit(_comb_jit(model, lat, x, dt, steps, method, periods, generator), lat, b, r, halo, periods)


def _group_size(n_dirs: int, itemsize: int) -> int:
    """Tangents per group of `_direct`: a divisor of n_dirs, up to one 64-byte line of columns."""
    return max(g for g in range(1, max(1, 64 // itemsize) + 1) if n_dirs % g == 0)


def _direct(model, lat, x, dt, steps, method, b, r, generator=False):
    """The coloured blocks when the comb periods are the tile (no halo): then comb tangent j (channel
    j // Πb, colour = cell j % Πb of the tile) is column j of every tile's block, and each group of
    g responses is masked and written straight into the blocks' layout. No (C·Πb, C, *N) array of
    responses is formed, and no extraction pass over it: at 512², float64, 14.8 s against 12.9 s of
    responses + 4.2 s of extraction, and 2 GB less memory. (Groups of 16 or 32 columns were no faster;
    writing transposed blocks and transposing them at the end was slower.)
    """
    D, C = lat.ndim, lat.channels
    push, n_dirs = _responses(model, lat, x, dt, steps, method, b, generator)
    n_cells = math.prod(b)
    g = _group_size(n_dirs, x.dtype.itemsize)
    # keep[c, p]: output cell p of a tile is within reach r of input cell c of the same tile (the
    # only perturbed cell within reach of p; further entries belong to neighbouring tiles' columns).
    cells = np.stack(np.meshgrid(*[np.arange(bd) for bd in b], indexing="ij"), -1).reshape(-1, D)
    keep = np.ones((n_cells, n_cells), bool)
    for d in range(D):
        _, _, m = colour_tables(lat.shape[d], b[d], b[d], r, False)  # (n, b_out, b_in), equal over tiles
        keep &= m[0][cells[None, :, d], cells[:, None, d]]
    keep = jnp.asarray(np.tile(keep, (C, 1)), x.dtype)  # indexed by tangent j → (n_cells,)
    grid = tuple(N // bd for N, bd in zip(lat.shape, b))
    split = (C,) + sum(((n, bd) for n, bd in zip(grid, b)), ())  # (C, n_1, b_1, ..., n_D, b_D)
    order = (*range(2, 2 * D + 2, 2), 1, *range(3, 2 * D + 3, 2), 0)  # → (n.., C, b.., g)

    def group(k, J):
        ys = push(k * g + jnp.arange(g))
        m = jax.lax.dynamic_slice_in_dim(keep, k * g, g).reshape((g, 1) + sum(((1, bd) for bd in b), ()))
        cols = jnp.transpose(ys.reshape((g,) + split) * m, order).reshape(grid + (n_dirs, g))
        return jax.lax.dynamic_update_slice(J, cols, (0,) * (D + 1) + (k * g,))

    return jax.lax.fori_loop(0, n_dirs // g, group, jnp.zeros(grid + (n_dirs, n_dirs), x.dtype))


_direct_jit = jax.jit(_direct, static_argnames=("lat", "steps", "method", "b", "r", "generator"))


_comb_jit = jax.jit(comb_responses, static_argnames=("lat", "steps", "method", "periods", "generator"))


def _blocks(Y, lat, b, r, halo, periods):
    """Every tile's block from the comb responses Y (C·Πs, C, *N) (see `colour_tables`)."""
    D, C = lat.ndim, lat.channels
    Y = Y.reshape((C, *periods, C, *lat.shape))  # (ci, s_1..s_D, co, N_1..N_D)
    # Axis by axis: cut N_d into (tile, cell) and pick, for each tile and column, its colour.
    # Axes of Y while we go: ci, [colour or column]_1..D, co, [(tile, cell) or N]_1..D.
    for d in range(D):
        _, colour, mask = colour_tables(lat.shape[d], b[d], periods[d], r, halo)
        n, Q = colour.shape
        sp = 2 + D + 2 * d  # where axis d's spatial position sits once the earlier ones are split
        Y = Y.reshape(Y.shape[:sp] + (n, b[d]) + Y.shape[sp + 1 :])  # cell t·b + p → (t, p)
        # Gather the colour axis (1 + d) by the (tile, column) table: result axis 1 + d is Q.
        if Q != periods[d] or np.any(colour != np.arange(Q)):  # else column q is colour q already
            idx_shape = [1] * Y.ndim
            idx_shape[1 + d], idx_shape[sp] = Q, n
            idx = jnp.asarray(colour.T).reshape(idx_shape)
            Y = jnp.take_along_axis(Y, idx, axis=1 + d)
        m_shape = [1] * Y.ndim
        m_shape[1 + d], m_shape[sp], m_shape[sp + 1] = Q, n, b[d]
        Y = Y * jnp.asarray(np.transpose(mask, (2, 0, 1)).reshape(m_shape), Y.dtype)
    # Now (ci, q_1..q_D, co, t_1, p_1, ..., t_D, p_D) → (t_1..t_D, co, p_1..p_D, ci, q_1..q_D).
    tiles = [2 + D + 2 * d for d in range(D)]
    cells = [3 + D + 2 * d for d in range(D)]
    Y = jnp.transpose(Y, (*tiles, 1 + D, *cells, 0, *range(1, 1 + D)))
    grid = tuple(N // bd for N, bd in zip(lat.shape, b))
    Q = tuple(bd + 2 * r if halo else bd for bd in b)
    return Y.reshape(grid + (C * math.prod(b), C * math.prod(Q)))


_blocks_jit = jax.jit(_blocks, static_argnames=("lat", "b", "r", "halo", "periods"))


# ---- the padded (reference) algorithm --------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("lat", "steps", "method", "b", "r", "halo", "chunk", "generator"))
def _padded(model, lat, x, dt, steps, method, b, r, halo, chunk, generator=False):
    D, C = lat.ndim, lat.channels
    grid = tuple(N // bd for N, bd in zip(lat.shape, b))
    P = tuple(bd + 2 * r for bd in b)
    patch_lat = Lattice(P, lat.spacing)
    F = step_map(model, patch_lat, dt, steps, method, generator)
    inner = tuple(slice(r, r + bd) for bd in b)

    # Each tile's padded patch, (n_tiles, C, *P), gathered periodically (it may wrap more than once).
    idx = [(np.arange(n)[:, None] * bd - r + np.arange(p)[None, :]) % N for n, bd, p, N in zip(grid, b, P, lat.shape)]
    index = np.ix_(*[i.reshape(-1) for i in idx])
    patches = x[(slice(None), *index)]  # (C, n_1·P_1, ..., n_D·P_D)
    patches = patches.reshape((C,) + sum(((n, p) for n, p in zip(grid, P)), ()))
    patches = jnp.transpose(patches, (*range(1, 2 * D + 1, 2), 0, *range(2, 2 * D + 2, 2))).reshape((-1, C, *P))

    if halo:
        block = lambda patch: jax.jacfwd(lambda y: F(y)[(slice(None), *inner)])(patch)  # noqa: E731
    else:
        # The patch as a function of the tile's own cells, which also appear in the halo when
        # b + 2r > N: position i of the padded axis holds tile cell (i − r) mod N if that is < b.
        loc = [(np.arange(p) - r) % N for p, N in zip(P, lat.shape)]
        own = np.ones(P, bool)
        for d, (l, bd) in enumerate(zip(loc, b)):
            own = own & (l < bd).reshape([-1 if e == d else 1 for e in range(D)])
        take = np.ix_(*[np.minimum(l, bd - 1) for l, bd in zip(loc, b)])

        def block(patch):
            def tile_out(xt):
                y = jnp.where(jnp.asarray(own), xt[(slice(None), *take)], patch)
                return F(y)[(slice(None), *inner)]

            return jax.jacfwd(tile_out)(patch[(slice(None), *inner)])

    J = jax.lax.map(block, patches, batch_size=min(chunk, patches.shape[0]))  # (n_tiles, C, *b, C, *Q)
    return J.reshape(grid + (C * math.prod(b), -1))


__all__ = ["tile_jacobians", "halo_radius", "check_halo", "tile_shape", "tile_grid", "comb_periods", "colour_tables", "step_map", "ALGORITHMS"]
