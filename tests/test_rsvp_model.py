"""The default "rsvp" model: conservation, the entropy law, positivity, well-posedness checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj


def test_invariant_conserved_to_round_off_over_1000_steps(x64):
    lat = rj.Lattice((24, 24), spacing=0.5)
    model = rj.preset("rsvp", advect_v=True, omega=0.3)
    x0 = rj.initial_state(lat, "blobs", seed=3, dtype="float64")
    dt = 0.5 * rj.max_stable_dt(model, lat, x0)
    traj = rj.simulate(model, lat, x0, dt, steps=1000, save_every=50)
    inv = np.asarray(traj.diagnostics["invariant"])
    drift = np.max(np.abs(inv - inv[0])) / abs(inv[0])
    assert drift < 1e-12, drift
    # the run actually moved mass between Φ and S (so the test is not vacuous)
    phi_total = np.asarray(traj.diagnostics["phi_total"])
    assert abs(phi_total[-1] - phi_total[0]) / phi_total[0] > 1e-4


def test_entropy_never_decreases_and_sigma_is_nonnegative(x64):
    lat = rj.Lattice((20, 20))
    model = rj.preset("rsvp", chi=2.0)
    x0 = rj.initial_state(lat, "vortex", seed=0, dtype="float64")
    traj = rj.simulate(model, lat, x0, 0.05, steps=400, save_every=4)
    S_total = np.asarray(traj.diagnostics["S_total"])
    assert np.all(np.diff(S_total) >= -1e-12 * S_total[0])
    assert S_total[-1] > S_total[0] + 1e-3  # σ > 0 somewhere: S really grew
    sigma = jax.vmap(lambda x: model.entropy_production(lat, x))(traj.states)
    assert float(jnp.min(sigma)) >= 0.0


@pytest.mark.parametrize("method", ["euler", "heun", "ssprk3"])
def test_phi_and_S_stay_positive_at_the_cfl_limit(x64, method):
    """Near-vacuum regions and a strong flow: the monotone scheme keeps Φ, S > 0 without clipping."""
    lat = rj.Lattice((32, 32))
    X, Y = lat.mesh()
    phi = 1e-3 + np.exp(-((X - 16) ** 2 + (Y - 16) ** 2) / 20.0)  # a bump on a near-empty lattice
    S = 1e-3 + np.exp(-((X - 10) ** 2 + (Y - 20) ** 2) / 10.0)
    v = 0.8 * np.stack([np.sin(2 * np.pi * Y / 32), np.cos(2 * np.pi * X / 32)])
    x0 = rj.State(jnp.asarray(phi), jnp.asarray(v), jnp.asarray(S))
    model = rj.preset("rsvp", D_phi=0.02, D_S=0.02, nu=0.02, c_phi=0.2, c_S=0.1)
    limits = rj.stability_limits(model, lat, x0)
    assert "positivity" in limits
    dt = rj.max_stable_dt(model, lat, x0)
    traj = rj.simulate(model, lat, x0, dt, steps=200, save_every=10, method=method)
    assert float(jnp.min(traj.states.phi)) > 0
    assert float(jnp.min(traj.states.S)) > 0
    assert float(jnp.min(traj.diagnostics["min_phi"])) < 5e-3  # the vacuum really was approached


def test_positivity_fails_without_the_monotone_scheme(x64):
    """The same stress with central advection goes negative: the positivity test above has teeth."""
    lat = rj.Lattice((32, 32))
    X, Y = lat.mesh()
    phi = 1e-3 + np.exp(-((X - 16) ** 2 + (Y - 16) ** 2) / 2.0)
    v = 0.8 * np.stack([np.sin(2 * np.pi * Y / 32), np.cos(2 * np.pi * X / 32)])
    x0 = rj.State(jnp.asarray(phi), jnp.asarray(v), jnp.asarray(phi))
    model = rj.preset("rsvp", D_phi=0.0, D_S=0.0, nu=0.02, c_phi=0.2, c_S=0.1, advection="central")
    traj = rj.simulate(model, lat, x0, 0.1, steps=100, save_every=10)
    assert float(jnp.min(traj.states.phi)) < 0


def test_lamphrodyne_needs_hyperdiffusion_and_runs_with_it(x64):
    with pytest.raises(rj.ConfigError, match="eps > 0"):
        rj.preset("rsvp", s=-1.0)
    model = rj.preset("rsvp", s=-1.0, eps=0.05)
    assert model.hyperdiffusion and model.stencil_radius() == 2
    lat = rj.Lattice((24, 24))
    x0 = rj.initial_state(lat, "blobs", seed=1, dtype="float64")
    dt = 0.5 * rj.max_stable_dt(model, lat, x0)
    traj = rj.simulate(model, lat, x0, dt, steps=300, save_every=100)
    inv = np.asarray(traj.diagnostics["invariant"])
    assert np.max(np.abs(inv - inv[0])) / inv[0] < 1e-12
    assert np.all(np.isfinite(np.asarray(traj.final.S)))


def test_lamphron_smooths_and_lamphrodyne_aggregates(x64):
    """s = +1 flattens an entropy bump faster than s = −1 (which pushes flow up the gradient)."""
    lat = rj.Lattice((32,))
    x = lat.coords()[0]
    S = 1 + 0.5 * np.exp(-((x - 16) ** 2) / 8)
    x0 = rj.State(jnp.ones(32), jnp.zeros((1, 32)), jnp.asarray(S))
    spread = {}
    for s in (1.0, -1.0):
        model = rj.preset("rsvp", s=s, eps=0.01, c_phi=1.0, c_S=0.8, D_S=0.01)
        final = rj.simulate(model, lat, x0, 0.05, steps=200).final
        spread[s] = float(jnp.max(final.S) - jnp.min(final.S))
    assert spread[1.0] < spread[-1.0]


@pytest.mark.parametrize("name, value", [("gamma", -0.1), ("D_phi", -1.0), ("chi", -2.0), ("nu", float("nan"))])
def test_bad_parameters_are_clear_errors(name, value):
    with pytest.raises(rj.ConfigError, match=name):
        rj.preset("rsvp").replace(**{name: value})


def test_s_must_be_plus_or_minus_one():
    with pytest.raises(rj.ConfigError, match="s=0.5"):
        rj.preset("rsvp", s=0.5)


def test_model_is_a_pytree_with_static_switches():
    model = rj.preset("rsvp", advect_v=True)
    leaves, treedef = jax.tree_util.tree_flatten(model)
    assert len(leaves) == len(model.param_names()) == 11
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt == model and rebuilt.advect_v
    with pytest.raises(rj.ConfigError, match="no parameter 'gama'"):
        model.replace(gama=0.1)
