"""Every preset: runs where it is defined, validates its parameters, documents its equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj

SHAPES = {1: (16,), 2: (12, 12), 3: (6, 6, 6)}
PRESETS = ("rsvp", "tartan", "centerfuge", "monograph", "seed")


def cases():
    for name in PRESETS:
        for D in rj.presets()[name]["dims"]:
            yield name, D


@pytest.mark.parametrize("name, D", list(cases()))
def test_every_preset_runs_where_it_is_defined(name, D):
    lat = rj.Lattice(SHAPES[D])
    model = rj.preset(name)
    x0 = rj.initial_state(lat, "blobs", seed=1)
    dt = min(0.05, 0.5 * rj.max_stable_dt(model, lat, x0))
    traj = rj.simulate(model, lat, x0, dt, steps=10, save_every=5)
    assert len(traj) == 3
    final = rj.to_array(traj.final)
    assert final.shape == (D + 2, *SHAPES[D])
    assert bool(jnp.all(jnp.isfinite(final)))
    assert float(jnp.max(jnp.abs(final - rj.to_array(x0)))) > 1e-6  # it moved


@pytest.mark.parametrize("name", ["seed"])
def test_seed_is_2d_only(name):
    with pytest.raises(rj.ConfigError, match="2D"):
        rj.simulate(rj.preset(name), rj.Lattice((16,)), rj.initial_state(rj.Lattice((16,))), 0.1, steps=2)


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(rj.ConfigError, match="valid presets are rsvp, tartan"):
        rj.preset("rsvpp")


def test_presets_listing_has_summaries_and_parameters():
    listing = rj.presets()
    assert set(listing) == set(PRESETS)
    for name, info in listing.items():
        assert info["summary"] and info["params"]
        assert name in rj.preset(name).__doc__ or info["summary"]
        # the docstring states the equations
        assert "∂t" in type(rj.preset(name)).__doc__ or "Φ'" in type(rj.preset(name)).__doc__


def test_tartan_conserves_phi_and_grows_S(x64):
    lat = rj.Lattice((16, 16))
    model = rj.preset("tartan")
    x0 = rj.initial_state(lat, "vortex", dtype="float64")
    traj = rj.simulate(model, lat, x0, 0.05, steps=200, save_every=20)
    phi_total = np.asarray(traj.diagnostics["invariant"])
    assert np.max(np.abs(phi_total - phi_total[0])) / phi_total[0] < 1e-12
    S_total = np.asarray(traj.diagnostics["S_total"])
    assert np.all(np.diff(S_total) >= 0) and S_total[-1] > S_total[0]


def test_centerfuge_relaxes_the_flow_to_minus_beta_grad_phi(x64):
    """With D = α = 0, φ is frozen and v relaxes exponentially to −β∇φ at rate 1/τ."""
    lat = rj.Lattice((16, 16))
    model = rj.preset("centerfuge", D=0.0, alpha=0.0, tau=0.5, beta=2.0)
    x0 = rj.initial_state(lat, "blobs", dtype="float64")
    T = 1.0
    final = rj.simulate(model, lat, x0, 0.01, steps=100, method="rk4").final
    target = -2.0 * rj.lattice.gradient(x0.phi, lat)
    expected = target + (x0.v - target) * np.exp(-T / 0.5)
    np.testing.assert_allclose(final.v, expected, atol=1e-9)
    np.testing.assert_allclose(final.phi, x0.phi, atol=1e-14)


def test_centerfuge_speed_is_smooth_at_rest(x64):
    lat = rj.Lattice((8, 8))
    model = rj.preset("centerfuge")
    x = rj.initial_state(lat, "uniform", dtype="float64")
    g = jax.grad(lambda v: jnp.sum(model.speed(lat, rj.State(x.phi, v, x.S))))(x.v)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_monograph_rotation_conserves_kinetic_energy_in_2d(x64):
    """In 2D the κ term is ẑ×v: with only it active, |v|² is conserved (RK4, small dt)."""
    lat = rj.Lattice((8, 8))
    model = rj.preset("monograph", sigma=0.0, m2=0.0, lam=0.0, nu=0.0, nu_v=0.0, D_S=0.0, mu=0.0, chi=0.0, kappa=1.0)
    x0 = rj.initial_state(lat, "noise", dtype="float64")
    traj = rj.simulate(model, lat, x0, 0.01, steps=100, save_every=50, method="rk4")
    ke = np.asarray(traj.diagnostics["kinetic_energy"])
    assert abs(ke[-1] - ke[0]) / ke[0] < 1e-9
    # ... and it rotated v by κt = 1 radian
    v0, v1 = np.asarray(x0.v), np.asarray(traj.final.v)
    rot = np.stack([np.cos(1) * v0[0] - np.sin(1) * v0[1], np.sin(1) * v0[0] + np.cos(1) * v0[1]])
    np.testing.assert_allclose(v1, rot, atol=1e-9)


def test_monograph_3d_curl_needs_its_viscosity(x64):
    """3D: with ν_v = 0 the helical grid modes grow at ≈ κ·k_max; the default ν_v keeps them bounded."""
    lat = rj.Lattice((8, 8, 8))
    x0 = rj.initial_state(lat, "noise", dtype="float64")
    base = dict(sigma=0.0, m2=0.0, lam=0.0, nu=0.0, mu=0.0, chi=0.0, kappa=1.0)
    grow = rj.simulate(rj.preset("monograph", nu_v=0.0, **base), lat, x0, 0.02, steps=200).diagnostics["kinetic_energy"]
    tame = rj.simulate(rj.preset("monograph", nu_v=1.0, **base), lat, x0, 0.02, steps=200).diagnostics["kinetic_energy"]
    assert float(grow[-1]) > 2 * float(grow[0])
    assert float(tame[-1]) < float(tame[0])


def test_seed_map_applies_the_rule_once_per_step(x64):
    lat = rj.Lattice((8, 8))
    model = rj.preset("seed")
    x = rj.initial_state(lat, "blobs", dtype="float64")
    y = rj.step(model, lat, x, dt=123.0, method="rk4")  # dt and the integrator are ignored
    phi, v, S = (np.asarray(a) for a in (x.phi, x.v, x.S))
    grad = np.stack([(np.roll(phi, -1, a) - np.roll(phi, 1, a)) / 2 for a in (0, 1)])
    p = 0.1
    np.testing.assert_allclose(y.phi, phi + p * ((v * grad).sum(0) - p * S), rtol=1e-13)
    np.testing.assert_allclose(y.v, v + p * (grad - p * (np.roll(v, -1, 1) - np.roll(v, 1, 1))), rtol=1e-13)
    np.testing.assert_allclose(y.S, S + p * ((grad**2).sum(0) - p * (v**2).sum(0)), rtol=1e-13)


@pytest.mark.parametrize("name, params, match", [
    ("tartan", {"kappa": -1.0}, "kappa"),
    ("centerfuge", {"tau": 0.0}, "tau"),
    ("monograph", {"g": -0.1}, "g=-0.1"),
    ("rsvp", {"order": 3}, "order"),
    ("rsvp", {"advection": "weno"}, "advection"),
    # the order / advection switches are validated once, in the Model base, for every preset that has them
    ("tartan", {"order": 6}, r"tartan: order=6 is invalid; valid orders are \(2, 4\)"),
    ("tartan", {"advection": "weno"}, r"tartan: advection='weno' is invalid; valid schemes are \('smooth'"),
    ("centerfuge", {"order": 3}, "centerfuge: order=3"),
    ("monograph", {"order": 3}, "monograph: order=3"),
])
def test_preset_parameter_validation(name, params, match):
    with pytest.raises(rj.ConfigError, match=match):
        rj.preset(name, **params)


def test_unstable_dt_names_the_limit_and_the_largest_stable_dt():
    lat = rj.Lattice((32, 32))
    model = rj.preset("rsvp", D_phi=1.0)
    x0 = rj.initial_state(lat)
    limit = rj.max_stable_dt(model, lat, x0)
    with pytest.raises(rj.UnstableTimestepError, match=rf"dt=0.5 exceeds the positivity limit .* largest stable dt is {limit:.4g}"):
        rj.simulate(model, lat, x0, 0.5, steps=10)
    assert limit < 0.25
    rj.simulate(model, lat, x0, 0.99 * limit, steps=2)  # just under it is accepted
    with pytest.raises(rj.ConfigError, match="dt=-0.1"):
        rj.simulate(model, lat, x0, -0.1, steps=10)


@pytest.mark.parametrize("name", ["rsvp", "tartan", "centerfuge", "monograph"])
def test_stencil_radius_follows_the_order(name):
    assert rj.preset(name).stencil_radius() == 1 and rj.preset(name, order=4).stencil_radius() == 2


def test_every_advecting_preset_defaults_to_the_smooth_flux():
    for name in ("rsvp", "tartan"):
        model = rj.preset(name)
        assert model.advection == "smooth" and float(model.dissipation_floor()) > 0


def test_hyperdiffusion_limit_is_enforced():
    lat = rj.Lattice((16, 16))
    model = rj.preset("rsvp", eps=1.0, s=-1.0)
    x0 = rj.initial_state(lat)
    limits = rj.stability_limits(model, lat, x0)
    assert limits["hyperdiffusion"] == pytest.approx(1 / 32)  # h⁴/(32ε) in 2D
    with pytest.raises(rj.UnstableTimestepError, match="hyperdiffusion"):
        rj.simulate(model, lat, x0, 0.05, steps=10)


@pytest.mark.parametrize("kind", rj.INITIAL_KINDS)
def test_initial_conditions_are_reproducible_and_positive(kind):
    lat = rj.Lattice((16, 16))
    a, b = rj.initial_state(lat, kind, seed=7), rj.initial_state(lat, kind, seed=7)
    np.testing.assert_array_equal(rj.to_array(a), rj.to_array(b))
    assert float(jnp.min(a.phi)) > 0 and float(jnp.min(a.S)) > 0
    if kind in ("blobs", "noise"):
        assert not np.array_equal(rj.to_array(a), rj.to_array(rj.initial_state(lat, kind, seed=8)))


def test_initial_condition_errors():
    with pytest.raises(rj.ConfigError, match="valid kinds"):
        rj.initial_state(rj.Lattice((8,)), "swirl")
    with pytest.raises(rj.ConfigError, match="2D or 3D"):
        rj.initial_state(rj.Lattice((8,)), "vortex")
    with pytest.raises(rj.ConfigError, match="amplitude"):
        rj.initial_state(rj.Lattice((8,)), "dipole", amplitude=5.0)


def test_array_round_trip_with_batch_axes():
    lat = rj.Lattice((6, 5, 4))
    x = rj.initial_state(lat, "noise")
    arr = rj.to_array(x)
    assert arr.shape == (5, 6, 5, 4)
    np.testing.assert_array_equal(rj.to_array(rj.from_array(arr, lat)), arr)
    batch = jnp.stack([arr, 2 * arr])
    xb = rj.from_array(batch, lat)
    assert xb.v.shape == (2, 3, 6, 5, 4)
    np.testing.assert_array_equal(rj.to_array(xb), batch)
    assert rj.channel_names(lat) == ("phi", "v1", "v2", "v3", "S")
    with pytest.raises(rj.ConfigError, match="does not match the lattice"):
        rj.from_array(arr[:4], lat)


def test_advection_damping_and_diffusion_limits_have_their_values():
    """Each limit of DESIGN.md at a hand-made state, and each named when it is the one violated."""
    lat = rj.Lattice((16, 16), spacing=0.5)
    ones = jnp.ones(lat.shape)
    x = rj.State(4.0 * ones, jnp.stack([2.0 * ones, 0.0 * ones]), 1.0 * ones)  # |v| = 2, Φ = 4, S = 1
    # central advection: no positivity limit (that one has its own test above), so each of these can be the tightest
    model = rj.preset("rsvp", c_phi=0.5, c_S=0.25, gamma=0.4, nu=0.1, D_phi=0.2, D_S=0.05, eps=0.0, advection="central")
    assert "positivity" not in rj.stability_limits(model, lat, x)
    limits = rj.stability_limits(model, lat, x)
    wave = 0.5 * 4.0**0.5 + 0.25 * 1.0**0.5
    assert limits["advection"] == pytest.approx(0.5 * 0.5 / (2.0 + wave))  # C·h/(|v|max + wave speed)
    assert limits["damping"] == pytest.approx(1 / 0.4)
    assert limits["diffusion"] == pytest.approx(0.5**2 / (2 * 2 * 0.2))  # h²/(2·D·max(D_Φ, D_S, ν))
    for name, m in (("advection", model), ("damping", model.replace(gamma=100.0)),
                    ("diffusion", model.replace(D_phi=10.0))):
        lim = rj.stability_limits(m, lat, x)
        assert min(lim, key=lim.get) == name
        with pytest.raises(rj.UnstableTimestepError, match=rf"exceeds the {name} limit .* largest stable dt is {lim[name]:.4g}"):
            rj.simulate(m, lat, x, 1.01 * lim[name], steps=1)
