"""What the `rsvp compare` and `rsvp demo` tests share: tiny inputs, PNG sizes, and the check that
every number in a comparison's summary is `rsvp_jax.spectra.summarize` of the data read back."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rsvp_jax.io import open_dataset
from rsvp_jax.spectra import summarize
from cli_helpers import run_cli  # noqa: F401  (re-exported for test_compare and test_demo)

RANKS = ("effective_rank", "stable_rank", "k90")
SCALARS = ("sigma_max", "stable_rank", "effective_rank", "participation_ratio", "k90", "k99")
NORMALIZED = ("stable_rank", "effective_rank", "participation_ratio", "k90", "k99")
#: `rsvp jacobian` at a tiny size: 4 tiles of 4x4 cells (n = 64), a tracked run of 2 snapshots, top-2.
TINY_JACOBIAN = ["jacobian", "--shape", "8,8", "--tile", "4", "--method", "euler", "--topk", "2", "--evolve", "2",
                 "--snapshots", "2", "--horizon", "none", "--quiet"]


def tiny_llm_folder(folder):
    """A tiny random Qwen2 (d = 64, 3 layers) with a character tokenizer, saved into `folder`."""
    from llm_helpers import make_tiny
    from test_cli_llm import _char_tokenizer

    make_tiny("qwen2", folder)
    _char_tokenizer(folder)
    return folder


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails unless the file is a PNG."""
    head = open(path, "rb").read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def _summ(stack) -> dict:
    return {k: np.asarray(v, np.float64) for k, v in summarize(stack).items()}


def assert_numbers_are_the_data(s: dict, llm_nc, rsvp_nc) -> None:
    """Every curve, distribution, profile and table cell of a compare summary `s` equals what
    `summarize` gives for the spectra stored in the two datasets (`llm_nc` may be None)."""
    jac = open_dataset(rsvp_nc)
    n = jac["sigma"].shape[-1]
    stacks = {"rsvp_tile": jac["sigma"].values.reshape(-1, n)}
    if "sigma_t" in jac:
        stacks["rsvp_run"] = jac["sigma_t"].values.reshape(-1, n)
    if llm_nc is not None:
        llm = open_dataset(llm_nc)
        stacks |= {"llm_joint": llm["sigma_joint"].values[None], "llm_token": llm["sigma_token"].values}
        if "sigma_layer" in llm:
            assert str(llm["part"].values[0]) == "layer"
            stacks["llm_layer"] = llm["sigma_layer"].values[:, 0]
    assert set(s["spectra"]) == set(stacks) == set(s["energy"])
    summ = {g: _summ(st) for g, st in stacks.items()}
    for g, st in stacks.items():
        m = st.shape[-1]
        assert s["groups"][g]["n"] == m and s["groups"][g]["count"] == st.shape[0]
        np.testing.assert_allclose(s["spectra"][g]["x"], np.arange(1, m + 1) / m)
        for key, q in (("low", 0.1), ("median", 0.5), ("high", 0.9)):
            np.testing.assert_allclose(s["spectra"][g][key], np.quantile(summ[g]["normalized"], q, axis=0), rtol=1e-6)
            np.testing.assert_allclose(s["energy"][g][key], np.quantile(summ[g]["cumulative_energy"], q, axis=0), rtol=1e-6)
        np.testing.assert_allclose(s["leading"][g]["normalized"], np.median(summ[g]["normalized"][:, :16], axis=0), rtol=1e-6)
        for r in RANKS:
            np.testing.assert_allclose(s["distributions"][r][g], summ[g][r] / m, rtol=1e-6)
        for key in SCALARS:
            for stat, fn in (("mean", np.mean), ("min", np.min), ("max", np.max)):
                assert s["table"][g][key][stat] == pytest.approx(fn(summ[g][key]), rel=1e-6), (g, key, stat)
        for key in NORMALIZED:
            assert s["table"][g][f"{key}/n"]["mean"] == pytest.approx(np.mean(summ[g][key] / m), rel=1e-6)
    if "lattice_sigma" in jac:
        lat = _summ(jac["lattice_sigma"].values)
        np.testing.assert_allclose(s["leading"]["rsvp_lattice"]["normalized"], lat["normalized"], rtol=1e-6)
        assert s["table"]["rsvp_lattice"]["sigma_max"]["mean"] == pytest.approx(float(lat["sigma_max"]), rel=1e-6)
        assert s["groups"]["rsvp_lattice"]["n"] == jac["sigma"].size  # C·N, the whole map's size
    if "rsvp_run" in stacks:
        prof, times = s["profiles"]["rsvp_time"], jac["time"].values
        np.testing.assert_allclose(prof["time"], times)
        for r in RANKS:
            per_time = (summ["rsvp_run"][r] / n).reshape(len(times), -1)
            np.testing.assert_allclose(prof[r]["mean"], per_time.mean(1), rtol=1e-6)
            np.testing.assert_allclose(prof[r]["max"], per_time.max(1), rtol=1e-6)
    if "llm_layer" in stacks:
        prof, d = s["profiles"]["llm_layer"], stacks["llm_layer"].shape[-1]
        assert prof["layer"] == llm["layer"].values.tolist()
        for r in RANKS:
            np.testing.assert_allclose(prof[r], summ["llm_layer"][r] / d, rtol=1e-6)


def assert_figures_as_announced(s: dict, folder) -> None:
    """Each figure of a compare summary exists at its announced pixel size and names data in `s`."""
    for name, info in s["figures"].items():
        assert (folder / name).stat().st_size > 10_000, name  # a drawn figure, not a blank canvas
        assert png_size(folder / name) == tuple(info["pixels"]), name
        assert info["data"] and all(key in s for key in info["data"]), name
