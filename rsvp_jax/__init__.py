"""rsvp-jax: a differentiable JAX solver for the RSVP field equations (Φ, v, S) on periodic lattices.

```python
import rsvp_jax as rj
lat = rj.Lattice(shape=(64, 64), spacing=1.0)
model = rj.preset("rsvp").replace(gamma=0.2)
x0 = rj.initial_state(lat, kind="blobs", seed=0)
traj = rj.simulate(model, lat, x0, dt=0.01, steps=1000, save_every=100)
```

The package follows the module map of the design; each layer imports only the ones above it:

```
errors, lattice, state     the periodic grid and its operators, the fields (Φ, v, S)
models/                    one file per equation set (rsvp, tartan, centerfuge, monograph, seed)
diagnostics, progress      integrals of a state; progress reports for long work
integrate/                 Runge–Kutta tables and steps, rollouts, snapshots, simulate, dt limits
io                         NetCDF datasets and JSON, written atomically
spectra, linalg/           spectrum summaries and the linear algebra both packages share
jacobian/                  tile Jacobians, their SVDs, mode make-up and labels, matrix-free top-k
sweeps/, calibration/      vmapped sweeps over a device mesh (and jax.distributed); calibration
plots/, compare            figures and animations; LLM and RSVP spectra side by side
runs/                      each command's work, from its inputs to a finished output folder
bench/, cli/               benchmarks; the `rsvp` command (the only place that imports llm_bridge)
```
"""

from . import diagnostics, io, jacobian, models, plots, spectra
from .calibration import FitResult, Sensitivity, add_noise, fit, sensitivity
from .errors import ConfigError, NonFiniteError, RsvpError, UnstableTimestepError
from .integrate import (METHODS, Trajectory, check_timestep, max_stable_dt, rollout, simulate, stability_limits,
                        stages, step)
from .jacobian import (analyze_tiles, lattice_top_singular, lyapunov_spectrum, propagator_spectrum, seed_prototype,
                       tile_jacobians)
from .lattice import Lattice
from .models import Model, preset, presets
from .plots import animate
from .state import INITIAL_KINDS, State, channel_names, from_array, initial_state, to_array
from .sweeps import (SweepResult, TileSpectrum, device_mesh, shard_state, sharded_rollout, sweep, sweep_to_folder)
from .sweeps import initialize as initialize_distributed

__version__ = "0.1.0"

__all__ = [
    "Lattice", "State", "Model", "Trajectory",
    "preset", "presets", "initial_state", "step", "simulate", "rollout",
    "to_array", "from_array", "channel_names",
    "check_timestep", "max_stable_dt", "stability_limits",
    "diagnostics", "models", "spectra", "jacobian", "io", "plots", "animate",
    "tile_jacobians", "analyze_tiles", "lattice_top_singular", "seed_prototype",
    "propagator_spectrum", "lyapunov_spectrum",
    "RsvpError", "ConfigError", "UnstableTimestepError", "NonFiniteError",
    "METHODS", "INITIAL_KINDS", "stages",
    "fit", "FitResult", "sensitivity", "Sensitivity", "add_noise",
    "sweep", "sweep_to_folder", "SweepResult", "TileSpectrum", "device_mesh", "shard_state", "sharded_rollout", "initialize_distributed",
]
