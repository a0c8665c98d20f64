"""Tile Jacobians: exact blocks of the full k-step map's Jacobian, both algorithms, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax.errors import ConfigError
from rsvp_jax.jacobian import comb_periods, halo_radius, step_map


def full_blocks(model, lat, x, dt, b, steps, method, halo):
    """The reference: the matching blocks of `jax.jacfwd` of the whole k-step map (dense)."""
    J = np.asarray(jax.jacfwd(step_map(model, lat, dt, steps, method))(rj.to_array(x)))  # (C, *N, C, *N)
    C, D = lat.channels, lat.ndim
    r = halo_radius(model, steps, method)
    grid = [N // b for N in lat.shape]
    out = []
    for t in np.ndindex(*grid):
        rows = [np.arange(i * b, i * b + b) for i in t]
        cols = [np.arange(i * b - r, i * b + b + r) % N if halo else np.arange(i * b, i * b + b) for i, N in zip(t, lat.shape)]
        blk = J[(slice(None), *np.ix_(*rows))][(slice(None),) * (D + 2) + np.ix_(*cols)]
        out.append(blk.reshape(C * b**D, -1))
    return np.stack(out).reshape(tuple(grid) + out[0].shape)


# (preset, shape, tile, steps, method, dtype, halos): 1D / 2D / 3D, k = 1, 2, 3, every preset and
# integrator, with and without halo.
CASES = [
    ("rsvp", (24,), 4, 3, "heun", "float64", (False, True)),      # r = 6
    ("tartan", (12, 12), 4, 2, "euler", "float64", (False, True)),  # r = 2
    ("centerfuge", (6, 6, 6), 3, 1, "euler", "float64", (True,)),
    ("seed", (6, 6), 2, 2, "euler", "float64", (False, True)),    # a discrete map: r = k
    ("monograph", (10,), 5, 1, "rk4", "float64", (False,)),       # r = 4: a halo would wrap onto the tile
    ("rsvp", (16,), 4, 1, "ssprk3", "float32", (False,)),
    # comb periods = tile, no halo: the blocks are written as the responses come (`_tiles._direct`)
    ("rsvp", (16, 16), 8, 1, "ssprk3", "float64", (False, True)),  # r = 3, periods (8, 8)
    ("rsvp", (8, 8, 8), 4, 1, "euler", "float64", (False,)),        # r = 1, periods (4, 4, 4)
    ("rsvp", (8, 8), 8, 1, "ssprk3", "float32", (False,)),         # one tile: reach wraps around the lattice
]


@pytest.mark.parametrize("preset, shape, b, steps, method, dtype, halos", CASES)
def test_coloured_blocks_equal_jacfwd_blocks(x64, preset, shape, b, steps, method, dtype, halos):
    lat, model = rj.Lattice(shape), rj.preset(preset)
    x = rj.initial_state(lat, "noise", seed=3, dtype=dtype)
    r = halo_radius(model, steps, method)
    tol = 1e-10 if dtype == "float64" else 1e-6
    for halo in halos:
        J = rj.tile_jacobians(model, lat, x, 0.05, tile=b, steps=steps, halo=halo, method=method)
        ref = full_blocks(model, lat, x, 0.05, b, steps, method, halo)
        C, D = lat.channels, lat.ndim
        cols = C * (b + 2 * r if halo else b) ** D
        assert J.shape == tuple(N // b for N in shape) + (C * b**D, cols) and J.dtype == jnp.dtype(dtype)
        np.testing.assert_allclose(np.asarray(J), ref, rtol=0, atol=tol)
        assert np.abs(ref).max() > 0.5  # the reference is not trivially zero


@pytest.mark.parametrize("shape, b, steps", [
    ((12,), 4, 2),   # r = 2: with and without halo
    ((4,), 2, 3),    # r = 3 > N: the padded tile wraps around the lattice, a tile cell sits in its own halo
])
def test_padded_reference_equals_jacfwd_blocks(x64, shape, b, steps):
    lat, model = rj.Lattice(shape), rj.preset("rsvp")
    x = rj.initial_state(lat, "blobs", seed=1, dtype="float64")
    r = halo_radius(model, steps, "euler")
    for halo in (False, True) if b + 2 * r <= min(shape) else (False,):
        J = rj.tile_jacobians(model, lat, x, 0.05, tile=b, steps=steps, halo=halo, method="euler", algorithm="padded")
        np.testing.assert_allclose(np.asarray(J), full_blocks(model, lat, x, 0.05, b, steps, "euler", halo), atol=1e-10)


def test_comb_periods_and_halo_radius():
    assert comb_periods(rj.Lattice((512, 512)), 3) == (8, 8)      # smallest divisor >= 2r + 1 = 7
    assert comb_periods(rj.Lattice((21, 10)), 3) == (7, 10)       # none below N: the whole axis
    assert halo_radius(rj.preset("rsvp"), 2, "ssprk3") == 6
    assert halo_radius(rj.preset("rsvp", eps=0.01), 1, "rk4") == 8  # hyperdiffusion reaches 2 cells
    assert halo_radius(rj.preset("seed"), 3, "rk4") == 3            # a discrete map: one stage


def test_traced_vmapped_and_chunked_paths_agree():
    """The coloured path called eagerly, under the caller's `jit` and under `vmap` over a parameter (as in
    a sweep), and the padded path in any chunking, give the same blocks."""
    lat, model = rj.Lattice((16,)), rj.preset("rsvp")
    x = rj.initial_state(lat, "blobs", seed=2)
    eager = np.asarray(rj.tile_jacobians(model, lat, x, 0.05, tile=4, method="euler"))
    traced = jax.jit(lambda m, x: rj.tile_jacobians(m, lat, x, 0.05, tile=4, method="euler"))(model, x)
    np.testing.assert_allclose(np.asarray(traced), eager, atol=1e-6)
    gammas = jnp.array([0.1, 0.3])
    batch = jax.vmap(lambda g: rj.tile_jacobians(model.replace(gamma=g), lat, x, 0.05, tile=4, method="euler"))(gammas)
    np.testing.assert_allclose(np.asarray(batch[0]), eager, atol=1e-6)
    assert not np.allclose(np.asarray(batch[1]), eager)  # the parameter reached the Jacobian
    for chunk in (1, 1000):
        padded = rj.tile_jacobians(model, lat, x, 0.05, tile=4, method="euler", algorithm="padded", chunk=chunk)
        np.testing.assert_allclose(np.asarray(padded), eager, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(tile=5), "tile size 5 does not divide the lattice shape (16, 16)"),
    (dict(tile=(4, 4, 4)), "give one size >= 1 or 2 of them"),
    (dict(tile=0), "tile 0 is invalid"),
    (dict(tile=8, steps=2, halo=True), "halo=True needs tile + 2·halo"),
    (dict(tile=4, steps=0), "steps=0 is invalid"),
    (dict(tile=4, method="rk9"), "integrator 'rk9' is unknown"),
    (dict(tile=4, algorithm="magic"), "algorithm 'magic' is unknown"),
])
def test_bad_input_is_a_clear_config_error(kwargs, message):
    lat = rj.Lattice((16, 16))
    x = rj.initial_state(lat, "uniform")
    with pytest.raises(ConfigError, match=None) as e:
        rj.tile_jacobians(rj.preset("rsvp"), lat, x, 0.05, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_state_shape_must_match_lattice():
    x = rj.initial_state(rj.Lattice((8, 8)), "uniform")
    with pytest.raises(ConfigError, match="does not match the lattice"):
        rj.tile_jacobians(rj.preset("rsvp"), rj.Lattice((16, 16)), x, 0.05, tile=4)
