"""`rsvp jacobian` end to end at a tiny size, and its bad-input paths (one line, exit 2, nothing written)."""

import json

import numpy as np
import pytest

from rsvp_jax.cli import build_parser
from rsvp_jax.io import open_dataset
from rsvp_jax.jacobian import LABELS
from cli_helpers import run_cli


def test_jacobian_writes_maps_data_and_summary(tmp_path, capsys):
    out = tmp_path / "jac"
    code, stdout, err = run_cli(capsys, "jacobian", "--shape", "8,8", "--tile", "4", "--method", "euler",
                                "--topk", "2", "--evolve", "2", "--snapshots", "2", "--save-jacobians",
                                "--out", str(out), "--quiet")
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
                           "--topk", "0", "--dtype", "float64", "--out", str(out), "--quiet")
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["block_shape"] == [12, 24] and s["halo"] and "lattice_topk" not in s and s["dtype"] == "float64"
    assert open_dataset(out / "jacobian.nc")["top_input_direction"].shape == (3, 3, 8)  # (tiles, channels, b + 2r)


@pytest.mark.parametrize("argv, message", [
    (["--tile", "3"], "tile size 3 does not divide the lattice shape (8, 8)"),
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
