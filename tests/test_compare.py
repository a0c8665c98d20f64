"""`rsvp_jax.compare` and `rsvp compare`: spectra on shared axes, checked against `spectra.summarize`."""

import json
import subprocess
import sys

import numpy as np
import pytest
from compare_helpers import (TINY_JACOBIAN, assert_figures_as_announced, assert_numbers_are_the_data, png_size,
                             run_cli, tiny_llm_folder)

from rsvp_jax import compare
from rsvp_jax.cli import build_parser, main
from rsvp_jax.runs.report import links
from rsvp_jax.errors import ConfigError
from rsvp_jax.plots import pixel_size

FIGURES = ["spectra.png", "energy.png", "ranks.png", "profiles.png", "depth_time.png"]


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    """`rsvp llm-jacobian` of a tiny random model (d = 64, 3 layers, 5 tokens)."""
    folder = tiny_llm_folder(tmp_path_factory.mktemp("tiny_llm"))
    out = tmp_path_factory.mktemp("llm_out")
    assert main(["llm-jacobian", "--model", str(folder), "--prompt", "a cab", "--modes", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def rsvp_dir(tmp_path_factory):
    """`rsvp jacobian` at a tiny size, with the lattice top-k and a tracked run."""
    out = tmp_path_factory.mktemp("jac_out")
    assert main([*TINY_JACOBIAN, "--out", str(out)]) == 0
    return out


def test_in_memory_constructors():
    """`from_analysis` (a tile analysis and its tracking) and `from_llm_spectra` (llm_spectra's dict)."""
    import rsvp_jax as rj
    from rsvp_jax.jacobian import analyze_tiles, track

    lat = rj.Lattice((4, 4))
    x = rj.initial_state(lat, kind="blobs", seed=0)
    a = analyze_tiles(rj.preset("rsvp"), lat, x, 0.05, tile=2, method="euler")
    rsvp = compare.RSVPSpectra.from_analysis(a, evolution=track([a, a], [0.0, 1.0]), meta={"preset": "rsvp"})
    assert rsvp.tile.shape == (2, 2, 16) and rsvp.tile_t.shape == (2, 2, 2, 16) and rsvp.lattice is None
    s_tok, s_joint = np.sort(np.random.default_rng(0).random((3, 6)))[:, ::-1], np.linspace(2, 1, 6)
    layer = {"sigma": np.stack([np.stack([s_joint] * 3)] * 2), "layers": np.array([0, 5]), "parts": ["layer", "attn", "mlp"]}
    llm = compare.LLMSpectra.from_llm_spectra({"token": {"sigma": s_tok}, "joint": {"sigma": s_joint}, "layer": layer,
                                               "tokens": ["a", "b", "c"], "model": {"family": "llama"}})
    r = compare.compare(llm, rsvp)
    assert r["profiles"]["llm_layer"]["layer"].tolist() == [0, 5] and r["profiles"]["rsvp_time"]["time"].tolist() == [0, 1]
    np.testing.assert_allclose(r["spectra"]["llm_joint"]["median"], s_joint / 2, rtol=1e-6)
    np.testing.assert_allclose(r["distributions"]["stable_rank"]["rsvp_tile"],
                               np.asarray(a.summary["stable_rank"]).reshape(-1) / 16, rtol=1e-6)


def test_llm_depth_beside_rsvp_time():
    """The propagator over horizons as its own group: its table column holds the SLQ ranks (not
    summaries of a truncated spectrum), and `depth_time` puts layers and horizons side by side."""
    horizons = {"horizon": np.array([1.0, 10.0]), "n": np.array([1024, 1024]),
                "sigma": np.array([[1.5, 1.4, 1.2], [1.2, 0.6, 0.3]]),
                "stable_rank": np.array([200.0, 10.0]), "stable_rank_error": np.array([5.0, 1.0]),
                "effective_rank": np.array([900.0, 300.0]), "effective_rank_error": np.array([3.0, 20.0]),
                "k90": np.array([600.0, 40.0]), "k90_error": np.array([9.0, 4.0])}
    rsvp = compare.RSVPSpectra(tile=np.ones((2, 2, 16)), horizons=horizons)
    layer = {"sigma": np.stack([np.stack([np.linspace(2, 1, 6)] * 3), np.stack([np.linspace(2, 0.1, 6)] * 3)]),
             "layers": np.array([0, 5]), "parts": ["layer", "attn", "mlp"]}
    llm = compare.LLMSpectra.from_llm_spectra({"token": {"sigma": np.ones((3, 6))}, "joint": {"sigma": np.linspace(2, 1, 6)},
                                               "layer": layer})
    r = compare.compare(llm, rsvp)
    assert r["groups"]["rsvp_horizon"] == {"label": compare.GROUPS["rsvp_horizon"], "n": 1024, "count": 2, "modes": 3}
    row = r["table"]["rsvp_horizon"]
    assert row["stable_rank"] == {"mean": 105.0, "min": 10.0, "max": 200.0}
    assert row["effective_rank/n"]["max"] == pytest.approx(900 / 1024) and "participation_ratio" not in row
    d = r["depth_time"]
    np.testing.assert_allclose(d["rsvp"]["k90"], [600 / 1024, 40 / 1024])
    np.testing.assert_allclose(d["rsvp"]["effective_rank_error"], [3 / 1024, 20 / 1024])
    np.testing.assert_allclose(d["rsvp"]["leading"][1], [1.0, 0.5, 0.25])
    assert d["llm"]["layer"].tolist() == [0, 5] and d["llm"]["stable_rank"].shape == (2,)
    assert "—" in compare.markdown_table(r)  # the rows that do not apply to the propagator's column
    fig = compare.plot_depth_time(r)
    assert len(fig.axes) >= 4


@pytest.mark.slow
def test_reading_the_datasets_and_comparing_them(llm_dir, rsvp_dir, tmp_path, capsys):
    llm = compare.spectra_from_llm_dataset(llm_dir / "llm_jacobian.nc")
    assert llm.token.shape == (5, 64) and llm.joint.shape == (64,) and llm.layer.shape == (3, 64)
    assert llm.tokens == ("a", " ", "c", "a", "b") and llm.meta["family"] == "qwen2"
    assert compare.spectra_from_llm_dataset(llm_dir, part="mlp").layer.shape == (3, 64)
    rsvp = compare.spectra_from_jacobian_dataset(rsvp_dir)
    assert rsvp.tile.shape == (2, 2, 64) and rsvp.tile_t.shape == (2, 2, 2, 64) and rsvp.lattice.shape == (2,)
    assert rsvp.meta["tile"] == [4, 4] and rsvp.meta["shape"] == [8, 8]
    np.testing.assert_array_equal(rsvp.tile_t[0], rsvp.tile)  # the tracked run starts at the analysed state

    out = tmp_path / "cmp"
    code, stdout, err = run_cli(capsys, "compare", "--llm", llm_dir, "--rsvp", rsvp_dir, "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["files"] == [*FIGURES, "comparison.md"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*s["files"], "summary.json"])
    assert_figures_as_announced(s, out)
    assert_numbers_are_the_data(s, llm_dir / "llm_jacobian.nc", rsvp_dir / "jacobian.nc")
    assert list(s["groups"]) == ["llm_joint", "llm_token", "llm_layer", "rsvp_tile", "rsvp_run", "rsvp_lattice"]
    md = (out / "comparison.md").read_text()
    assert compare.markdown_table(s) in md  # the table is the summary's numbers
    assert all((out / p).is_file() for p in links(md)) and len(links(md)) == len(FIGURES)
    assert f"{s['table']['llm_joint']['effective_rank/n']['mean']:.3g}" in stdout  # printed = stored


def test_the_api_on_known_spectra():
    """Equal singular values have every rank n (1 after / n); a rank-one map has rank 1 (1/n)."""
    flat, one = np.ones((3, 8)), np.zeros((2, 8))
    one[:, 0] = 2.0
    llm = compare.LLMSpectra(token=one, joint=np.ones(8), layer=one, layers=np.array([0, 1]))
    rsvp = compare.RSVPSpectra(tile=flat.reshape(3, 1, 8), lattice=np.array([4.0, 2.0, 1.0]))
    r = compare.compare(llm, rsvp)
    assert r["groups"]["rsvp_lattice"] == {"label": compare.GROUPS["rsvp_lattice"], "n": 24, "count": 1, "modes": 3}
    for rank in compare.RANKS:
        np.testing.assert_allclose(r["distributions"][rank]["rsvp_tile"], 1.0, rtol=1e-6)
        np.testing.assert_allclose(r["distributions"][rank]["llm_token"], 1 / 8, rtol=1e-6)
    np.testing.assert_allclose(r["spectra"]["llm_token"]["median"], [1] + [0] * 7)
    np.testing.assert_allclose(r["energy"]["rsvp_tile"]["median"], np.arange(1, 9) / 8, rtol=1e-6)
    np.testing.assert_allclose(r["leading"]["rsvp_lattice"]["normalized"], [1, 0.5, 0.25])
    np.testing.assert_allclose(r["profiles"]["llm_layer"]["stable_rank"], 1 / 8, rtol=1e-6)
    assert "rsvp_time" not in r["profiles"] and "rsvp_run" not in r["groups"]
    table = compare.markdown_table(r)
    assert table.splitlines()[0].count("|") == 1 + len(r["table"]) + 1 and "| effective rank / n | 1 | 0.125 |" in table
    only_rsvp = compare.compare(None, rsvp)
    assert set(only_rsvp["groups"]) == {"rsvp_tile", "rsvp_lattice"} and only_rsvp["llm"] is None
    import matplotlib.pyplot as plt

    for name, (fn, _) in compare.FIGURES.items():  # every figure draws with a side missing
        fig = fn(only_rsvp)
        assert tuple(fig.get_size_inches() * 110) == pixel_size(name)
        plt.close(fig)
    with pytest.raises(ConfigError, match="at least one side"):
        compare.compare(None, None)


def _corrupt(folder):
    (folder / "jacobian.nc").write_bytes(b"not a NetCDF file")
    return folder


def _dataset(folder, name, fmt, **variables):
    import xarray as xr

    from rsvp_jax.io import save_dataset

    save_dataset(xr.Dataset({k: ("mode", np.asarray(v)) for k, v in variables.items()}, attrs={"format": fmt}),
                 folder / name)
    return folder / name


@pytest.mark.parametrize("which, make, words", [
    ("--llm", lambda p: p / "nothing_here", "does not exist; give a folder written by `rsvp llm-jacobian`"),
    ("--llm", lambda p: p, "has no llm_jacobian.nc"),
    ("--rsvp", lambda p: p, "has no jacobian.nc"),
    ("--rsvp", _corrupt, "is not a readable NetCDF file"),
    ("--llm", lambda p: _dataset(p, "jacobian.nc", "rsvp-jax tile jacobians 1", sigma=[1.0]),
     "expected 'rsvp-jax llm-jacobian'"),
    ("--rsvp", lambda p: _dataset(p, "jacobian.nc", "rsvp-jax tile jacobians 1", lattice_sigma=[1.0]),
     "lacks the variable(s) sigma"),
    ("--llm", lambda p: _dataset(p, "llm_jacobian.nc", "rsvp-jax llm-jacobian 1", sigma_joint=[1.0]),
     "lacks the variable(s) sigma_token"),
])
def test_bad_input_is_one_line_and_exit_2(which, make, words, tmp_path, capsys):
    """A bad folder is read, and refused, before anything is computed or written."""
    out = tmp_path / "never"
    code, _, err = run_cli(capsys, "compare", which, make(tmp_path), "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.slow
def test_compare_computes_a_missing_side(llm_dir, tmp_path, capsys, monkeypatch):
    """No --rsvp: the RSVP side is computed on `RSVP_DEFAULTS` (patched to the demo tests' tiny sizes)."""
    from rsvp_jax.cli import compare as compare_cli

    monkeypatch.setitem(compare_cli.RSVP_DEFAULTS, True, dict(
        shape=(8, 8), tile=4, topk=2, evolve=4, snapshots=2,
        horizons=dict(horizon_k=2, probes=2, lanczos_steps=4, max_horizon_steps=10)))
    out = tmp_path / "cmp"
    code, _, err = run_cli(capsys, "compare", "--llm", llm_dir, "--quick", "--out", out)
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["sources"] == {"llm": str(llm_dir), "rsvp": "jacobian"}
    assert "jacobian/jacobian.nc" in s["files"] and all((out / f).stat().st_size > 0 for f in s["files"])
    assert png_size(out / "jacobian" / "rank_map.png")[0] > 0
    assert_numbers_are_the_data(s, llm_dir / "llm_jacobian.nc", out / "jacobian" / "jacobian.nc")
    assert s["groups"]["rsvp_tile"]["n"] == 4 * 4**2 and s["groups"]["rsvp_tile"]["count"] == 4
    assert any(g.startswith("rsvp_horizon") for g in s["groups"]), sorted(s["groups"])  # the horizon ladder too


def test_defaults_and_a_light_import():
    args = build_parser().parse_args(["compare"])
    assert (args.llm, args.rsvp, args.model, args.out) == (None, None, "smollm2", "out/compare")
    code = "import sys, rsvp_jax.compare; print(sorted({'llm_bridge', 'torch', 'transformers'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
