"""The seed's prototype: the exact 4×4 tile Jacobian of the "seed" model, its SVD, and the seed's own
central difference beside it."""

import jax
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax.jacobian import seed_prototype
from rsvp_jax.jacobian._seed import seed_compute_jacobian


def test_exact_jacobian_is_the_closed_form():
    p = rj.jacobian.seed_prototype()
    # α = β = η = λ = 0.1, ∇Φ = (0.1, 0), v = (0.5, −0.5): the entries of the module docstring's J
    want = np.array([[1, 0.01, 0, -0.01], [0, 1, 0, 0], [0, 0, 1, 0], [0, -0.01, 0.01, 1]])
    np.testing.assert_allclose(p.jacobian, want, rtol=0, atol=1e-15)
    np.testing.assert_allclose(p.analytic, want, rtol=0, atol=1e-15)
    assert p.jacobian.dtype == np.float64
    assert not jax.config.read("jax_enable_x64")  # float64 was switched on only for the call


def test_seed_finite_difference_error_is_round_off():
    """The update is at most quadratic, so the central difference has no truncation error: its error
    is round-off, below u·max|f|/eps and far above float64's u."""
    p = seed_prototype()
    assert p.fd_error <= p.fd_error_bound < 2e-10
    np.testing.assert_allclose(p.jacobian_fd, p.jacobian, atol=p.fd_error_bound)
    # a cubic term would leave an eps² truncation error: check the difference quotient sees one
    cubic = seed_compute_jacobian(lambda x: x**3, np.array([1.0]), eps=1e-3)
    assert abs(cubic[0, 0] - 3.0) == pytest.approx(1e-6, rel=1e-3)  # eps² f'''/6 = 1e-6


def test_svd_and_top_directions():
    p = seed_prototype()
    np.testing.assert_allclose(p.U @ np.diag(p.singular_values) @ p.Vt, p.jacobian, atol=1e-14)
    assert np.all(np.diff(p.singular_values) <= 0) and p.singular_values[0] > 1 > p.singular_values[-1]
    np.testing.assert_allclose(p.jacobian @ p.top_input, p.singular_values[0] * p.top_output, atol=1e-14)
    assert p.top_input[np.argmax(np.abs(p.top_input))] > 0
    np.testing.assert_allclose([np.linalg.norm(p.top_input), np.linalg.norm(p.top_output)], 1.0)


def test_uniform_neighbours_and_parameters():
    u = seed_prototype(neighbours="uniform", alpha=0.2)
    assert u.jacobian[0, 1] == 0 and u.jacobian[0, 3] == pytest.approx(-0.02)  # ∇Φ = 0; −αβ with α = 0.2
    assert u.fd_error <= u.fd_error_bound
    with pytest.raises(rj.ConfigError, match="neighbours='left' is invalid"):
        seed_prototype(neighbours="left")


def test_the_seed_code_as_written_does_not_run():
    """The seed's `evolve_tile` takes ∇Φ as a scalar: Φ′ becomes a 2-vector and the concatenation fails."""
    alpha = beta = gamma = delta = eta = lam = 0.1

    def evolve_tile(phi, v, S, phi_l, phi_r, v_l, v_r, S_l, S_r):
        grad_phi = 0.5 * (phi_r - phi_l)
        curl_v = v_r - v_l
        new_phi = phi + alpha * (np.dot(v, grad_phi) - beta * S)
        new_v = v + gamma * (grad_phi - delta * curl_v)
        new_S = S + eta * (np.linalg.norm(grad_phi) ** 2 - lam * np.linalg.norm(v) ** 2)
        return new_phi, new_v, new_S

    def wrapped_evolution(x):
        phi, v1, v2, S = x
        v = np.array([v1, v2])
        phi_, v_, S_ = evolve_tile(phi, v, S, phi - 0.1, phi + 0.1, v - 0.1, v + 0.1, S - 0.1, S + 0.1)
        return np.concatenate([[phi_], v_, [S_]])

    with pytest.raises(ValueError):
        wrapped_evolution(np.array([1.0, 0.5, -0.5, 0.2]))


def test_prototype_figure(tmp_path):
    from rsvp_jax.io import write_figure
    from rsvp_jax.plots import plot_seed_prototype

    write_figure(plot_seed_prototype(seed_prototype()), tmp_path / "seed.png")
    assert (tmp_path / "seed.png").read_bytes()[:4] == b"\x89PNG"
