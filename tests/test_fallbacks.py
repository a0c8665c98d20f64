"""The CPU-only fast paths fall back to `jnp.linalg` on other backends, with the same results.

The Gram-route block SVDs run LAPACK on the host through ctypes (`rsvp_jax.linalg._lapacke`),
one thread per core; on a GPU the blocks stay on the device and `jnp.linalg.svd` takes them.
Here the backend is made to look like a GPU, and the results must not change.
"""

import numpy as np

import rsvp_jax as rj
from rsvp_jax.linalg import _blocks, blas_threads, block_svd


def looks_like_a_gpu(monkeypatch):
    monkeypatch.setattr(_blocks.jax, "default_backend", lambda: "gpu")


def test_block_svd_falls_back_to_jnp_linalg_off_cpu(x64, monkeypatch):
    J = np.random.default_rng(0).standard_normal((3, 2, 12, 12))
    host = block_svd(J, k=3)  # "auto" on CPU: the Gram route
    calls = []
    real = _blocks._gram_svd
    monkeypatch.setattr(_blocks, "_gram_svd", lambda *a: calls.append(1) or real(*a))
    looks_like_a_gpu(monkeypatch)
    device = block_svd(J, k=3)
    assert not calls  # the host route was not taken
    np.testing.assert_allclose(np.asarray(device.sigma), np.asarray(host.sigma), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(device.U), np.asarray(host.U), atol=1e-10)  # same sign rule
    np.testing.assert_allclose(np.asarray(device.V), np.asarray(host.V), atol=1e-10)


def test_tile_analysis_is_the_same_through_the_fallbacks(x64, monkeypatch):
    lat, model = rj.Lattice((8, 8)), rj.preset("rsvp")
    x = rj.initial_state(lat, "blobs", seed=1, dtype="float64")
    cpu = rj.analyze_tiles(model, lat, x, 0.05, tile=4, k=2)
    looks_like_a_gpu(monkeypatch)
    gpu = rj.analyze_tiles(model, lat, x, 0.05, tile=4, k=2)
    np.testing.assert_allclose(np.asarray(gpu.sigma), np.asarray(cpu.sigma), rtol=1e-10)
    np.testing.assert_array_equal(np.asarray(gpu.labels), np.asarray(cpu.labels))
    np.testing.assert_allclose(np.asarray(gpu.input_shares), np.asarray(cpu.input_shares), atol=1e-9)


def test_blas_threads_sets_and_restores_every_openblas():
    from threadpoolctl import threadpool_info

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i.get("internal_api") == "openblas"]

    before = counts()
    assert before, "no OpenBLAS loaded: NumPy and SciPy ship one"
    with blas_threads(1):
        assert counts() == [1] * len(before)
        s = np.linalg.svd(np.eye(3), compute_uv=False)
    assert counts() == before and s.tolist() == [1.0, 1.0, 1.0]
