"""Sharded over 8 (forced CPU) devices equals unsharded: a sweep batch, and one lattice split by its first axis.

The devices are forced with XLA_FLAGS before JAX starts, so the checks run in a subprocess.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import rsvp_jax as rj

SCRIPT = textwrap.dedent("""
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import rsvp_jax as rj
    from rsvp_jax.errors import ConfigError

    out = {"devices": jax.device_count()}
    model = rj.preset("rsvp")

    # a sweep of 6 points (not a multiple of 8: padded) over 8 devices vs 1 device
    lat = rj.Lattice((16, 16))
    x0 = lambda s: rj.initial_state(lat, "blobs", seed=s, dtype="float64")
    grid = {"gamma": [0.05, 0.2, 0.4], "seed": [0, 1]}
    kw = dict(save_every=10, method="euler")
    full = rj.sweep(model, lat, x0, 0.05, 40, grid=grid, **kw)
    one = rj.sweep(model, lat, x0, 0.05, 40, grid=grid, mesh=rj.device_mesh(jax.devices()[:1]), **kw)
    small = rj.sweep(model, lat, x0, 0.05, 40, grid=grid, batch_size=3, **kw)  # rounded up to 8
    out["sweep_layout"] = full.layout
    out["sweep_layout_one"] = one.layout
    out["sweep_layout_small"] = small.layout
    out["sweep_rel_diff"] = max(float(np.max(np.abs(a.diagnostics[k] - one.diagnostics[k]) / (1e-300 + np.abs(one.diagnostics[k]).max())))
                                for a in (full, small) for k in one.diagnostics)
    out["sweep_ok"] = int(full.ok.sum())

    # one lattice split over the 8 devices along its first axis
    lat = rj.Lattice((32, 16))
    x = rj.initial_state(lat, "blobs", seed=4, dtype="float64")
    mesh = rj.device_mesh(axis="lattice")
    ys = rj.sharded_rollout(model, lat, x, 0.05, 30, method="euler", mesh=mesh)
    y = rj.rollout(model, lat, x, 0.05, 30, method="euler")
    out["lattice_diff"] = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(jax.tree.leaves(ys), jax.tree.leaves(y)))
    out["lattice_shard_shapes"] = [list(a.sharding.shard_shape(a.shape)) for a in jax.tree.leaves(ys)]
    out["lattice_shards"] = [len(a.addressable_shards) for a in jax.tree.leaves(ys)]
    hlo = jax.jit(lambda x: rj.rollout(model, lat, x, 0.05, 30, method="euler")).lower(rj.shard_state(x, mesh)).compile().as_text()
    out["hlo"] = {k: hlo.count(k) for k in ("collective-permute", "all-gather", "all-to-all")}
    try:
        rj.shard_state(rj.initial_state(rj.Lattice((12, 16)), "blobs"), mesh)
        out["uneven"] = "accepted"
    except ConfigError as e:
        out["uneven"] = str(e)
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def eight_devices():
    env = {**os.environ, "MPLBACKEND": "Agg", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_sweep_over_eight_devices_equals_one_device(eight_devices):
    out = eight_devices
    assert out["devices"] == 8
    assert out["sweep_layout"] == {"batch_size": 8, "devices": 8, "processes": 1}
    assert out["sweep_layout_one"]["devices"] == 1 and out["sweep_layout_small"]["batch_size"] == 8
    assert out["sweep_ok"] == 6
    assert out["sweep_rel_diff"] < 1e-12


def test_one_lattice_split_over_eight_devices_equals_unsharded(eight_devices):
    out = eight_devices
    assert out["lattice_diff"] < 1e-12
    assert out["lattice_shard_shapes"] == [[4, 16], [2, 4, 16], [4, 16]]  # 32 rows / 8 devices
    assert out["lattice_shards"] == [8, 8, 8]
    # the periodic shifts are halo exchanges between devices, never a gather of the whole lattice
    assert out["hlo"]["collective-permute"] > 0 and out["hlo"]["all-gather"] == 0 and out["hlo"]["all-to-all"] == 0
    assert "does not split evenly over 8 devices" in out["uneven"]


def test_lattice_sharding_in_process_one_device():
    """On the single in-process device the same API runs (a mesh of one) and gives the rollout."""
    import numpy as np

    lat = rj.Lattice((8, 8))
    x = rj.initial_state(lat, "noise", seed=1)
    model = rj.preset("rsvp")
    ys = rj.sharded_rollout(model, lat, x, 0.05, 5, method="euler")
    y = rj.rollout(model, lat, x, 0.05, 5, method="euler")
    np.testing.assert_allclose(np.asarray(ys.phi), np.asarray(y.phi), rtol=1e-6)
