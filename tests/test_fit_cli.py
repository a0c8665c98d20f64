"""`rsvp fit` end to end (the no-argument twin experiment, a file from `rsvp simulate`) and its
bad-input paths (one line on stderr, exit 2, nothing written)."""

import json

import numpy as np
import pytest
import xarray as xr

import rsvp_jax as rj
from cli_helpers import run_cli

# The embedded default's run (see rsvp_jax/cli/fit.py TWIN), so both tests share compilations.
RUN = ["--shape", "16,16", "--steps", "100", "--save-every", "10", "--dt", "0.05"]


def test_fit_without_arguments_runs_a_twin_experiment(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "fit")
    assert code == 0, err
    folder = tmp_path / "out" / "fit"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["observations.nc", "fit.nc", "params.json", "fit.png", "sensitivity.png", "summary.json"])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["observations"] == "twin" and summary["optimizer"] == "lm"
    assert summary["start"] == {"gamma": pytest.approx(0.14), "D_S": pytest.approx(0.03)}  # ±40 % of the truth
    assert max(summary["relative_error"].values()) < 1e-3
    assert summary["sensitivity"]["names"] == ["gamma", "D_S"]
    assert f"{summary['fitted']['gamma']:.6g}" in out
    for name in ("fit.png", "sensitivity.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_a_file_written_by_simulate(tmp_path, capsys):
    sim, out = tmp_path / "sim", tmp_path / "fit"
    code, _, err = run_cli(capsys, "simulate", *RUN, "--set", "gamma=0.2", "--out", str(sim), "--quiet")
    assert code == 0, err
    code, stdout, err = run_cli(capsys, "fit", "--observations", str(sim / "trajectory.nc"), "--fit", "gamma,D_S",
                                "--start", "defaults", "--init-set", "D_S=0.08", "--out", str(out), "--quiet")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["start"] == {"gamma": pytest.approx(0.1), "D_S": pytest.approx(0.08)}
    assert summary["file_params"] == {"gamma": pytest.approx(0.2), "D_S": pytest.approx(0.05)}
    assert summary["fitted"]["gamma"] == pytest.approx(0.2, rel=1e-3)
    assert summary["fitted"]["D_S"] == pytest.approx(0.05, rel=1e-3)
    assert "observations.nc" not in summary["files"]
    params = json.loads((out / "params.json").read_text())
    assert params["params"]["gamma"] == pytest.approx(0.2, rel=1e-3) and params["fitted"] == ["gamma", "D_S"]
    with xr.open_dataset(out / "fit.nc", engine="h5netcdf") as ds:
        loss = ds["loss"].values
        assert ds.sizes["iteration"] == summary["iterations"] + 1 and loss[-1] < 1e-6 * loss[0]
        assert ds["param_gamma"].values[0] == pytest.approx(0.1) and ds.attrs["preset"] == "rsvp"


def write_file(path, T=3, shape=(4, 4), components=2, layout_ok=True):
    """A small trajectory file (no simulation), optionally broken."""
    lat = rj.Lattice(shape)
    states = rj.State(np.ones((T, *shape), np.float32), np.zeros((T, len(shape), *shape), np.float32),
                      np.ones((T, *shape), np.float32))
    traj = rj.Trajectory(states, np.arange(T) * 0.1, np.arange(T), {})
    ds = rj.io.trajectory_dataset(traj, rj.preset("rsvp"), lat, dt=0.1, method="euler")
    if not layout_ok:
        ds = ds.drop_vars("v").assign(v=(("time", "x", "y"), np.zeros((T, *shape), np.float32)))
    if components != len(shape):
        ds = ds.drop_vars(["v", "component"]).assign(v=(("time", "component", "x", "y"), np.zeros((T, components, *shape), np.float32)))
    rj.io.save_dataset(ds, path)
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("text", "not a readable NetCDF"),
    ("layout", "wrong layout"),
    ("components", "inconsistent shapes"),
    ("one-snapshot", "holds 1 snapshot"),
    ("bad-name", "no such parameter"),
    ("init-set-unfitted", "only fitted parameters"),
    ("bad-method", "integrator 'rk9'"),
])
def test_bad_observation_files_and_flags(tmp_path, capsys, case, message):
    path = tmp_path / "obs.nc"
    extra = []
    if case == "text":
        path.write_text("not netcdf\n")
    elif case == "layout":
        write_file(path, layout_ok=False)
    elif case == "components":
        write_file(path, components=3)
    elif case == "one-snapshot":
        write_file(path, T=1)
    elif case != "missing":
        write_file(path)
        extra = {"bad-name": ["--fit", "gama"], "init-set-unfitted": ["--fit", "gamma", "--init-set", "nu=0.1"],
                 "bad-method": ["--method", "rk9"]}[case]
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "fit", "--observations", str(path), "--out", str(out), "--quiet", *extra)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()  # nothing written, not even the folder
