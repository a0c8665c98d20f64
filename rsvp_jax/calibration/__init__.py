"""Calibration: fit model parameters (and initial fields) to observed snapshots, and how well they are pinned.

| name                      | what                                                                |
|---------------------------|---------------------------------------------------------------------|
| `fit`, `FitResult`        | optax L-BFGS / Adam or Levenberg–Marquardt on the snapshot misfit    |
| `make_problem`, `loss`, `predict`, `Problem` | the misfit of a model to observations (`_problem`) |
| `add_noise`               | noisy observations for twin experiments                              |
| `sensitivity`, `Sensitivity` | the residual Jacobian at a point: identifiability, correlations  |

Imports: integrate (`rollout`, the time-step check) and below; `plots` lazily for its figures.
"""

from ._fit import OPTIMIZERS, FitResult, fit
from ._gauss_newton import MAX_DENSE_UNKNOWNS, levenberg_marquardt, residuals_and_jacobian
from ._problem import (Problem, add_noise, auto_checkpoint, constrain, flat_residuals, loss, make_problem, predict,
                       ravel, residuals, unravel)
from ._sensitivity import Sensitivity, sensitivity

__all__ = [
    "fit", "FitResult", "OPTIMIZERS", "Problem", "make_problem", "loss", "predict", "residuals", "flat_residuals",
    "constrain", "ravel", "unravel", "auto_checkpoint", "add_noise", "sensitivity", "Sensitivity",
    "levenberg_marquardt", "residuals_and_jacobian", "MAX_DENSE_UNKNOWNS",
]
