"""Many processes, one computation: a thin layer over JAX's own multi-host runtime.

`initialize` calls `jax.distributed.initialize` with the coordinator address, the
process count and this process's id, taken from its arguments or else from the
environment:

| argument            | environment variable      | meaning                                   |
|---------------------|---------------------------|-------------------------------------------|
| `coordinator`       | `JAX_COORDINATOR_ADDRESS` | `host:port` of process 0's coordinator    |
| `num_processes`     | `JAX_NUM_PROCESSES`       | how many processes take part              |
| `process_id`        | `JAX_PROCESS_ID`          | this process, 0 … num_processes − 1       |
| `local_device_ids`  | `JAX_LOCAL_DEVICE_IDS`    | (optional) which local devices to use     |

With none of these set, a multi-task job of a cluster that JAX detects by itself (Slurm with
`SLURM_NTASKS` > 1, Open MPI with `OMPI_COMM_WORLD_SIZE` > 1) is joined with no arguments,
and otherwise the process runs alone. After it, `jax.devices()`
lists every device of every process; the sweep and lattice code in `_sharding` builds
its meshes from that list, so the same code runs on one device, on all local devices, or
across machines. See `docs/scale.md` for a launch recipe.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import jax
import numpy as np

from ..errors import ConfigError

ENV = {"coordinator": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES", "process_id": "JAX_PROCESS_ID"}
_CLUSTER_TASKS = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")  # task counts of the clusters JAX detects itself


def _int_or_none(value, what: str):
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}={value!r} is not an integer") from None


def settings(coordinator=None, num_processes=None, process_id=None) -> dict | None:
    """The resolved (coordinator, num_processes, process_id), or None for a single process.

    Arguments win over the environment. Incomplete or inconsistent settings are a
    `ConfigError` naming the missing or bad value.
    """
    coordinator = coordinator or os.environ.get(ENV["coordinator"]) or None
    n = _int_or_none(num_processes if num_processes is not None else os.environ.get(ENV["num_processes"]), "num_processes")
    pid = _int_or_none(process_id if process_id is not None else os.environ.get(ENV["process_id"]), "process_id")
    if coordinator is None and n is None and pid is None:
        return None
    missing = [k for k, v in (("coordinator", coordinator), ("num_processes", n), ("process_id", pid)) if v is None]
    if missing:
        raise ConfigError(
            f"a multi-process run needs the coordinator address, the process count and the process id; "
            f"{', '.join(missing)} is missing (flag or {', '.join(ENV[m] for m in missing)})"
        )
    host, sep, port = str(coordinator).rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"coordinator address {coordinator!r} is not HOST:PORT, e.g. 10.0.0.1:1234 or localhost:1234")
    if n < 1:
        raise ConfigError(f"num_processes={n} must be >= 1")
    if not 0 <= pid < n:
        raise ConfigError(f"process_id={pid} must be in 0..{n - 1} for num_processes={n}")
    return dict(coordinator_address=str(coordinator), num_processes=n, process_id=pid)


def initialize(coordinator=None, num_processes=None, process_id=None, local_device_ids=None,
               timeout_s: float = 300, progress="print", prog: str = "rsvp") -> bool:
    """Join the multi-host runtime (call before any JAX computation); True if it was joined.

    Idempotent: a second call, or a call in a process already initialized, does nothing. While it
    waits for the other processes, `progress` gets "waiting for N-1 of N processes at HOST:PORT"
    every 10 s; if they have not all joined after `timeout_s` seconds, the process prints one line
    `PROG: error: ...` naming the address on stderr and exits with status 2. (JAX's own timeout
    aborts the process with a C++ stack instead, and the wait cannot be interrupted from Python,
    so the watchdog runs in a thread and is set to fire first.)
    """
    if jax.distributed.is_initialized():
        return True
    config = settings(coordinator, num_processes, process_id)
    if config is None and _cluster_tasks() <= 1:
        return False
    if not timeout_s > 0:
        raise ConfigError(f"join timeout {timeout_s!r} is invalid; give a number of seconds > 0")
    n = config["num_processes"] if config else _cluster_tasks()
    where = config["coordinator_address"] if config else "the cluster's coordinator"
    if progress == "print":
        progress = lambda line: print(line, flush=True)  # noqa: E731
    done = threading.Event()
    threading.Thread(target=_watchdog, args=(done, n, where, float(timeout_s), progress, prog), daemon=True).start()
    try:
        jax_timeout = int(timeout_s) + 60  # JAX's abort must never come before ours
        if config is None:
            jax.distributed.initialize(initialization_timeout=jax_timeout)  # JAX detects the cluster itself
        else:
            jax.distributed.initialize(**config, local_device_ids=local_device_ids, initialization_timeout=jax_timeout)
    except RuntimeError as e:  # e.g. called after JAX already ran something
        raise ConfigError(f"could not join the multi-process runtime at {where}: {str(e).splitlines()[0]}") from None
    finally:
        done.set()
    return True


def _watchdog(done, n: int, where: str, timeout_s: float, progress, prog: str) -> None:
    t0 = time.monotonic()
    if progress is not None:
        progress(f"waiting for {n - 1} of {n} processes at {where} (giving up after {timeout_s:g} s)")
    while not done.wait(min(10.0, max(0.0, timeout_s - (time.monotonic() - t0)))):
        waited = time.monotonic() - t0
        if waited >= timeout_s:
            print(f"{prog}: error: the other {n - 1} of {n} processes did not join at {where} within {timeout_s:g} s; "
                  "start every process (same --coordinator and --num-processes, ids 0..N-1) or raise --join-timeout",
                  file=sys.stderr, flush=True)
            os._exit(2)
        if progress is not None:
            progress(f"waiting for {n - 1} of {n} processes at {where} ({waited:.0f} s of {timeout_s:g} s)")


def _cluster_tasks() -> int:
    for key in _CLUSTER_TASKS:
        try:
            return int(os.environ[key])
        except (KeyError, ValueError):
            continue
    return 1


def is_main() -> bool:
    """True in process 0, the one that writes files."""
    return jax.process_index() == 0


def broadcast(value):
    """Process 0's value (a NumPy-able pytree) on every process; the identity in a single process."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return jax.tree.map(np.asarray, multihost_utils.broadcast_one_to_all(value))


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier called `name`."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


__all__ = ["initialize", "settings", "is_main", "broadcast", "barrier", "ENV"]
