"""`rj.sweep`: batched runs equal one-by-one runs, failures are recorded per point, inputs are checked."""

import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax.sweeps import auto_batch_size, grid_points

LAT = rj.Lattice((16, 16))
# One configuration (lattice, steps, save_every, method, batch size) for most tests: one compilation.
RUN = dict(save_every=10, method="euler", batch_size=4)


def test_grid_points_are_the_product_in_c_order():
    values, shape = grid_points({"gamma": [1.0, 2.0, 3.0], "nu": [0.1, 0.2]})
    assert shape == (3, 2)
    assert values["gamma"].tolist() == [1, 1, 2, 2, 3, 3]
    assert values["nu"].tolist() == [0.1, 0.2] * 3


def test_sweep_equals_simulate_point_by_point(x64):
    model = rj.preset("rsvp")
    x0 = lambda s: rj.initial_state(LAT, "blobs", seed=s, dtype="float64")  # noqa: E731
    grid = {"gamma": [0.05, 0.3], "nu": [0.02, 0.1], "seed": [0, 3]}
    res = rj.sweep(model, LAT, x0, 0.05, 40, grid=grid, **{**RUN, "batch_size": 3})
    assert len(res) == 8 and res.grid_shape == (2, 2, 2) and np.all(res.status == 0)
    assert res.diagnostics["kinetic_energy"].shape == (8, 5) and res.times.tolist() == [0, 0.5, 1.0, 1.5, 2.0]
    for i in range(8):
        m = model.replace(gamma=float(res.values["gamma"][i]), nu=float(res.values["nu"][i]))
        traj = rj.simulate(m, LAT, x0(int(res.values["seed"][i])), 0.05, 40, save_every=10, method="euler")
        for k, d in traj.diagnostics.items():
            np.testing.assert_allclose(res.diagnostics[k][i], np.asarray(d), rtol=1e-10, atol=1e-12, err_msg=k)
        np.testing.assert_allclose(res.summaries["phi_std"][i], float(jnp.std(traj.final.phi)), rtol=1e-10)
    # the conserved integral of rsvp stays conserved in every point
    assert np.max(np.abs(res.summaries["invariant_drift"])) < 1e-12
    ds = res.to_dataset(LAT)
    assert ds["kinetic_energy"].dims == ("gamma", "nu", "seed", "time")
    assert ds["phi_std"].sel(gamma=0.3, nu=0.02, seed=3).item() == res.summaries["phi_std"][5]


def test_unstable_points_are_recorded_and_the_sweep_goes_on():
    """D_phi = 50 breaks the diffusion limit at dt = 0.05: checked, those points are 'unstable' and
    not run; unchecked, they blow up and are 'nonfinite'; the other points are unaffected."""
    model, x0 = rj.preset("rsvp"), rj.initial_state(LAT, "blobs", seed=1)
    grid = {"D_phi": [0.05, 50.0, 0.1, 80.0], "gamma": [0.1, 0.2]}
    bad = np.array([0, 0, 1, 1, 0, 0, 1, 1], bool)
    checked = rj.sweep(model, LAT, x0, 0.05, 40, grid=grid, **RUN)
    assert np.array_equal(checked.status != 0, bad)
    assert set(checked.status[bad].tolist()) == {1}
    assert all("exceeds the" in r and "largest stable dt" in r for r in checked.reason[bad])
    assert np.all(np.isnan(checked.summaries["phi_std"][bad])) and np.all(np.isfinite(checked.summaries["phi_std"][~bad]))

    blown = rj.sweep(model, LAT, x0, 0.05, 40, grid=grid, **RUN, check=False)
    assert np.array_equal(blown.status != 0, bad) and set(blown.status[bad].tolist()) == {2}
    assert np.all(blown.failed_step[bad] > 0) and np.all(blown.failed_step[~bad] == 0)
    assert all("non-finite at step" in r for r in blown.reason[bad])
    # diagnostics are kept up to the failure and NaN after it
    k = np.flatnonzero(bad)[0]
    before = blown.steps < blown.failed_step[k]
    assert np.all(np.isfinite(blown.diagnostics["phi_total"][k, before]))
    assert np.all(np.isnan(blown.diagnostics["phi_total"][k, ~before]))
    for name in checked.summaries:
        np.testing.assert_allclose(blown.summaries[name][~bad], checked.summaries[name][~bad], rtol=1e-6, err_msg=name)


