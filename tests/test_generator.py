"""Tile blocks of the generator A = ∂F/∂Ψ of ∂tΨ = F(Ψ), and their eigenvalues."""

import jax
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax.errors import ConfigError
from rsvp_jax.jacobian import halo_radius, step_map


def rate_blocks(model, lat, x, b, halo):
    """The reference: the matching blocks of `jax.jacfwd` of the whole rate map (dense)."""
    A = np.asarray(jax.jacfwd(step_map(model, lat, None, generator=True))(rj.to_array(x)))  # (C, *N, C, *N)
    C, D, r = lat.channels, lat.ndim, halo_radius(model, 1, generator=True)
    out = []
    for t in np.ndindex(*[N // b for N in lat.shape]):
        rows = [np.arange(i * b, i * b + b) for i in t]
        cols = [np.arange(i * b - r, i * b + b + r) % N if halo else np.arange(i * b, i * b + b) for i, N in zip(t, lat.shape)]
        blk = A[(slice(None), *np.ix_(*rows))][(slice(None),) * (D + 2) + np.ix_(*cols)]
        out.append(blk.reshape(C * b**D, -1))
    return np.stack(out).reshape(tuple(N // b for N in lat.shape) + out[0].shape)


@pytest.mark.parametrize("preset, shape, tile, halo, algorithm", [
    ("rsvp", (12, 12), 4, False, "coloured"),
    ("rsvp", (12, 12), 4, True, "coloured"),
    ("tartan", (16,), 4, True, "padded"),
    ("centerfuge", (6, 6, 6), 3, False, "coloured"),
    ("monograph", (8, 8), 4, False, "padded"),
])
def test_generator_blocks_equal_jacfwd_of_the_rate_map(x64, preset, shape, tile, halo, algorithm):
    lat = rj.Lattice(shape)
    model = rj.preset(preset)
    x = rj.initial_state(lat, "noise" if lat.ndim == 1 else "blobs", seed=2, dtype="float64")
    G = rj.tile_jacobians(model, lat, x, dt=0.05, tile=tile, halo=halo, generator=True, algorithm=algorithm)
    np.testing.assert_allclose(np.asarray(G), rate_blocks(model, lat, x, tile, halo), atol=1e-10, rtol=0)
    assert float(np.abs(np.asarray(G)).max()) > 0.1


def test_one_step_blocks_are_identity_plus_dt_generator(x64):
    """J_T(dt) = I + dt·A_T + O(dt²): the remainder falls by 4 when dt halves."""
    lat, model = rj.Lattice((16, 16)), rj.preset("rsvp")
    x = rj.initial_state(lat, "blobs", seed=1, dtype="float64")
    A = np.asarray(rj.tile_jacobians(model, lat, x, dt=0.05, tile=4, generator=True))
    I = np.eye(A.shape[-1])
    rest = [np.abs(np.asarray(rj.tile_jacobians(model, lat, x, dt=dt, tile=4)) - I - dt * A).max() for dt in (2e-3, 1e-3)]
    assert rest[0] > 0 and 3.6 < rest[0] / rest[1] < 4.4


def test_generator_eigenvalues_are_the_blocks_and_give_rates(x64):
    lat, model = rj.Lattice((12, 12)), rj.preset("rsvp")
    x = rj.initial_state(lat, "vortex", dtype="float64")
    a = rj.analyze_tiles(model, lat, x, 0.05, tile=4, generator=True, keep_jacobians=True)
    J = np.asarray(a.jacobians)
    lam = a.eigenvalues
    assert lam.shape == J.shape[:-1] and np.iscomplexobj(lam)
    ref = np.linalg.eigvals(J)
    np.testing.assert_allclose(np.sort_complex(lam.reshape(-1, lam.shape[-1])), np.sort_complex(ref.reshape(-1, lam.shape[-1])),
                               atol=1e-9)
    assert np.all(np.diff(lam.real, axis=-1) <= 1e-12)  # by descending real part
    np.testing.assert_allclose(a.summary["growth_rate"], lam.real.max(-1))
    np.testing.assert_allclose(a.summary["frequency"], np.abs(lam.imag).max(-1))
    assert a.generator and float(np.max(a.summary["frequency"])) > 0  # waves: the blocks oscillate
    # the trace of each block is the sum of its eigenvalues
    np.testing.assert_allclose(np.trace(J, axis1=-2, axis2=-1), lam.sum(-1).real, atol=1e-9)


def test_a_discrete_map_has_no_generator():
    lat = rj.Lattice((8, 8))
    with pytest.raises(ConfigError, match="discrete map"):
        rj.tile_jacobians(rj.preset("seed"), lat, rj.initial_state(lat), 0.05, tile=4, generator=True)
