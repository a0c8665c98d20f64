"""Two processes under `jax.distributed` (loopback coordinator, 2 CPU devices each) give the
single-process result (computed here, on this process's one device): a `rsvp sweep` batch
split over 4 devices in 2 processes, and one lattice split over them. Process 0 alone writes files."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

SCRIPT = textwrap.dedent("""
    import json, os, sys
    out = sys.argv[1]
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax
    import numpy as np
    from rsvp_jax.cli import main

    code = main(sys.argv[2:] + ["--out", out + "/sweep"])  # JAX_COORDINATOR_ADDRESS etc.: joins the other process

    import rsvp_jax as rj
    from rsvp_jax.sweeps import to_host
    lat = rj.Lattice(LATTICE)
    x = rj.initial_state(lat, "noise", seed=3, dtype="float64")
    y = to_host(rj.sharded_rollout(rj.preset("rsvp"), lat, x, 0.05, 20, method="euler"))
    if jax.process_index() == 0:
        np.savez(out + "/lattice.npz", phi=y.phi, v=y.v, S=y.S)
    print(json.dumps({"code": code, "devices": jax.device_count(), "local": jax.local_device_count(),
                      "processes": jax.process_count(), "index": jax.process_index()}))
""")


SWEEP = ["sweep", "--shape", "16,16", "--steps", "40", "--save-every", "10", "--method", "euler", "--quiet",
         "--dtype", "float64", "--param", "gamma=0.05:0.4:3", "--param", "seed=0,1"]
LATTICE = (16, 8)
SCRIPT = SCRIPT.replace("LATTICE", repr(LATTICE))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    script = tmp / "worker.py"
    script.write_text(SCRIPT)
    base = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    base.update(MPLBACKEND="Agg", JAX_PLATFORMS="cpu")
    port = _free_port()
    procs = []
    for pid in range(2):
        env = {**base, "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(pid)}
        procs.append(subprocess.Popen([sys.executable, str(script), str(tmp / f"multi{pid}"), *SWEEP], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        single = _single_process(tmp / "single")  # meanwhile, the same here, in one process on one device
        results = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=300)
            assert p.returncode == 0, stderr[-3000:]
            results.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return tmp, single, results


def _single_process(out):
    """The reference: the same sweep and lattice through the API, in float64 (scoped, not global)."""
    import jax

    import rsvp_jax as rj
    from rsvp_jax.cli.sweep import parse_grid

    with jax.enable_x64(True):
        lat = rj.Lattice((16, 16))
        model = rj.preset("rsvp")
        grid = parse_grid(["gamma=0.05:0.4:3", "seed=0,1"], model)
        x0 = lambda s: rj.initial_state(lat, "blobs", seed=s, dtype="float64")  # noqa: E731
        result, _ = rj.sweep_to_folder(out, model, lat, x0, 0.05, 40, grid, save_every=10, method="euler")
        lat2 = rj.Lattice(LATTICE)
        y = rj.rollout(model, lat2, rj.initial_state(lat2, "noise", seed=3, dtype="float64"), 0.05, 20, method="euler")
        return {"devices": jax.device_count(), "sweep": _load(out / "sweep.nc"),
                "lattice": {f: np.asarray(getattr(y, f)) for f in ("phi", "v", "S")}}


def test_two_processes_join_one_runtime(runs):
    _, single, (p0, p1) = runs
    assert single["devices"] == 1
    assert p0 == {"code": 0, "devices": 4, "local": 2, "processes": 2, "index": 0}
    assert p1 == {"code": 0, "devices": 4, "local": 2, "processes": 2, "index": 1}


def test_two_process_sweep_equals_single_process(runs):
    tmp, single, _ = runs
    one, two = single["sweep"], _load(tmp / "multi0/sweep/sweep.nc")
    assert not (tmp / "multi1").exists()  # process 1 writes nothing
    assert two["status"].dims == ("gamma", "seed") and int((two["status"] == 0).sum()) == 6
    assert set(one.data_vars) == set(two.data_vars)
    for name in one.data_vars:
        if one[name].dtype.kind in "OSU":
            assert one[name].values.tolist() == two[name].values.tolist()
        else:
            np.testing.assert_allclose(two[name].values, one[name].values, rtol=1e-12, atol=1e-14, err_msg=name)
    summary = json.loads((tmp / "multi0/sweep/summary.json").read_text())
    assert summary["processes"] == 2 and summary["devices"] == 4 and summary["batch_size"] % 4 == 0


def test_two_process_lattice_equals_single_process(runs):
    tmp, single, _ = runs
    two = np.load(tmp / "multi0/lattice.npz")
    for f in ("phi", "v", "S"):
        np.testing.assert_allclose(two[f], single["lattice"][f], rtol=1e-12, atol=1e-14, err_msg=f)


def test_settings_come_from_arguments_or_the_environment(monkeypatch):
    from rsvp_jax.sweeps import _distributed as dist
    from rsvp_jax.errors import ConfigError

    for key in (*dist.ENV.values(), "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    assert dist.settings() is None
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert dist.initialize() is False  # a one-task job runs alone
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert dist.settings() == {"coordinator_address": "10.0.0.1:1234", "num_processes": 4, "process_id": 3}
    assert dist.settings(process_id=1)["process_id"] == 1  # an argument wins over the environment
    monkeypatch.setenv("JAX_NUM_PROCESSES", "four")
    with pytest.raises(ConfigError, match="num_processes='four' is not an integer"):
        dist.settings()
