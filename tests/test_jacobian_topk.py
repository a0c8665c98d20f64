"""The matrix-free whole-lattice top-k singular values against a dense SVD of the full Jacobian."""

import jax
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax.errors import ConfigError
from rsvp_jax.jacobian import lattice_top_singular, step_map


@pytest.fixture
def problem(x64):
    lat, model = rj.Lattice((16,)), rj.preset("rsvp")
    x = rj.initial_state(lat, "blobs", seed=4, dtype="float64")
    J = np.asarray(jax.jacfwd(step_map(model, lat, 0.4, 2, "euler"))(rj.to_array(x))).reshape(48, 48)
    return lat, model, x, np.linalg.svd(J)


def test_lanczos_equals_dense_svd(problem):
    lat, model, x, (U, s, Vt) = problem
    top = lattice_top_singular(model, lat, x, 0.4, steps=2, method="euler", k=5, krylov=48)  # a full Krylov space
    np.testing.assert_allclose(np.asarray(top.sigma), s[:5], rtol=0, atol=1e-10)
    assert np.max(np.asarray(top.residual)) < 1e-10
    V = np.asarray(top.V).reshape(5, -1)
    np.testing.assert_allclose(np.abs(np.sum(V * Vt[:5], axis=1)), 1.0, atol=1e-8)  # same directions up to sign
    assert top.U.shape == (5, 3, 16) and top.algorithm == "lanczos"


def test_short_lanczos_reports_its_residual(problem):
    lat, model, x, (_, s, _) = problem
    top = lattice_top_singular(model, lat, x, 0.4, steps=2, method="euler", k=2, krylov=12)
    err = np.abs(np.asarray(top.sigma) - s[:2])
    assert np.all(err <= np.asarray(top.residual) + 1e-12)  # |σ̃ − σ| is bounded by the residual


def test_randomized_svd_equals_dense_svd(problem):
    lat, model, x, (_, s, _) = problem
    top = lattice_top_singular(model, lat, x, 0.4, steps=2, method="euler", k=4, algorithm="randomized",
                               oversample=44, power_iters=1)  # k + oversample = 48: the whole space
    np.testing.assert_allclose(np.asarray(top.sigma), s[:4], atol=1e-10)


def test_bad_k_is_a_config_error():
    lat = rj.Lattice((8,))
    x = rj.initial_state(lat, "uniform")
    with pytest.raises(ConfigError, match="k=0 is invalid"):
        lattice_top_singular(rj.preset("rsvp"), lat, x, 0.05, k=0)
    with pytest.raises(ConfigError, match="algorithm 'qr' is unknown"):
        lattice_top_singular(rj.preset("rsvp"), lat, x, 0.05, k=2, algorithm="qr")
