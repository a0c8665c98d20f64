"""`rsvp jacobian` end to end at a tiny size, and its bad-input paths (one line, exit 2, nothing written)."""

import json

import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax.cli import build_parser
from rsvp_jax.io import open_dataset
from rsvp_jax.jacobian import LABELS
from cli_helpers import run_cli


def test_jacobian_writes_maps_data_and_summary(tmp_path, capsys):
    out = tmp_path / "jac"
    code, stdout, err = run_cli(capsys, "jacobian", "--shape", "8,8", "--tile", "4", "--method", "euler",
                                "--topk", "2", "--evolve", "2", "--snapshots", "2", "--save-jacobians",
                                "--horizon", "none", "--out", str(out), "--quiet")
    assert code == 0, err
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["rank_map.png", "sigma_map.png", "label_map.png", "tile_spectra.png", "lattice_topk.png",
                            "evolution.png", "jacobian.nc", "summary.json"])
    for name in files:
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:4] == b"\x89PNG"
    s = json.loads((out / "summary.json").read_text())
    assert s["tile_grid"] == [2, 2] and s["tiles"] == 4 and s["block_shape"] == [64, 64] and s["halo_radius"] == 1
    assert sum(s["label_counts"].values()) == 4 and s["labels"] == list(LABELS)
    assert len(s["lattice_topk"]["sigma"]) == 2 and len(s["evolution"]["times"]) == 2
    ds = open_dataset(out / "jacobian.nc")
    assert ds["sigma"].shape == (2, 2, 64) and ds["jacobian"].shape == (2, 2, 64, 64)
    np.testing.assert_allclose(ds["sigma_max"].values.mean(), s["sigma_max"]["mean"], rtol=1e-6)
    np.testing.assert_allclose(ds["sigma"].values[..., 0], ds["sigma_max"].values)
    np.testing.assert_allclose(np.linalg.svd(ds["jacobian"].values, compute_uv=False), ds["sigma"].values, atol=1e-5)
    assert ds.attrs["preset"] == "rsvp" and ds.attrs["format"].startswith("rsvp-jax tile jacobians")
    assert ds["label"].attrs["flag_meanings"].split() == [n.replace("/", "_or_").replace(" ", "_") for n in LABELS]
    assert f"{s['sigma_max']['max']:.4g}" in stdout  # the printed figures are the summary's


def test_jacobian_runs_with_no_arguments_on_a_default():
    args = build_parser().parse_args(["jacobian"])
    assert (args.preset, args.shape, args.tile, args.steps, args.out) == ("rsvp", "64,64", 8, 1, "out/jacobian")


def test_jacobian_halo_in_1d_float64(tmp_path, capsys):
    out = tmp_path / "h"
    code, _, err = run_cli(capsys, "jacobian", "--shape", "12", "--tile", "4", "--method", "heun", "--halo",
                           "--topk", "0", "--dtype", "float64", "--horizon", "none", "--out", str(out), "--quiet")
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["block_shape"] == [12, 24] and s["halo"] and "lattice_topk" not in s and s["dtype"] == "float64"
    assert open_dataset(out / "jacobian.nc")["top_input_direction"].shape == (3, 3, 8)  # (tiles, channels, b + 2r)


