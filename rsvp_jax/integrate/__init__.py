"""Time integration: explicit Runge–Kutta steps, rollouts, recorded runs and their time-step limits.

| name                 | what                                                                      |
|----------------------|---------------------------------------------------------------------------|
| `step`, `step_fn`    | one step of any method (`METHODS`: euler, heun, ssprk3, rk4), jitted / pure |
| `rollout`            | the k-step map F(x0), pure and differentiable (`checkpoint_every`)        |
| `snapshots`          | the snapshot engine: a pure scan saving states and diagnostics, NaN-safe  |
| `simulate`           | a checked run: dt against the limits, progress, `NonFiniteError` at a NaN |
| `check_timestep`, `stability_limits`, `max_stable_dt` | the explicit stability limits of a model |
| `TABLEAUS`           | each method's Shu–Osher table (`_tableau`), one stepper for all           |
| `tangent_rollout`, `adjoint_rollout` | blocks of perturbations through the rollout, forward and back |

Imports: lattice, state, models, diagnostics, progress; nothing above them.
"""

from ._simulate import Trajectory, simulate
from ._snapshots import Snapshots, advance, snapshots
from ._step import METHODS, ORDER, check_method, fuse_stages, rollout, stages, step, step_fn
from ._tableau import TABLEAUS, Tableau, rk_step
from ._tangent import adjoint_rollout, checkpoint_layout, tangent_rollout
from ._timestep import LIMIT_FORMULAS, check_timestep, max_stable_dt, stability_limits

__all__ = [
    "METHODS", "ORDER", "TABLEAUS", "Tableau", "rk_step", "check_method", "stages", "fuse_stages",
    "step", "step_fn", "rollout", "Snapshots", "snapshots", "advance", "Trajectory", "simulate",
    "check_timestep", "max_stable_dt", "stability_limits", "LIMIT_FORMULAS", "tangent_rollout", "adjoint_rollout",
    "checkpoint_layout",
]
