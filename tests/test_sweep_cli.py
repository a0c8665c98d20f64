"""`rsvp sweep`: the dataset and figures, resume after SIGKILL, refusal of a changed command, bad input."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from rsvp_jax.cli import main

# 12 points in 6 batches of 2; euler keeps the compilation short.
ARGS = ["sweep", "--shape", "24,24", "--steps", "400", "--save-every", "40", "--method", "euler",
        "--param", "gamma=0.05:0.4:4", "--param", "nu=0.02,0.08,0.12", "--batch-size", "2", "--quiet"]


def _load(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def _assert_same_dataset(a, b):
    assert set(a.data_vars) == set(b.data_vars) and dict(a.sizes) == dict(b.sizes)
    for name in a.coords:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    for name in a.data_vars:
        if a[name].dtype.kind in "OSU":
            assert a[name].values.tolist() == b[name].values.tolist(), name
        else:
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-6, atol=1e-9, err_msg=name)


def test_sweep_is_killed_resumed_and_equals_an_uninterrupted_run(tmp_path, capsys):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    assert main(ARGS + ["--out", str(ref)]) == 0
    ds_ref = _load(ref / "sweep.nc")
    assert ds_ref["kinetic_energy"].dims == ("gamma", "nu", "time")
    np.testing.assert_allclose(ds_ref["gamma"].values, np.linspace(0.05, 0.4, 4))
    np.testing.assert_allclose(ds_ref["nu"].values, [0.02, 0.08, 0.12])
    assert (ds_ref["status"] == 0).all() and ds_ref.attrs["format"] == "rsvp-jax sweep 1"
    assert {"sweep.png", "sweep_kinetic_energy.png", "summary.json"} <= {p.name for p in ref.iterdir()}

    proc = subprocess.Popen([sys.executable, "-m", "rsvp_jax", *ARGS, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while not list((killed / "batches").glob("points_*.nc")):
            assert proc.poll() is None, "the sweep ended before it was killed"
            assert time.monotonic() < deadline, "no batch was written in time"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = len(list((killed / "batches").glob("points_*.nc")))
    assert 1 <= done < 6 and not (killed / "sweep.nc").exists()

    capsys.readouterr()
    assert main(ARGS + ["--out", str(killed)]) == 0
    assert "resumed" in capsys.readouterr().out
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["points_done_before"] == 2 * done and summary["points_run"] == 12 - 2 * done
    _assert_same_dataset(_load(killed / "sweep.nc"), ds_ref)

    # the same command once more recomputes nothing
    assert main(ARGS + ["--out", str(killed)]) == 0
    assert json.loads((killed / "summary.json").read_text())["points_run"] == 0

    # a changed command is refused, with one line, and changes nothing
    before = {p: p.stat().st_mtime_ns for p in killed.rglob("*")}
    capsys.readouterr()
    changed = [a if a != "400" else "200" for a in ARGS]
    assert main(changed + ["--out", str(killed)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds a different sweep" in err and "steps: 400 there, 200 now" in err
    assert before == {p: p.stat().st_mtime_ns for p in killed.rglob("*")}


def test_failed_points_are_recorded_in_the_dataset(tmp_path):
    out = tmp_path / "out"
    args = ["sweep", "--shape", "16,16", "--steps", "40", "--save-every", "10", "--method", "euler", "--quiet",
            "--param", "D_phi=0.05,60", "--param", "seed=0,1", "--out", str(out)]
    assert main(args) == 0
    ds = _load(out / "sweep.nc")
    assert ds["status"].dims == ("D_phi", "seed")
    assert ds["status"].values.tolist() == [[0, 0], [1, 1]]
    assert all("exceeds the" in r for r in ds["reason"].values[1])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == 2 and {p["status"] for p in summary["failed_points"]} == {"unstable"}
    # seeds give different initial states, hence different results
    assert ds["phi_std"].values[0, 0] != ds["phi_std"].values[0, 1]


@pytest.mark.parametrize("extra, match", [
    (["--param", "gamma"], "is not NAME=SPEC"),
    (["--param", "gamma=1:2:x"], "number of values 'x'"),
    (["--param", "gamma=0.1:0.2:3:lin"], "may only be 'log'"),
    (["--param", "gamma=0:1:3:log"], "log axis needs START and STOP > 0"),
    (["--param", "gamma=a,b"], "'a' is not a number"),
    (["--param", "gamma=1:2"], "is not START:STOP:NUM"),
    (["--param", "order=2,4"], "compile-time switch"),
    (["--param", "foo=1"], "has no parameter 'foo'"),
    (["--param", "seed=0.5"], "seeds must be whole numbers"),
    (["--param", "gamma=1", "--param", "gamma=2"], "given twice"),
    (["--param", "gamma=1", "--set", "gamma=2"], "both --set and --param"),
    (["--param", "gamma=-0.1,0.1"], "sweep point 0 (gamma=-0.1)"),
    (["--plot", "nope"], "--plot 'nope'"),
    (["--batch-size", "0"], "--batch-size 0"),
    (["--steps", "30", "--save-every", "7"], "multiple of --save-every"),
    (["--coordinator", "localhost:1234", "--num-processes", "2"], "process_id is missing"),
    (["--coordinator", "nohost", "--num-processes", "2", "--process-id", "0"], "is not HOST:PORT"),
    (["--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "2"], "must be in 0..1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, match):
    out = tmp_path / "out"
    assert main(["sweep", "--shape", "8,8", "--steps", "10", "--quiet", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err and match in err
    assert not (out / "sweep.json").exists()


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--steps", "many"])
    assert e.value.code == 2 and capsys.readouterr().err.strip().count("\n") == 0


@pytest.mark.slow
def test_runs_with_no_arguments(tmp_path, monkeypatch):
    """The embedded default: rsvp, 32x32, 200 steps, 4 x 3 points, into out/sweep."""
    monkeypatch.chdir(tmp_path)
    assert main(["sweep"]) == 0
    summary = json.loads((tmp_path / "out/sweep/summary.json").read_text())
    assert summary["points"] == 12 and summary["ok"] == 12 and summary["grid_shape"] == [4, 3]
    assert (tmp_path / "out/sweep/sweep.png").stat().st_size > 10_000