def test_jacobian_over_horizons_with_lyapunov_and_generator(tmp_path, capsys):
    """`--horizon auto`: a ladder from the model's time scales, each horizon's spectrum (top-k with
    residuals, SLQ ranks with errors) in summary.json and jacobian.nc, the figures, the exponents."""
    out = tmp_path / "hz"
    code, stdout, err = run_cli(capsys, "jacobian", "--shape", "8,8", "--tile", "4", "--topk", "0", "--horizon", "auto",
                                "--horizon-k", "4", "--probes", "4", "--lanczos-steps", "8", "--lyapunov", "3",
                                "--generator", "--out", str(out), "--quiet")
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    for name in ("horizon_spectra.png", "mode_maps.png", "lyapunov.png", "generator_map.png"):
        assert name in s["files"] and (out / name).read_bytes()[:4] == b"\x89PNG"
    assert set(s["time_scales"]) == {"tile_crossing", "damping", "diffusion"}
    assert s["ladder"]["capped"] == ["diffusion"] and len(s["ladder"]["notes"]) == len(s["horizons"]) == 3
    Ts = [h["horizon"] for h in s["horizons"]]
    assert Ts == sorted(Ts) and Ts[-1] == pytest.approx(0.05 * s["ladder"]["max_steps"])
    for h in s["horizons"]:
        assert len(h["sigma"]) == len(h["residual"]) == 4 and h["n"] == 4 * 64
        for key in ("stable_rank", "effective_rank", "k90"):
            assert 0 < h[key] <= h["n"] and h[f"{key}_error"] >= 0
        assert h["tile_blocks"]["exact"] is False and "colouring" in h["tile_blocks"]["reason"]
        assert f"{h['stable_rank']:.4g}" in stdout
    assert len(s["lyapunov"]["exponents"]) == 3 and s["lyapunov"]["horizon"] == pytest.approx(Ts[-1])
    assert s["generator"]["growth_rate"]["max"] <= s["generator"]["decay_rate"]["max"]
    ds = open_dataset(out / "jacobian.nc")
    np.testing.assert_allclose(ds["propagator_sigma"].values, [h["sigma"] for h in s["horizons"]], rtol=1e-6)
    np.testing.assert_allclose(ds["propagator_stable_rank"].values, [h["stable_rank"] for h in s["horizons"]])
    assert ds["mode_energy"].shape == (3, 4, 2, 2) and ds["lyapunov_running"].dims == ("qr_time", "exponent")
    np.testing.assert_allclose(ds["mode_energy"].values.sum(axis=(2, 3)), 1.0, rtol=1e-5)
    assert ds["generator_eigenvalue_real"].shape == (2, 2, 64)


@pytest.mark.parametrize("argv, message", [
    (["--tile", "3"], "tile size 3 does not divide the lattice shape (8, 8)"),
    (["--horizon", "0,1"], "horizons '0,1' are invalid"),
    (["--horizon", "soon"], "horizons 'soon' are not 'auto'"),
    (["--lyapunov", "-1"], "--lyapunov -1"),
    (["--tile", "0"], "--tile 0 is invalid"),
    (["--tile", "4", "--steps", "2", "--halo"], "--halo needs tile + 2·halo"),
    (["--topk", "-1"], "--topk -1"),
    (["--evolve", "3", "--snapshots", "3"], "multiple of --snapshots"),
    (["--evolve", "2", "--snapshots", "1"], "2 <= snapshots"),
    (["--dt", "5"], "exceeds the"),
    (["--preset", "seed", "--shape", "16"], "2D"),
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--set", "gamma=-1"], "gamma=-1 is negative"),
    (["--algorithm", "magic"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "jacobian", "--shape", "8,8", "--tile", "4", "--out", str(out), "--quiet", *argv)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # nothing (half-)written


def test_nan_during_evolve_keeps_the_snapshots_and_their_analysis(tmp_path, capsys):
    """The issue's run (euler at dt = 1, no check; on 8x8 cells) turns NaN at step 14: exit 2 with one
    line, and the folder holds what the message promises, the 2 snapshots before it and their tile analysis."""
    out = tmp_path / "j"
    code, _, err = run_cli(capsys, "jacobian", "--shape", "8,8", "--tile", "4", "--topk", "0", "--horizon", "none",
                           "--dt", "1", "--method", "euler", "--no-check", "--evolve", "40", "--snapshots", "5",
                           "--out", out, "--quiet")
    assert code == 2 and err.count("\n") == 1 and "2 snapshot(s) before it were kept" in err, err
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "failed" and s["failed_step"] == 14 and s["snapshots"] == 2
    assert {"trajectory.nc", "jacobian.nc", "evolution.png"} <= set(s["files"])
    assert sorted(p.name for p in out.iterdir()) == sorted([*s["files"], "summary.json"])
    _, _, traj, attrs = rj.io.load_trajectory(out / "trajectory.nc")
    assert list(np.asarray(traj.steps)) == [0, 10] and attrs["status"] == "failed"
    assert len(s["evolution"]["times"]) == 2 and s["evolution"]["times"] == [0.0, 10.0]
    ds = open_dataset(out / "jacobian.nc")  # self-describing (CF): every variable has a long name and units
    assert all("long_name" in ds[n].attrs and (ds[n].dtype.kind not in "iuf" or "units" in ds[n].attrs)
               for n in [*ds.coords, *ds.data_vars])
    assert ds.attrs["history"].startswith("rsvp jacobian --shape 8,8 --tile 4")
