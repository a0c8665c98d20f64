"""Trajectory files: a self-describing round trip, atomic writes, and clear errors for wrong files."""

import json

import numpy as np
import pytest
import xarray as xr

import rsvp_jax as rj
from rsvp_jax import io


@pytest.fixture(scope="module")
def run():
    lat = rj.Lattice((12, 10), spacing=0.5)
    model = rj.preset("rsvp", gamma=0.2, advect_v=True)
    x0 = rj.initial_state(lat, "blobs", seed=1)
    traj = rj.simulate(model, lat, x0, 0.02, steps=20, save_every=5)
    return model, lat, traj


def test_trajectory_round_trip(tmp_path, run):
    model, lat, traj = run
    path = tmp_path / "t.nc"
    io.save_trajectory(path, traj, model, lat, dt=0.02, method="ssprk3")
    model2, lat2, traj2, attrs = io.load_trajectory(path)
    assert model2 == model and lat2 == lat
    assert attrs["dt"] == 0.02 and attrs["method"] == "ssprk3"
    np.testing.assert_array_equal(rj.to_array(traj2.states), rj.to_array(traj.states))
    np.testing.assert_array_equal(traj2.steps, traj.steps)
    assert set(traj2.diagnostics) == set(traj.diagnostics)
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert ds["v"].dims == ("time", "component", "x", "y")
    np.testing.assert_allclose(ds["x"].values, (np.arange(12) + 0.5) * 0.5)
    assert ds.attrs["param_gamma"] == pytest.approx(0.2) and ds.attrs["preset"] == "rsvp"
    ds.close()
    assert [p.name for p in tmp_path.iterdir()] == ["t.nc"]  # no temporary left behind


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.json"
    target.write_text('{"old": true}')
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_json_handles_arrays_and_non_finite(tmp_path):
    io.write_json(tmp_path / "s.json", {"a": np.float32(1.5), "b": np.arange(3), "c": float("nan"), "d": (1, "x")})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": None, "d": [1, "x"]}


def test_wrong_files_are_clear_errors(tmp_path, run):
    with pytest.raises(rj.ConfigError, match="does not exist"):
        io.load_trajectory(tmp_path / "missing.nc")
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"not a netcdf file")
    with pytest.raises(rj.ConfigError, match="not a readable NetCDF"):
        io.load_trajectory(junk)
    other = tmp_path / "other.nc"
    xr.Dataset({"temperature": (("t",), np.zeros(3))}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(rj.ConfigError, match="lacks phi, v, S, time"):
        io.load_trajectory(other)
    model, lat, traj = run
    ds = io.trajectory_dataset(traj, model, lat)
    bad = ds.drop_vars(["v", "component"]).assign(v=(("time", "component", "x", "y"), np.zeros((5, 3, 12, 10))))
    io.save_dataset(bad, tmp_path / "bad.nc")
    with pytest.raises(rj.ConfigError, match="3 components for a 2D lattice"):
        io.load_trajectory(tmp_path / "bad.nc")


def test_S_on_another_lattice_names_S(tmp_path, run):
    """An S on other cells than phi is named as such (it used to say "v has 2 components")."""
    model, lat, traj = run
    ds = io.trajectory_dataset(traj, model, lat)
    bad = ds.drop_vars("S").assign(S=(("time", "x2", "y2"), np.ones((ds.sizes["time"], 6, 5))))
    io.save_dataset(bad, tmp_path / "bad_S.nc")
    with pytest.raises(rj.ConfigError, match=r"S is on 6x5 cells over \('time', 'x2', 'y2'\), phi on 12x10"):
        io.load_trajectory(tmp_path / "bad_S.nc")


def test_every_saved_variable_has_cf_attributes(tmp_path, run):
    model, lat, traj = run
    io.save_trajectory(tmp_path / "t.nc", traj, model, lat, 0.05, "ssprk3", {"init": "blobs", "seed": 0})
    with xr.open_dataset(tmp_path / "t.nc", engine="h5netcdf") as ds:
        for name in [*ds.coords, *ds.data_vars]:
            assert ds[name].attrs.get("long_name"), name
            assert ds[name].dtype.kind not in "iuf" or ds[name].attrs["units"] == "1", name
        assert ds["y"].attrs["axis"] == "Y" and ds["kinetic_energy"].attrs["long_name"] == "½∫|v|² dV"
        assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["history"] == "rsvp_jax (Python API)"
        assert ds.attrs["source"].startswith("rsvp-jax ")
