"""The default face flux: orders of accuracy (time and space), positivity, conservation, smoothness.

The numbers behind these tests, at larger sizes, are in docs/numerics.md
(`python -m rsvp_jax.bench.convergence`).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax import lattice as L
from rsvp_jax.bench.convergence import _advection_diffusion, _restrict, vacuum_problem

TWO_PI = 2 * math.pi


def observed_order(errors):
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


# ---- time -----------------------------------------------------------------------------------
DTS, T_END = (0.1, 0.05, 0.025), 1.0


def blobs_16():
    lat = rj.Lattice((16, 16))
    return lat, rj.initial_state(lat, "blobs", seed=3, dtype="float64")


@functools.lru_cache(maxsize=None)
def _temporal_errors(advection: str, method: str) -> tuple:
    """Max errors at DTS against RK4 at DTS[-1]/32 (cached: the reference is shared)."""
    lat, x0 = blobs_16()
    model = rj.preset("rsvp") if advection == "default" else rj.preset("rsvp", advection=advection)
    run = jax.jit(lambda x, dt, steps, m: rj.rollout(model, lat, x, dt, steps, m), static_argnums=(2, 3))
    ref = _reference(advection)
    return tuple(float(jnp.max(jnp.abs(rj.to_array(run(x0, dt, round(T_END / dt), method)) - ref))) for dt in DTS)


@functools.lru_cache(maxsize=None)
def _reference(advection: str):
    lat, x0 = blobs_16()
    model = rj.preset("rsvp") if advection == "default" else rj.preset("rsvp", advection=advection)
    fine = DTS[-1] / 32
    return rj.to_array(jax.jit(lambda x: rj.rollout(model, lat, x, fine, round(T_END / fine), "rk4"))(x0))


@pytest.mark.parametrize("method, order", [("euler", 1), ("heun", 2), ("ssprk3", 3), ("rk4", 4)])
def test_every_integrator_reaches_its_order_on_the_default_model(x64, method, order):
    """Default model, default flux, a flow that changes sign everywhere: the design order, ±0.3."""
    assert rj.preset("rsvp").advection == "smooth"
    _, x0 = blobs_16()
    v = np.asarray(x0.v)
    assert v.min() < -0.1 and v.max() > 0.1  # face velocities cross zero all over the lattice
    errs = _temporal_errors("default", method)
    p = observed_order(errs)
    assert p[-1] == pytest.approx(order, abs=0.3), (errs, p)


def test_upwinding_costs_rk4_its_order(x64):
    """The same run with the kinked upwind flux: RK4 falls to about second order (the test above has teeth)."""
    p = observed_order(_temporal_errors("upwind", "rk4"))
    assert p[-1] < 3.0, p


# ---- space ----------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [2, 4])
def test_default_flux_converges_at_the_operator_order_on_advection_diffusion(x64, order):
    """Φ = 1 + ½e^{−Dk²t} sin(k(x − ut)) (u = 1, D = 0.2) through the model's own right-hand side."""
    errs = [_advection_diffusion(n, "smooth", order, Dphi=0.2) for n in (32, 64, 128)]
    p = observed_order(errs)
    assert p[-1] == pytest.approx(order, abs=0.3), (errs, p)
    # upwinding on the same problem is first order
    up = [_advection_diffusion(n, "upwind", order, Dphi=0.2) for n in (64, 128)]
    assert observed_order(up)[-1] == pytest.approx(1.0, abs=0.2), up
    assert errs[-1] < up[-1] / 20


def test_nonlinear_default_model_converges_at_second_order(x64):
    """Self-convergence of the full model (1D, σ ≠ 0, v changing sign) from exact cell averages."""
    model = rj.preset("rsvp")
    T, sols = 0.5, []
    for n in (32, 64, 128, 256):
        lat = rj.Lattice((n,), TWO_PI / n)
        h, x = lat.spacing, lat.coords()[0]
        s = np.sinc(h / 2 / math.pi)  # cell average of sin/cos(x) = s × its centre value
        x0 = rj.State(jnp.asarray(1 + 0.3 * s * np.sin(x)), jnp.asarray(0.5 * s * np.cos(x)[None]),
                      jnp.asarray(1 + 0.2 * s * np.sin(x + 1)))
        steps = math.ceil(T / (0.5 * rj.max_stable_dt(model, lat, x0)))
        sols.append(np.asarray(rj.to_array(jax.jit(lambda x: rj.rollout(model, lat, x, T / steps, steps, "rk4"))(x0))))
    errs = [np.max(np.abs(c - _restrict(f, 2, 1))) for c, f in zip(sols[:-1], sols[1:])]
    p = observed_order(errs)
    assert p[-1] == pytest.approx(2.0, abs=0.3), (errs, p)


