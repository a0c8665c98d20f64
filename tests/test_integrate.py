"""Integrators: temporal order, simulate == repeated step, checkpointing, NaN stops, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj


def smooth_problem():
    """A smooth 2D run (central advection, so the right-hand side has no upwind kinks)."""
    lat = rj.Lattice((12, 12), spacing=1.0)
    model = rj.preset("rsvp", advection="central", advect_v=True, omega=0.5, gamma=0.3)
    x0 = rj.initial_state(lat, "noise", seed=2, dtype="float64", amplitude=3.0)
    return model, lat, x0


def error_at(model, lat, x0, method, dt, T, ref):
    x = rj.rollout(model, lat, x0, dt, int(round(T / dt)), method)
    return float(jnp.max(jnp.abs(rj.to_array(x) - ref)))


@pytest.mark.parametrize("method, order", [("euler", 1), ("heun", 2), ("ssprk3", 3), ("rk4", 4)])
def test_temporal_order(x64, method, order):
    model, lat, x0 = smooth_problem()
    T = 1.6
    ref = rj.to_array(rj.rollout(model, lat, x0, T / 640, 640, "rk4"))
    dts = [0.2, 0.1, 0.05] if order < 4 else [0.4, 0.2, 0.1]
    errs = np.asarray([error_at(model, lat, x0, method, dt, T, ref) for dt in dts])
    p = np.log2(errs[:-1] / errs[1:])
    assert p[-1] == pytest.approx(order, abs=0.2), (errs, p)


@pytest.mark.parametrize("method", rj.METHODS)
def test_simulate_equals_repeated_step(x64, method):
    model, lat, x0 = smooth_problem()
    traj = rj.simulate(model, lat, x0, 0.05, steps=12, save_every=4, method=method)
    x = x0
    for k in range(12):
        x = rj.step(model, lat, x, 0.05, method=method)
        if (k + 1) % 4 == 0:
            np.testing.assert_allclose(rj.to_array(x), rj.to_array(jax.tree.map(lambda a: a[(k + 1) // 4], traj.states)),
                                       rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(np.asarray(traj.steps), [0, 4, 8, 12])
    np.testing.assert_allclose(np.asarray(traj.times), [0, 0.2, 0.4, 0.6])
    assert len(traj) == 4 and set(traj.diagnostics) >= {"invariant", "kinetic_energy", "min_phi"}


@pytest.mark.parametrize("method", rj.METHODS)
def test_fused_and_staged_steps_agree(x64, method):
    """`step` picks the fused or the staged form by the lattice (`fuse_stages`); both are the same method."""
    from rsvp_jax.integrate import fuse_stages, rk_step

    model, lat, x0 = smooth_problem()
    f = jax.jit(lambda x, dt: rk_step(method, lambda y: model.rhs(lat, y), x, dt, staged=False))
    g = jax.jit(lambda x, dt: rk_step(method, lambda y: model.rhs(lat, y), x, dt, staged=True))
    dt = jnp.asarray(0.05, jnp.float64)
    a, b = rj.to_array(f(x0, dt)), rj.to_array(g(x0, dt))
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    assert float(jnp.max(jnp.abs(a - rj.to_array(x0)))) > 1e-3  # the step moved the state
    cases = [((512, 512), "ssprk3"), ((64, 128), "ssprk3"), ((128, 64), "ssprk3"), ((4096,), "ssprk3"),
             ((128,) * 3, "ssprk3"), ((512, 512), "rk4"), ((512, 512), "heun")]
    assert [fuse_stages(rj.Lattice(s), m) for s, m in cases] == [True, True, False, False, False, False, False]


def test_the_fused_step_is_differentiated_as_the_staged_one(x64):
    """Where `fuse_stages` picks the fused form (here 4 × 128, SSP-RK3), `step_fn` takes its
    derivatives from the staged form: they are the derivatives of the fused step itself (central
    differences of it, in the state and in a parameter), forward and reverse mode agree, and
    the program differentiated has no fused stage loop left."""
    from rsvp_jax.integrate import fuse_stages, step_fn

    lat = rj.Lattice((4, 128), spacing=0.5)
    assert fuse_stages(lat, "ssprk3")
    x0 = rj.simulate(rj.preset("rsvp"), lat, rj.initial_state(lat, "blobs", seed=4, dtype="float64"), 0.05, 5).final
    a0 = rj.to_array(x0)

    def f(a, gamma):
        model = rj.preset("rsvp").replace(gamma=gamma)
        return rj.to_array(step_fn(model, lat, rj.from_array(a, lat), 0.05, "ssprk3"))

    w = jax.random.normal(jax.random.PRNGKey(0), a0.shape, jnp.float64)
    y, t = jax.jvp(f, (a0, 0.1), (w, 0.3))
    np.testing.assert_allclose(np.asarray(y), np.asarray(f(a0, 0.1)), rtol=1e-14, atol=1e-14)  # staged, to rounding
    eps = 1e-5
    fd = (f(a0 + eps * w, 0.1 + 0.3 * eps) - f(a0 - eps * w, 0.1 - 0.3 * eps)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(t), np.asarray(fd), rtol=1e-7, atol=1e-9)
    u = jax.random.normal(jax.random.PRNGKey(1), a0.shape, jnp.float64)
    _, pull = jax.vjp(f, a0, 0.1)
    ua, ug = pull(u)
    np.testing.assert_allclose(float(jnp.vdot(u, t)), float(jnp.vdot(ua, w) + 0.3 * ug), rtol=1e-12)
    # the staged form is a loop over stages; the fused one is not, and only its derivative loops
    loops = lambda fn, *args: "scan[" in str(jax.make_jaxpr(fn)(*args))  # noqa: E731
    assert not loops(lambda a: f(a, 0.1), a0)
    assert loops(lambda a, w: jax.jvp(lambda b: f(b, 0.1), (a,), (w,)), a0, w)


def test_progress_blocks_give_the_same_trajectory(x64):
    model, lat, x0 = smooth_problem()
    seen = []
    a = rj.simulate(model, lat, x0, 0.05, steps=30, save_every=3)
    b = rj.simulate(model, lat, x0, 0.05, steps=30, save_every=3, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_allclose(rj.to_array(b.states), rj.to_array(a.states), rtol=1e-13)
    assert seen[-1] == (30, 30) and len(seen) > 1


def test_float32_default_and_float64_on_request(x64):
    lat = rj.Lattice((8, 8))
    model = rj.preset("rsvp")
    x32 = rj.initial_state(lat)
    x64_ = rj.initial_state(lat, dtype="float64")
    assert x32.phi.dtype == jnp.float32 and x64_.phi.dtype == jnp.float64
    assert rj.step(model, lat, x32, 0.01).phi.dtype == jnp.float32
    assert rj.step(model, lat, x64_, 0.01).phi.dtype == jnp.float64
    # float64 parameters never promote a float32 run
    model64 = model.replace(gamma=jnp.asarray(0.2, jnp.float64))
    assert rj.simulate(model64, lat, x32, 0.01, steps=4).final.v.dtype == jnp.float32


def test_float64_without_x64_is_a_clear_error():
    with pytest.raises(rj.ConfigError, match="jax_enable_x64"):
        rj.initial_state(rj.Lattice((8,)), dtype="float64")


def test_non_finite_initial_state_is_a_clear_error():
    lat = rj.Lattice((16, 16))
    x0 = rj.initial_state(lat, "blobs")
    bad = rj.State(x0.phi, x0.v, x0.S.at[3, 3].set(jnp.nan))
    with pytest.raises(rj.ConfigError, match="not finite in field 'S'"):
        rj.simulate(rj.preset("rsvp"), lat, bad, 0.05, steps=20, save_every=5)


def test_nan_at_the_first_step_names_it_and_keeps_the_initial_snapshot():
    lat = rj.Lattice((16, 16))
    x0 = rj.initial_state(lat, "blobs")
    bad = rj.State(x0.phi, x0.v, x0.S.at[3, 3].set(jnp.inf))
    with pytest.raises(rj.NonFiniteError) as err:
        rj.simulate(rj.preset("rsvp"), lat, bad, 0.05, steps=20, save_every=5, check=False)
    assert err.value.step == 1 and err.value.field in ("phi", "S")
    assert len(err.value.trajectory) == 1  # only the initial snapshot precedes step 1


def test_blow_up_mid_run_keeps_the_snapshots_before_it():
    """An unchecked, too-large dt blows up; the error names the step and keeps earlier snapshots."""
    lat = rj.Lattice((32,))
    model = rj.preset("rsvp", D_phi=0.2, D_S=0.2, nu=0.2, c_phi=0.0, c_S=0.0, gamma=0.0)
    blobs = rj.initial_state(lat, "blobs", seed=4)
    x0 = rj.State(blobs.phi, jnp.zeros_like(blobs.v), blobs.S)  # at rest: only diffusion limits dt
    limits = rj.stability_limits(model, lat, x0)
    assert limits["diffusion"] <= min(limits.values())
    dt = 1.5 * limits["diffusion"]  # the checkerboard mode grows by |1 − 3| = 2 per Euler step
    with pytest.raises(rj.NonFiniteError) as err:
        rj.simulate(model, lat, x0, dt, steps=400, save_every=10, method="euler", check=False)
    e = err.value
    assert 20 < e.step <= 400
    assert len(e.trajectory) == 1 + (e.step - 1) // 10
    assert np.all(np.isfinite(rj.to_array(e.trajectory.states)))
    assert "step" in str(e) and e.field in str(e)


def test_gradient_with_checkpointing_equals_without(x64):
    model, lat, x0 = smooth_problem()

    def loss(gamma, checkpoint):
        m = model.replace(gamma=gamma)
        traj = rj.simulate(m, lat, x0, 0.05, steps=40, save_every=8, checkpoint=checkpoint, check=False)
        return jnp.sum(traj.final.S**2)

    g0 = jax.grad(loss)(0.3, False)
    g1 = jax.grad(loss)(0.3, True)
    assert abs(float(g0)) > 1e-6
    assert float(g1) == pytest.approx(float(g0), rel=1e-12)
    # rollout's chunked checkpointing too
    f = lambda g, c: jnp.sum(rj.rollout(model.replace(gamma=g), lat, x0, 0.05, 40, checkpoint_every=c).S ** 2)  # noqa: E731
    assert float(jax.grad(f)(0.3, 7)) == pytest.approx(float(jax.grad(f)(0.3, 0)), rel=1e-12)


def test_simulate_under_jit_and_vmap(x64):
    model, lat, x0 = smooth_problem()
    run = jax.jit(lambda g: rj.simulate(model.replace(gamma=g), lat, x0, 0.05, steps=8, save_every=4).final.phi)
    batched = jax.vmap(run)(jnp.asarray([0.1, 0.3]))
    np.testing.assert_allclose(batched[1], run(0.3), rtol=1e-12)
    assert not np.allclose(batched[0], batched[1])


@pytest.mark.parametrize("kw, match", [
    (dict(method="rk5"), "integrator 'rk5'"),
    (dict(steps=10, save_every=3), "multiple of save_every"),
    (dict(steps=0), "steps=0"),
])
def test_bad_run_arguments(kw, match):
    lat = rj.Lattice((8, 8))
    args = dict(steps=10) | kw
    with pytest.raises(rj.ConfigError, match=match):
        rj.simulate(rj.preset("rsvp"), lat, rj.initial_state(lat), 0.01, **args)
