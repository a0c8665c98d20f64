"""`rsvp_jax.spectra.summarize` on spectra (and matrices) whose summaries are known in closed form."""

import jax.numpy as jnp
import numpy as np
import pytest

from rsvp_jax import spectra


def closed_form(s):
    """The summaries straight from their definitions, in NumPy (s sorted descending)."""
    e = s**2
    p = s / s.sum()
    cum = np.cumsum(e) / e.sum()
    return {
        "sigma_max": s[0], "stable_rank": e.sum() / s[0] ** 2,
        "effective_rank": np.exp(-np.sum(p[p > 0] * np.log(p[p > 0]))),
        "participation_ratio": e.sum() ** 2 / np.sum(e**2),
        "k90": 1 + np.sum(cum < 0.9 - 1e-9), "k99": 1 + np.sum(cum < 0.99 - 1e-9),
    }


def test_flat_spectrum_has_every_rank_n(x64):
    s = spectra.summarize(jnp.full(10, 2.5))
    for key in ("stable_rank", "effective_rank", "participation_ratio"):
        np.testing.assert_allclose(float(s[key]), 10.0, rtol=1e-12)
    assert int(s["k90"]) == 9 and int(s["k99"]) == 10 and float(s["sigma_max"]) == 2.5
    np.testing.assert_allclose(np.asarray(s["normalized"]), 1.0)
    np.testing.assert_allclose(np.asarray(s["cumulative_energy"]), np.arange(1, 11) / 10, rtol=1e-12)


def test_rank_one_spectrum(x64):
    s = spectra.summarize(jnp.array([0.0, 3.0, 0.0, 0.0]))  # unsorted on purpose
    assert float(s["sigma_max"]) == 3.0
    for key in ("stable_rank", "effective_rank", "participation_ratio"):
        assert float(s[key]) == pytest.approx(1.0, abs=1e-12)
    assert int(s["k90"]) == int(s["k99"]) == 1


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_geometric_spectrum_matches_closed_forms(x64, q):
    n = 40
    s_np = q ** np.arange(n)
    got = spectra.summarize(jnp.asarray(s_np))
    want = closed_form(s_np)
    # and the geometric series' own closed forms for two of them
    want_stable = (1 - q ** (2 * n)) / (1 - q**2)
    want_pr = ((1 - q ** (2 * n)) / (1 - q**2)) ** 2 / ((1 - q ** (4 * n)) / (1 - q**4))
    np.testing.assert_allclose(float(got["stable_rank"]), want_stable, rtol=1e-12)
    np.testing.assert_allclose(float(got["participation_ratio"]), want_pr, rtol=1e-12)
    for key, value in want.items():
        np.testing.assert_allclose(float(got[key]), value, rtol=1e-12, err_msg=key)


def test_matrices_with_known_spectra_batched(x64):
    """Batches of J = U diag(s) Vᵀ (random orthogonal U, V) with chosen s: the SVD then `summarize`
    recovers each matrix's closed-form summaries, batched over two leading axes like a tile grid."""
    rng = np.random.default_rng(0)
    n = 12
    targets = [np.linspace(3, 1, n), np.r_[5.0, np.full(n - 1, 1e-3)], np.ones(n), 2.0 ** -np.arange(n)]
    J = np.zeros((2, 2, n, n))
    for idx, s in zip(np.ndindex(2, 2), targets):
        U = np.linalg.qr(rng.standard_normal((n, n)))[0]
        V = np.linalg.qr(rng.standard_normal((n, n)))[0]
        J[idx] = U @ np.diag(s) @ V.T
    got = spectra.summarize(jnp.linalg.svd(jnp.asarray(J), compute_uv=False))
    assert got["stable_rank"].shape == (2, 2) and got["normalized"].shape == (2, 2, n)
    for idx, s in zip(np.ndindex(2, 2), targets):
        for key, value in closed_form(np.sort(s)[::-1]).items():
            np.testing.assert_allclose(float(np.asarray(got[key])[idx]), value, rtol=1e-9, err_msg=f"{idx} {key}")


def test_zero_and_empty_spectra():
    z = spectra.summarize(jnp.zeros(5))
    assert all(float(z[k]) == 0 for k in ("stable_rank", "effective_rank", "participation_ratio", "k90", "k99"))
    with pytest.raises(ValueError, match="at least one singular value"):
        spectra.summarize(jnp.zeros((3, 0)))


def test_to_json_is_plain_python():
    s = spectra.summarize(jnp.array([[2.0, 1.0], [1.0, 1.0]]))
    j = spectra.to_json(s, spectra=False)
    assert set(j) == set(spectra.SCALAR_KEYS)
    assert isinstance(j["stable_rank"], list) and isinstance(j["stable_rank"][0], float)
    assert j["k90"] == [2, 2]
    assert "normalized" in spectra.to_json(s)