# ---- the numerical diffusivity ----------------------------------------------------------------
def test_smooth_diffusivity_is_a_smooth_max_of_the_physical_and_the_cell_peclet_one(x64):
    h, delta = 1.0, 0.015
    u = jnp.linspace(-3.0, 3.0, 601)
    for kappa in (0.0, 0.05, 0.5):
        total = kappa + L.numerical_diffusivity(u, kappa, h, delta)
        b = 0.5 * h * jnp.sqrt(u**2 + delta**2)
        # monotone (≥ |u|h/2), never below the physical κ, and within the ℓ⁴ bound 2^{1/4}·max
        assert bool(jnp.all(total >= b * (1 - 1e-14))) and bool(jnp.all(total >= kappa))
        assert bool(jnp.all(total <= 2**0.25 * jnp.maximum(kappa, b) * (1 + 1e-14)))
        np.testing.assert_allclose(total, (kappa**4 + b**4) ** 0.25, rtol=1e-13)
    # small cell Péclet number: κ_num ≈ b⁴/(4κ³) = O(h⁴)
    k_num = L.numerical_diffusivity(jnp.asarray(0.01), 0.5, 1.0, 0.0)
    assert float(k_num) == pytest.approx(0.005**4 / (4 * 0.5**3), rel=1e-6)
    # the degenerate κ = δ = u = 0 is a clean 0 (up to the root's floor) with a finite derivative
    g = jax.grad(lambda u: L.numerical_diffusivity(u, 0.0, 1.0, 0.0))(0.0)
    assert abs(float(L.numerical_diffusivity(jnp.asarray(0.0), 0.0, 1.0, 0.0))) < 1e-70 and np.isfinite(float(g))


@pytest.mark.parametrize("u", [0.02, 0.3])
def test_measured_numerical_diffusion_matches_the_formula_and_is_below_upwinding(x64, u):
    """A long Fourier mode under a constant flow (h = 1, D = 0.05) decays at D + κ_num."""
    from rsvp_jax.bench.convergence import numerical_diffusion

    rows = numerical_diffusion(speeds=(u,), n=32, mode=1, T=4.0, schemes=("smooth", "upwind"))
    got = {(r["advection"], r["D"]): r for r in rows}
    for D in (0.05, 0.0):
        s, w = got["smooth", D], got["upwind", D]
        # for a constant u the face dissipation acts on the mode exactly as κ_num∇² does
        assert s["numerical_diffusivity"] == pytest.approx(s["formula"], rel=0.02, abs=1e-6), s
        assert w["numerical_diffusivity"] == pytest.approx(w["formula"], rel=0.02), w
        if D > 0:
            assert s["numerical_diffusivity"] < w["numerical_diffusivity"]
        else:  # without diffusion the floor δ is the price of smoothness at u = 0: at most δh/2 more
            assert s["numerical_diffusivity"] <= w["numerical_diffusivity"] + 0.5 * s["delta"] + 1e-9


# ---- positivity and conservation ---------------------------------------------------------------
@pytest.mark.parametrize("advection", ["smooth", "upwind", "rusanov"])
@pytest.mark.parametrize("method", ["euler", "heun", "ssprk3"])
def test_positive_and_conservative_flowing_into_a_vacuum_at_the_largest_allowed_dt(x64, advection, method):
    base, lat, x0 = vacuum_problem()
    model = base.replace(advection=advection)
    limits = rj.stability_limits(model, lat, x0)
    assert min(limits, key=limits.get) == "positivity"  # the limit under test is the binding one
    dt = rj.max_stable_dt(model, lat, x0)
    rj.check_timestep(model, lat, x0, dt)  # allowed ...
    with pytest.raises(rj.UnstableTimestepError, match="positivity limit"):
        rj.check_timestep(model, lat, x0, 1.001 * dt)  # ... and the largest allowed
    traj = rj.simulate(model, lat, x0, dt, steps=400, save_every=1, method=method)
    phi, S = np.asarray(traj.states.phi), np.asarray(traj.states.S)
    assert phi.min() > 0 and S.min() > 0
    assert phi.min() < 5e-7  # the vacuum was really approached
    inv = np.asarray(traj.diagnostics["invariant"])
    assert np.max(np.abs(inv - inv[0])) / inv[0] < 1e-12
    S_total = np.asarray(traj.diagnostics["S_total"])
    assert np.all(np.diff(S_total) >= 0) and S_total[-1] > S_total[0]


