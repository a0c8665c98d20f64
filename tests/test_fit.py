"""Calibration: twin experiments (parameters, noisy data, an initial field), the
reparameterization, sensitivity / identifiability, and input errors.

One small run (12², 40 Euler steps, 4 snapshots after the initial one) serves every test, so
that the jitted loss and Jacobian compile once per optimizer.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rsvp_jax as rj
from rsvp_jax.calibration import _problem as fp

DT, STEPS, EVERY, METHOD = 0.1, 40, 10, "euler"
NAMES = ("gamma", "D_S", "nu")


@pytest.fixture(scope="module")
def twin():
    lat = rj.Lattice((12, 12))
    truth = rj.preset("rsvp")
    x0 = rj.initial_state(lat, "blobs", seed=1)
    obs = rj.simulate(truth, lat, x0, DT, STEPS, save_every=EVERY, method=METHOD, diagnostics=False)
    return truth, lat, x0, obs


def perturbed(truth, names=NAMES, p=0.4):
    """θ·(1 + p), θ·(1 − p), ... : 40 % off in alternating directions."""
    return truth.replace(**{n: float(getattr(truth, n)) * (1 + p * (-1) ** i) for i, n in enumerate(names)})


@pytest.fixture(scope="module")
def lm_fit(twin):
    truth, lat, x0, obs = twin
    return rj.fit(perturbed(truth), lat, obs, NAMES, dt=DT, method=METHOD, optimizer="lm")


def test_twin_recovers_parameters_noise_free(twin, lm_fit):
    truth = twin[0]
    start_err = {n: abs(float(getattr(lm_fit.start, n)) / float(getattr(truth, n)) - 1) for n in NAMES}
    assert min(start_err.values()) >= 0.3
    errors = lm_fit.relative_errors(truth)
    assert max(errors.values()) < 1e-3, errors
    assert lm_fit.converged and lm_fit.reason in ("loss", "step")
    assert lm_fit.loss < 1e-8 * lm_fit.loss_history[0]
    assert np.all(np.diff(lm_fit.loss_history) <= 0)  # LM only accepts steps that lower the loss
    assert lm_fit.param_history["gamma"][0] == pytest.approx(0.14, rel=1e-6)


def test_twin_recovers_parameters_with_optax_lbfgs(twin):
    truth, lat, x0, obs = twin
    res = rj.fit(perturbed(truth), lat, obs, NAMES, dt=DT, method=METHOD)  # the default: optax.lbfgs
    assert res.optimizer == "lbfgs"
    errors = res.relative_errors(truth)
    assert max(errors.values()) < 1e-3, (errors, res.reason, res.iterations)


def test_twin_noisy_data_within_noise_band(twin):
    """With noise σ the fitted θ scatter by the Cramér–Rao standard errors; the misfit is σ²."""
    truth, lat, x0, obs = twin
    sigma = 0.01
    noisy = rj.add_noise(obs, sigma, seed=3)
    assert np.array_equal(np.asarray(noisy.states.phi[0]), np.asarray(obs.states.phi[0]))  # x0 left exact
    unit = {"phi": 1.0, "v": 1.0, "S": 1.0}  # loss = mean squared misfit in the data's own units
    res = rj.fit(perturbed(truth), lat, noisy, NAMES, dt=DT, method=METHOD, optimizer="lm", scale=unit)
    sens = rj.sensitivity(truth, lat, noisy, NAMES, dt=DT, method=METHOD, scale=unit, noise=sigma)
    err = np.array([res.params[n] - float(getattr(truth, n)) for n in NAMES])
    assert np.all(np.abs(err) < 4 * sens.standard_errors), (err, sens.standard_errors)
    assert np.all(sens.standard_errors < 0.05 * np.array([float(getattr(truth, n)) for n in NAMES]))
    noisy_fraction = 1 - 1 / len(obs)  # every snapshot but the initial one carries noise
    assert res.loss / (sigma**2 * noisy_fraction) == pytest.approx(1.0, abs=0.1)


def test_twin_recovers_initial_field(twin):
    """Φ(t=0) from the later snapshots only, starting from its spatial mean (27 % off)."""
    truth, lat, x0, obs = twin
    guess = dataclasses.replace(x0, phi=jnp.full_like(x0.phi, jnp.mean(x0.phi)))
    rel = lambda phi: float(jnp.linalg.norm(phi - x0.phi) / jnp.linalg.norm(x0.phi))  # noqa: E731
    assert rel(guess.phi) > 0.2
    res = rj.fit(truth, lat, obs[1:], dt=DT, x0=guess, fit_initial="phi", method=METHOD, max_iter=300)
    assert res.optimizer == "lbfgs" and res.names == () and res.fit_initial == ("phi",)
    assert rel(res.x0.phi) < 1e-3, (rel(res.x0.phi), res.reason, res.iterations)
    assert np.array_equal(np.asarray(res.x0.S), np.asarray(x0.S))  # fields not fitted are kept
    assert bool(jnp.all(res.x0.phi > 0))


def test_custom_optax_optimizer_and_initial_mask(twin):
    """Any optax transformation works; an initial mask frees only some cells."""
    truth, lat, x0, obs = twin
    guess = dataclasses.replace(x0, phi=x0.phi * 1.1)
    half = np.zeros(lat.shape, bool)
    half[:6] = True
    res = rj.fit(truth, lat, obs[1:], dt=DT, x0=guess, fit_initial=("phi",), initial_mask=half, method=METHOD,
                 optimizer=optax.adam(0.01), max_iter=15)
    assert res.iterations == 15 and not res.converged and res.reason == "max_iter"
    assert res.loss < 0.5 * res.loss_history[0]
    np.testing.assert_array_equal(np.asarray(res.x0.phi)[6:], np.asarray(guess.phi)[6:])
    assert not np.allclose(np.asarray(res.x0.phi)[:6], np.asarray(guess.phi)[:6])


def test_reparameterization_keeps_ranges(twin):
    """Non-negative coefficients and Φ, S go through softplus, the rest through the identity."""
    truth, lat, x0, obs = twin
    model = truth.replace(gamma=0.1, c_phi=1.3)
    P = fp.make_problem(model, lat, obs, ("gamma", "c_phi"), dt=DT, fit_initial=("phi", "v"), method=METHOD)
    assert P.positive == (True, False)
    u = P.u0
    assert float(u["params"]["gamma"]) == pytest.approx(np.log(np.expm1(0.1)), rel=1e-5)  # softplus⁻¹
    assert float(u["params"]["c_phi"]) == pytest.approx(1.3)
    back, xb = fp.constrain(P, u)
    assert float(back.gamma) == pytest.approx(0.1, rel=1e-5)
    np.testing.assert_allclose(np.asarray(xb.phi), np.asarray(x0.phi), rtol=1e-5)
    far = jax.tree.map(lambda a: a - 50.0, u)  # far below the valid range in u: still valid in θ
    back, xb = fp.constrain(P, far)
    assert float(back.gamma) > 0 and bool(jnp.all(xb.phi > 0)) and float(back.c_phi) < 0
    assert float(fp.ravel(P, fp.unravel(P, fp.ravel(P, u)))[0]) == float(fp.ravel(P, u)[0])


def test_sensitivity_identifies_a_blind_parameter(twin, lm_fit):
    """eps does nothing without hyperdiffusion: its eigen-direction has eigenvalue 0."""
    truth, lat, x0, obs = twin
    sens = rj.sensitivity(lm_fit.model, lat, obs, ("gamma", "eps"), dt=DT, method=METHOD)
    assert sens.eigenvalues[0] > 0 and sens.eigenvalues[1] <= 1e-12 * sens.eigenvalues[0]
    assert list(sens.identifiable()) == [True, False]
    assert sens.condition_number == float("inf") or sens.condition_number > 1e12
    assert abs(sens.eigenvectors[1, 1]) == pytest.approx(1.0)  # the blind direction is eps alone
    assert sens.spectrum["k99"] == 1 and float(sens.spectrum["stable_rank"]) == pytest.approx(1.0)
    np.testing.assert_allclose(sens.gauss_newton[1], 0.0, atol=0)


def test_sensitivity_gradient_matches_finite_differences(x64):
    lat = rj.Lattice((8, 8))
    truth = rj.preset("rsvp")
    x0 = rj.initial_state(lat, "blobs", seed=2, dtype="float64")
    obs = rj.simulate(truth, lat, x0, DT, 20, save_every=10, method=METHOD, diagnostics=False)
    model = perturbed(truth, ("gamma", "c_S"), 0.3)
    sens = rj.sensitivity(model, lat, obs, ("gamma", "c_S"), dt=DT, method=METHOD)

    def L(**kw):
        return rj.sensitivity(model.replace(**kw), lat, obs, ("gamma", "c_S"), dt=DT, method=METHOD).loss

    for i, n in enumerate(("gamma", "c_S")):
        h = 1e-6 * float(getattr(model, n))
        fd = (L(**{n: float(getattr(model, n)) + h}) - L(**{n: float(getattr(model, n)) - h})) / (2 * h)
        assert sens.gradient[i] == pytest.approx(fd, rel=1e-6)
    # the relative spectrum is that of diag(θ)·G·diag(θ)
    theta = sens.values
    np.testing.assert_allclose(np.sort(sens.eigenvalues), np.linalg.eigvalsh(theta[:, None] * sens.gauss_newton * theta), rtol=1e-10)


def test_results_summaries_and_figures(twin, lm_fit):
    truth = twin[0]
    s = lm_fit.summary(truth)
    assert set(s["fitted"]) == set(NAMES) and s["relative_error"]["gamma"] < 1e-3
    fig = lm_fit.plot(truth)
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    assert len(fig.axes[1].lines) == len(NAMES)
    sens = rj.sensitivity(lm_fit.model, twin[1], twin[3], NAMES, dt=DT, method=METHOD)
    assert sens.summary()["names"] == list(NAMES)
    assert len(sens.plot().axes) >= 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(fit=("gama",)), "no such parameter"),
    (dict(fit=("s",)), "sign"),
    (dict(fit=()), "nothing to fit"),
    (dict(fit=("gamma", "gamma")), "twice"),
    (dict(fit=("gamma",), fields=("rho",)), "not a field"),
    (dict(fit=("gamma",), fit_initial=("psi",)), "not a field"),
    (dict(fit=("gamma",), mask=np.ones((3, 3))), "broadcast"),
    (dict(fit=("gamma",), optimizer="newton"), "unknown"),
    (dict(fit=("gamma",), dt=-1.0), "dt"),
    (dict(fit_initial=True, optimizer="lm"), "dense Jacobian"),
])
def test_bad_input_is_a_config_error(twin, kwargs, match):
    truth, lat, x0, obs = twin
    with pytest.raises(rj.ConfigError, match=match):
        rj.fit(truth, lat, obs, **{"dt": DT, "method": METHOD, **kwargs})


def test_bad_observations_are_config_errors(twin):
    truth, lat, x0, obs = twin
    with pytest.raises(rj.ConfigError, match="pass the initial state"):
        rj.fit(truth, lat, obs[1:], ("gamma",), dt=DT)
    with pytest.raises(rj.ConfigError, match="shape"):
        rj.fit(truth, rj.Lattice((10, 10)), obs, ("gamma",), dt=DT)
    bad = dataclasses.replace(obs, states=dataclasses.replace(obs.states, S=obs.states.S.at[2, 0, 0].set(jnp.nan)))
    with pytest.raises(rj.ConfigError, match="NaN"):
        rj.fit(truth, lat, bad, ("gamma",), dt=DT)
    with pytest.raises(rj.ConfigError, match="Trajectory"):
        rj.fit(truth, lat, obs.states, ("gamma",), dt=DT)
    with pytest.raises(rj.UnstableTimestepError):
        rj.fit(truth.replace(gamma=50.0), lat, obs, ("gamma",), dt=DT)


def test_gradient_with_respect_to_a_model_pytree():
    """jax.grad w.r.t. a Model gives a Model of gradients; negative ones are not 'invalid parameters'."""
    lat = rj.Lattice((6, 6))
    truth = rj.preset("rsvp")
    x0 = rj.initial_state(lat, "blobs", seed=0)
    g = jax.grad(lambda m: jnp.sum(fp.predict(m, lat, x0, DT, (2, 4), METHOD).phi ** 2))(truth)
    assert type(g) is type(truth)
    values = {n: float(getattr(g, n)) for n in truth.param_names()}
    assert any(v < 0 for n, v in values.items() if n in truth.nonnegative), values


def test_twin_from_a_subset_of_fields_and_cells(twin):
    """Observing only S, on a checkerboard half of the cells, still pins (γ, D_S, ν) down; the mask
    really drops the other cells (corrupting them changes nothing)."""
    truth, lat, x0, obs = twin
    cells = (np.indices(lat.shape).sum(0) % 2 == 0).astype(np.float32)
    corrupt = dataclasses.replace(obs, states=dataclasses.replace(obs.states, S=obs.states.S + 5.0 * (1 - cells),
                                                                            phi=obs.states.phi * 3.0))
    res = rj.fit(perturbed(truth), lat, corrupt, NAMES, dt=DT, method=METHOD, optimizer="lm", fields=("S",),
                 mask=cells, x0=x0)
    assert max(res.relative_errors(truth).values()) < 1e-3, res.relative_errors(truth)
