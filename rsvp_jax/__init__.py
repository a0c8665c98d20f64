"""rsvp-jax: a differentiable JAX solver for the RSVP field equations (Φ, v, S) on periodic lattices.

```python
import rsvp_jax as rj
lat = rj.Lattice(shape=(64, 64), spacing=1.0)
model = rj.preset("rsvp").replace(gamma=0.2)
x0 = rj.initial_state(lat, kind="blobs", seed=0)
traj = rj.simulate(model, lat, x0, dt=0.01, steps=1000, save_every=100)
```
"""

from . import animate, diagnostics, io, jacobian, models, plots, spectra
from ._integrate import METHODS, Trajectory, rollout, simulate, stages, step
from ._tiles import tile_jacobians
from .jacobian import analyze_tiles, lattice_top_singular, seed_prototype
from ._lattice import Lattice
from ._state import INITIAL_KINDS, State, channel_names, from_array, initial_state, to_array
from ._timestep import check_timestep, max_stable_dt, stability_limits
from ._sharding import device_mesh, shard_state, sharded_rollout
from ._sweep import sweep
from ._sweep_result import SweepResult
from ._sweep_summaries import TileSpectrum
from ._sweep_store import sweep_to_folder
from ._distributed import initialize as initialize_distributed
from ._fit import FitResult, fit
from ._fit_problem import add_noise
from ._sensitivity import Sensitivity, sensitivity
from .errors import ConfigError, NonFiniteError, RsvpError, UnstableTimestepError
from .models import Model, preset, presets

__version__ = "0.1.0"

__all__ = [
    "Lattice", "State", "Model", "Trajectory",
    "preset", "presets", "initial_state", "step", "simulate", "rollout",
    "to_array", "from_array", "channel_names",
    "check_timestep", "max_stable_dt", "stability_limits",
    "diagnostics", "models", "spectra", "jacobian",
    "tile_jacobians", "analyze_tiles", "lattice_top_singular", "seed_prototype",
    "RsvpError", "ConfigError", "UnstableTimestepError", "NonFiniteError",
    "METHODS", "INITIAL_KINDS", "stages",
    "fit", "FitResult", "sensitivity", "Sensitivity", "add_noise",
    "sweep", "sweep_to_folder", "SweepResult", "TileSpectrum", "device_mesh", "shard_state", "sharded_rollout", "initialize_distributed",
]