def test_central_flux_goes_negative_on_the_vacuum_problem(x64):
    """Without the dissipation (and at its own, larger, largest dt) the same run goes negative."""
    base, lat, x0 = vacuum_problem()
    model = base.replace(advection="central")
    assert "positivity" not in rj.stability_limits(model, lat, x0)
    traj = rj.simulate(model, lat, x0, rj.max_stable_dt(model, lat, x0), steps=400, save_every=1, method="ssprk3")
    assert float(jnp.min(traj.states.phi)) < 0


def test_positivity_limit_has_its_value(x64):
    """1/(2D·|v|max/h + 2D·max(D_Φ, D_S)/h² + D·δ/h + max λσ/Φ) at a uniform state."""
    lat = rj.Lattice((16, 16), spacing=0.5)
    ones = jnp.ones(lat.shape, jnp.float64)
    x = rj.State(4.0 * ones, jnp.stack([2.0 * ones, 0.0 * ones]), ones)  # |v| = 2, ∇v = 0
    model = rj.preset("rsvp", D_phi=0.2, D_S=0.05, nu=0.3, c_phi=0.5, c_S=0.25, gamma=0.4, chi=0.5, lam=0.5)
    delta = 0.01 * (0.5 + 0.25)
    sink = 0.5 * 0.5 * 0.4 * 4.0  # λχγ|v|²
    h = 0.5
    expected = 1 / (2 * 2 * 2.0 / h + 2 * 2 * 0.2 / h**2 + 2 * delta / h + sink)
    assert rj.stability_limits(model, lat, x)["positivity"] == pytest.approx(expected, rel=1e-12)
    up = rj.stability_limits(model.replace(advection="upwind"), lat, x)["positivity"]
    assert up == pytest.approx(1 / (1 / expected - 2 * delta / h), rel=1e-12)  # upwinding has no δ
    for m in (model.replace(order=4), model.replace(advection="central"), model.replace(eps=0.1)):
        assert "positivity" not in rj.stability_limits(m, lat, x)  # not monotone: no guarantee claimed


# ---- smoothness -----------------------------------------------------------------------------
def _rhs_jacobian(model, lat, x):
    f = lambda a: rj.to_array(model.rhs(lat, rj.from_array(a, lat)))  # noqa: E731
    return jax.jacfwd(f)(rj.to_array(x))


@pytest.mark.parametrize("D", [0.05, 0.0])
def test_jacobian_is_continuous_where_the_face_velocity_crosses_zero(x64, D):
    """jacfwd of the rhs at v = ±ε·w (w > 0): the jump is O(ε) for the default flux, O(1) for upwinding.

    With D = 0 the smoothness at u = 0 comes from δ alone (the flux is then √(u² + δ²)-like).
    """
    lat = rj.Lattice((12,))
    x = lat.coords()[0]
    phi = jnp.asarray(1 + 0.5 * np.sin(TWO_PI * x / 12))
    S = jnp.asarray(1 + 0.3 * np.cos(TWO_PI * x / 6))
    w = jnp.asarray((1.2 + np.sin(TWO_PI * x / 12))[None])

    def jump(model, eps):
        jp = _rhs_jacobian(model, lat, rj.State(phi, eps * w, S))
        jm = _rhs_jacobian(model, lat, rj.State(phi, -eps * w, S))
        return float(jnp.linalg.norm(jp - jm) / jnp.linalg.norm(jp))

    smooth = rj.preset("rsvp", D_phi=D, D_S=D)
    a, b = jump(smooth, 1e-4), jump(smooth, 1e-5)
    assert a < 1e-2 and a / b == pytest.approx(10.0, rel=0.05), (a, b)  # linear in ε: no jump
    up = smooth.replace(advection="upwind")
    assert jump(up, 1e-5) > 0.05  # the donor cell switches: an O(1) jump as ε → 0
