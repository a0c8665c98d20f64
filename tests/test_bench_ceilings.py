"""The ceilings the solver benchmark is measured against (`rsvp_jax.bench.ceilings`), on tiny buffers:
each returns a positive bandwidth, the bytes → cell-updates/s arithmetic is right, and the reference
stencil computes the stencil it claims. Nothing here is timed against a threshold."""

import numpy as np
import pytest

from rsvp_jax.bench import ceilings


def test_step_bytes_and_cell_update_ceiling():
    # SSP-RK3, 2D float32: 8 words × 4 fields × 4 bytes = 128 B per cell and step
    assert ceilings.step_bytes("ssprk3", 4, 4) == 128
    assert ceilings.cell_update_ceiling(12.8, "ssprk3", 4, 4) == pytest.approx(1e8)
    # RK4 in 3D float64: 13 × 5 × 8 = 520 B
    assert ceilings.step_bytes("rk4", 5, 8) == 520
    assert ceilings.cell_update_ceiling(52.0, "rk4", 5, 8) == pytest.approx(1e8)
    assert ceilings.cell_update_ceiling(10.0, "euler", 4, 4) == pytest.approx(2 * ceilings.cell_update_ceiling(
        10.0, "euler", 4, 8))


def test_stream_on_a_small_buffer():
    r = ceilings.stream(megabytes=2, threads=2, repeats=2, block=4096)
    n = 2 * 2**20 // 4
    assert r["elements"] == n and r["threads"] == 2
    assert r["copy"]["bytes"] == 2 * 4 * n and r["triad"]["bytes"] == 3 * 4 * n
    for kernel in ("copy", "triad"):
        assert r[kernel]["GB_per_s"] > 0 and r[kernel]["GB_per_s"] >= r[kernel]["median_GB_per_s"]
        assert r[kernel]["GB_per_s"] == pytest.approx(r[kernel]["bytes"] / r[kernel]["best_s"] / 1e9)


def test_memory_ceiling_is_the_better_copy():
    m = ceilings.memory_ceiling(megabytes=2)
    assert m["source"] == "stream" and m["GB_per_s"] > 0
    assert m["GB_per_s"] == max(run["copy"]["GB_per_s"] for run in m["runs"])


def test_device_copy_on_a_small_buffer():
    d = ceilings.device_copy(megabytes=1, repeats=3)
    assert d["GB_per_s"] > 0 and d["bytes"] == 2 * 2**20


@pytest.mark.parametrize("method", ["euler", "heun", "ssprk3", "rk4"])
def test_reference_stencil_is_the_heat_equation(method):
    run, u0 = ceilings.reference_rollout((6, 5), "float32", fields=3, method=method)
    assert u0.shape == (3, 6, 5)
    u = np.asarray(u0, np.float64)

    def f(u):  # κ∇²u, periodic, h = 1
        return 0.1 * sum(np.roll(u, 1, ax) + np.roll(u, -1, ax) - 2 * u for ax in (1, 2))

    dt = 0.1
    for _ in range(2):
        k1 = f(u)
        if method == "euler":
            u = u + dt * k1
        elif method == "heun":
            u1 = u + dt * k1
            u = 0.5 * u + 0.5 * (u1 + dt * f(u1))
        elif method == "ssprk3":
            u1 = u + dt * k1
            u2 = 0.75 * u + 0.25 * (u1 + dt * f(u1))
            u = u / 3 + 2 / 3 * (u2 + dt * f(u2))
        else:
            k2 = f(u + dt / 2 * k1)
            k3 = f(u + dt / 2 * k2)
            u = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + f(u + dt * k3))
    np.testing.assert_allclose(np.asarray(run(u0, 2)), u, rtol=1e-6)
    assert ceilings.reference_stencil((8, 8), method=method, target_updates=256, repeats=1)["cell_updates_per_s"] > 0