def test_batches_are_padded_and_give_the_same_results():
    model, x0 = rj.preset("rsvp"), rj.initial_state(LAT, "noise", seed=2)
    points = [{"gamma": g, "chi": c} for g, c in [(0.1, 0.5), (0.2, 0.1), (0.05, 1.0), (0.4, 0.0), (0.3, 0.3)]]
    one = rj.sweep(model, LAT, x0, 0.05, 40, points=points, **{**RUN, "batch_size": 8})
    fours = rj.sweep(model, LAT, x0, 0.05, 40, points=points, **RUN)  # 2 batches, the last padded
    assert one.grid_shape is None and one.values["chi"].tolist() == [0.5, 0.1, 1.0, 0.0, 0.3]
    for k in one.diagnostics:
        np.testing.assert_allclose(fours.diagnostics[k], one.diagnostics[k], rtol=2e-6, atol=1e-7, err_msg=k)


def test_final_states_and_user_summaries():
    model, x0 = rj.preset("rsvp"), rj.initial_state(LAT, "blobs", seed=0)
    mean_S = lambda m, lat, x: jnp.mean(x.S)  # noqa: E731
    res = rj.sweep(model, LAT, x0, 0.05, 40, grid={"gamma": [0.1, 0.2]}, final_states=True, **RUN,
                   summaries={"mean_S": mean_S, "pair": lambda m, lat, x: {"a": x.phi[0, 0], "b": m.gamma}})
    assert res.final.phi.shape == (2, 16, 16) and res.final.v.shape == (2, 2, 16, 16)
    np.testing.assert_allclose(res.summaries["mean_S"], np.mean(np.asarray(res.final.S), axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(res.summaries["pair_b"], [0.1, 0.2], rtol=1e-6)
    ref = rj.rollout(model.replace(gamma=0.2), LAT, x0, 0.05, 40, method="euler")
    np.testing.assert_allclose(res.final.phi[1], np.asarray(ref.phi), rtol=1e-5)


def test_hyperdiffusion_switches_on_when_eps_is_swept(x64):
    """eps is swept from 0: the static ∇⁴S switch must be compiled in for the batch."""
    model, x0 = rj.preset("rsvp"), rj.initial_state(LAT, "blobs", seed=0, dtype="float64")
    res = rj.sweep(model, LAT, x0, 0.02, 40, grid={"eps": [0.0, 0.05]}, **RUN)
    ref = rj.rollout(model.replace(eps=0.05), LAT, x0, 0.02, 40, method="euler")
    np.testing.assert_allclose(res.summaries["S_std"][1], float(jnp.std(ref.S)), rtol=1e-10)
    assert abs(res.summaries["S_std"][1] - res.summaries["S_std"][0]) > 1e-6


@pytest.mark.parametrize("kwargs, match", [
    (dict(grid={"nope": [1.0]}), "no parameter 'nope'"),
    (dict(grid={"order": [2, 4]}), "compile-time switch"),
    (dict(grid={"gamma": [0.1, -0.2]}), r"point 1 \(gamma=-0.2\).*negative"),
    (dict(grid={"seed": [0, 1]}), "function of the seed"),
    (dict(grid={"gamma": [0.1]}, points=[{"gamma": 0.1}]), "exactly one of"),
    (dict(points=[{"gamma": 0.1}, {"nu": 0.1}]), "point 1 has names"),
    (dict(grid={"gamma": []}), "non-empty"),
    (dict(grid={"gamma": [0.1]}, diagnostics=["nope"]), "unknown diagnostic 'nope'"),
])
def test_bad_sweeps_are_config_errors(kwargs, match):
    x0 = rj.initial_state(LAT, "blobs", seed=0)
    with pytest.raises(rj.ConfigError, match=match):
        rj.sweep(rj.preset("rsvp"), LAT, x0, 0.05, 40, **RUN, **kwargs)


def test_auto_batch_size_fits_memory_and_the_devices():
    lat = rj.Lattice((64, 64))
    per_point = 4 * 4096 * 4 * 28
    assert auto_batch_size(lat, "float32", 1000, 8, memory=10 * per_point) == 80
    assert auto_batch_size(lat, "float32", 5, 8, memory=10 * per_point) == 8  # padded up to the devices
    assert auto_batch_size(lat, "float32", 1000, 1, memory=per_point // 2) == 1  # never zero
    assert auto_batch_size(rj.Lattice((8,)), "float32", 10_000, 2) == 512  # capped per device


def test_tile_spectrum_summaries_per_point():
    from rsvp_jax import spectra
    from rsvp_jax.sweeps import TileSpectrum
    from rsvp_jax.jacobian import tile_jacobians

    model, x0 = rj.preset("rsvp"), rj.initial_state(LAT, "blobs", seed=0)
    hook = TileSpectrum(dt=0.05, tile=4, method="euler")
    assert hash(hook) == hash(TileSpectrum(dt=0.05, tile=4, method="euler"))  # reuses the compiled batch
    res = rj.sweep(model, LAT, x0, 0.05, 40, grid={"gamma": [0.1, 0.8]}, summaries={"tile": hook}, **RUN)
    x = rj.rollout(model.replace(gamma=0.8), LAT, x0, 0.05, 40, method="euler")
    J = tile_jacobians(model.replace(gamma=0.8), LAT, x, 0.05, tile=4, method="euler")
    ref = spectra.summarize(jnp.linalg.svd(J, compute_uv=False))
    for k in ("stable_rank", "sigma_max"):
        np.testing.assert_allclose(res.summaries[f"tile_{k}"][1], float(jnp.mean(ref[k])), rtol=1e-4)
    assert res.summaries["tile_sigma_max"][0] != res.summaries["tile_sigma_max"][1]


def test_a_batch_out_of_memory_is_halved_and_retried(monkeypatch):
    import rsvp_jax.sweeps._run as sw

    real, sizes = sw._run_batch, []

    def small_memory(models, x0, dt, **kw):
        sizes.append(x0.phi.shape[0])
        if x0.phi.shape[0] > 4:
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00GiB")
        return real(models, x0, dt, **kw)

    monkeypatch.setattr(sw, "_run_batch", small_memory)
    model, x0 = rj.preset("rsvp"), rj.initial_state(LAT, "blobs", seed=0)
    res = rj.sweep(model, LAT, x0, 0.05, 40, grid={"gamma": [0.1, 0.2, 0.3, 0.4, 0.5]}, **{**RUN, "batch_size": 16})
    assert sizes[:3] == [16, 8, 4] and res.layout["batch_size"] == 4 and np.all(res.status == 0)
    monkeypatch.setattr(sw, "_run_batch", real)
    ref = rj.sweep(model, LAT, x0, 0.05, 40, grid={"gamma": [0.1, 0.2, 0.3, 0.4, 0.5]}, **{**RUN, "batch_size": 8})
    np.testing.assert_allclose(res.summaries["phi_std"], ref.summaries["phi_std"], rtol=1e-6)

    def broken(*a, **k):
        raise RuntimeError("something else")

    monkeypatch.setattr(sw, "_run_batch", broken)
    with pytest.raises(RuntimeError, match="something else"):  # other errors are not swallowed
        rj.sweep(model, LAT, x0, 0.05, 40, grid={"gamma": [0.1]}, **RUN)
