"""Differentiability: jax.grad through a rollout matches central finite differences (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj

STEPS, DT = 30, 0.05


@pytest.fixture
def problem(x64):
    lat = rj.Lattice((10, 10))
    model = rj.preset("rsvp", advect_v=True, omega=0.2)
    x0 = rj.initial_state(lat, "blobs", seed=5, dtype="float64")
    target = rj.initial_state(lat, "noise", seed=6, dtype="float64")
    return model, lat, x0, target


def loss_fn(model, lat, target):
    def loss(params, x0):
        x = rj.rollout(model.replace(**params), lat, x0, DT, STEPS)
        return jnp.mean((rj.to_array(x) - rj.to_array(target)) ** 2)

    return jax.jit(loss)


def test_grad_wrt_parameters_matches_finite_differences(problem):
    model, lat, x0, target = problem
    loss = loss_fn(model, lat, target)
    params = {"gamma": 0.1, "D_S": 0.05, "c_phi": 1.0, "chi": 0.5}
    grads = jax.grad(loss)(params, x0)
    for name, value in params.items():
        h = 1e-6 * max(1.0, abs(value))
        up = loss({**params, name: value + h}, x0)
        down = loss({**params, name: value - h}, x0)
        fd = float(up - down) / (2 * h)
        assert abs(fd) > 1e-8, name  # a parameter the loss really depends on
        assert float(grads[name]) == pytest.approx(fd, rel=1e-6, abs=1e-12), name


def test_grad_wrt_initial_state_matches_finite_differences(problem):
    model, lat, x0, target = problem
    loss = loss_fn(model, lat, target)
    params = {"gamma": 0.1}
    g = jax.grad(loss, argnums=1)(params, x0)
    rng = np.random.default_rng(0)
    for field in ("phi", "v", "S"):
        direction = jax.tree.map(jnp.zeros_like, x0)
        arr = rng.standard_normal(getattr(x0, field).shape)
        direction = rj.State(**{**direction.__dict__, field: jnp.asarray(arr)})
        h = 1e-6
        shifted = lambda s: jax.tree.map(lambda a, d: a + s * d, x0, direction)  # noqa: E731
        fd = float(loss(params, shifted(h)) - loss(params, shifted(-h))) / (2 * h)
        ad = float(sum(jnp.vdot(a, d) for a, d in zip(jax.tree.leaves(g), jax.tree.leaves(direction))))
        assert abs(fd) > 1e-8
        assert ad == pytest.approx(fd, rel=1e-6), field
