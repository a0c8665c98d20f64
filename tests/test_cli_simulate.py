"""`rsvp simulate` end to end, and its bad-input paths (one line, exit 2). `rsvp demo`: test_demo.py."""

import json
import subprocess
import sys

import pytest

import rsvp_jax as rj
from cli_helpers import run_cli


def test_simulate_writes_trajectory_figures_and_summary(tmp_path, capsys):
    out = tmp_path / "sim"
    code, stdout, err = run_cli(capsys, "simulate", "--shape", "16,16", "--steps", "40", "--dt", "0.05",
                                "--set", "gamma=0.2", "--set", "advect_v=true", "--out", str(out), "--quiet")
    assert code == 0, err
    files = sorted(p.name for p in out.iterdir())
    assert files == ["diagnostics.png", "fields.png", "summary.json", "trajectory.nc"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["gamma"] == 0.2 and summary["params"]["advect_v"] is True
    assert summary["steps"] == 40 and summary["snapshots"] == 21 and summary["status"] == "ok"
    assert summary["invariant_relative_drift"] < 1e-5
    for name in ("fields.png", "diagnostics.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, lat, traj, _ = rj.io.load_trajectory(out / "trajectory.nc")
    assert lat.shape == (16, 16) and model.gamma == 0.2 and len(traj) == 21
    assert f"{summary['final']['phi_total']:.6g}" in stdout  # the printed figures are the summary's


def test_simulate_1d_and_3d_float64(tmp_path, capsys):
    for shape in ("32", "6,6,6"):
        code, _, err = run_cli(capsys, "simulate", "--shape", shape, "--steps", "4", "--dtype", "float64",
                               "--preset", "tartan", "--out", str(tmp_path / shape), "--quiet")
        assert code == 0, err
        assert json.loads((tmp_path / shape / "summary.json").read_text())["dtype"] == "float64"


@pytest.mark.parametrize("argv, message", [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--shape", "64,x"], "--shape '64,x'"),
    (["--shape", "4,4,4,4"], "1 to 3 positive sizes"),
    (["--set", "gamma=abc"], "gamma='abc' is not a number"),
    (["--set", "bogus=1"], "no such parameter"),
    (["--set", "gamma=-1"], "gamma=-1 is negative"),
    (["--dt", "5"], "exceeds the"),
    (["--steps", "10", "--save-every", "3"], "multiple of save_every"),
    (["--preset", "seed", "--shape", "16"], "2D"),
    (["--method", "rk9"], "invalid choice"),
    (["--steps", "ten"], "invalid int value"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "simulate", "--shape", "8,8", "--steps", "4", "--out", str(out), "--quiet", *argv)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # nothing (half-)written


def test_nan_run_keeps_snapshots_and_fails_cleanly(tmp_path, capsys):
    """Euler at 1.5x the diffusive limit (check skipped): the run blows up mid-way, exit 2, snapshots kept."""
    out = tmp_path / "boom"
    code, _, err = run_cli(capsys, "simulate", "--shape", "32", "--steps", "400", "--save-every", "10",
                           "--method", "euler", "--dt", "3.75", "--set", "D_phi=0.2", "--set", "D_S=0.2",
                           "--set", "nu=0.2", "--set", "c_phi=0", "--set", "c_S=0", "--set", "gamma=0",
                           "--no-check", "--out", str(out), "--quiet")
    assert code == 2
    assert err.count("\n") == 1 and "non-finite at step" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["failed_step"] > 10
    _, _, traj, attrs = rj.io.load_trajectory(out / "trajectory.nc")
    assert len(traj) == summary["snapshots"] == 1 + (summary["failed_step"] - 1) // 10
    assert attrs["status"] == "failed"


def test_entry_point_and_list_presets():
    res = subprocess.run([sys.executable, "-m", "rsvp_jax", "simulate", "--list-presets"], capture_output=True, text=True)
    assert res.returncode == 0
    for name in ("rsvp", "tartan", "centerfuge", "monograph", "seed"):
        assert name in res.stdout
    res = subprocess.run([sys.executable, "-m", "rsvp_jax", "simulate", "--preset", "nope"], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


@pytest.mark.slow
def test_simulate_runs_with_no_arguments_and_shows_progress(tmp_path, capsys, monkeypatch):
    """The embedded default (DESIGN.md: every subcommand runs with no arguments), with its progress bar."""
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(capsys, "simulate")
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "simulate" / "summary.json").read_text())
    assert summary["preset"] == "rsvp" and summary["shape"] == [64, 64] and summary["steps"] == 1000
    assert summary["status"] == "ok" and all((tmp_path / "out" / "simulate" / f).exists() for f in summary["files"])
    assert "1000/1000" in err  # the tqdm bar reached the end
