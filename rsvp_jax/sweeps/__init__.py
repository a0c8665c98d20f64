"""Sweeps and scale: many runs as `vmap`ped batches sharded over every device, resumable on disk.

| name                         | what                                                             |
|------------------------------|------------------------------------------------------------------|
| `sweep`, `iter_sweep`        | run a grid (or list) of parameter points, batch by batch          |
| `sweep_to_folder`            | the same, resumable: finished batches on disk, `sweep.nc` at the end |
| `SweepResult`, `sweep_dataset` | what a sweep returns, and its `xarray.Dataset`                  |
| `TileSpectrum`, `final_summaries` | what each point measures at the end of its run              |
| `device_mesh`, `shard_state`, `sharded_rollout` | one large lattice over every device (`_mesh`)  |
| `initialize`, `is_main`, ... | many processes through `jax.distributed` (`_distributed`)        |

Imports: everything below it in the module map (integrate, jacobian for `TileSpectrum`, io).
"""

from ._distributed import ENV, barrier, broadcast, initialize, is_main, settings
from ._mesh import (batch_sharding, device_mesh, lattice_sharding, mesh_size, pad_batch, put, replicated,
                    shard_state, sharded_rollout, to_host)
from ._points import SEED, check_names, grid_points, list_points, point_label
from ._result import FORMAT, STATUS, SweepResult, batch_dataset, result_from_batch, sweep_dataset
from ._run import auto_batch_size, check_sweep, is_out_of_memory, iter_sweep, sweep
from ._store import SweepFolder, identity, sweep_to_folder
from ._summaries import SUMMARIES, TILE_KEYS, TileSpectrum, extra_summaries, final_summaries

__all__ = [
    "sweep", "iter_sweep", "check_sweep", "auto_batch_size", "is_out_of_memory", "sweep_to_folder", "SweepFolder",
    "identity", "SweepResult", "sweep_dataset", "batch_dataset", "result_from_batch", "STATUS", "FORMAT", "SEED",
    "grid_points", "list_points", "check_names", "point_label", "SUMMARIES", "TILE_KEYS", "TileSpectrum",
    "final_summaries", "extra_summaries", "device_mesh", "mesh_size", "batch_sharding", "replicated", "pad_batch",
    "put", "to_host", "lattice_sharding", "shard_state", "sharded_rollout", "initialize", "settings", "is_main",
    "broadcast", "barrier", "ENV",
]
