"""`fit_to_folder`: a calibration and its sensitivity, as `rsvp fit` writes them; and its observations.

Writes `fit.nc` (loss and parameters per iteration, the fitted model as attributes, fitted initial
fields), `params.json`, `fit.png`, `sensitivity.png` and `summary.json`; a twin experiment also
`observations.nc`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .. import io
from ..calibration import add_noise, fit, sensitivity
from ..errors import ConfigError
from ..integrate import check_method, simulate
from ._summary import Timer, say, summary_header


def observations_from_file(path, *, dtype: str = "float32", dt=None, method=None):
    """(model, lattice, trajectory, dt, method) of a trajectory file that `rsvp simulate` wrote, checked
    to start at step 0 with at least one later snapshot; `dt`, `method` override the file's."""
    model, lat, traj, attrs = io.load_trajectory(path)
    model.check_lattice(lat)
    if len(traj) < 2:
        raise ConfigError(f"file {str(path)!r} holds {len(traj)} snapshot(s); a fit needs the initial state and at least one more")
    if int(traj.steps[0]) != 0:
        raise ConfigError(f"file {str(path)!r} starts at step {int(traj.steps[0])}; a fit needs the initial state (step 0)")
    dt = dt if dt is not None else attrs.get("dt", 1.0 if model.discrete else None)
    if dt is None:
        raise ConfigError(f"file {str(path)!r} records no dt; pass --dt")
    method = method or str(attrs.get("method", "ssprk3"))
    check_method(method)
    traj = jax.tree.map(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a, traj)
    return model, lat, traj, float(dt), method


def twin_observations(model, lat, x0, dt, steps: int, save_every: int, method: str, out):
    """A twin experiment's observations: the run of the true model, also written to `out`/observations.nc."""
    check_method(method)
    if steps < 1 or save_every < 1 or steps % save_every:
        raise ConfigError(f"--steps {steps} must be a positive multiple of --save-every {save_every}")
    say(f"twin experiment: simulating {model.name} on {'x'.join(map(str, lat.shape))} cells, {steps} steps of dt={dt:g}")
    traj = simulate(model, lat, x0, dt, steps, save_every=save_every, method=method)
    io.save_trajectory(Path(out) / "observations.nc", traj, model, lat, dt, method)
    return traj


def fit_to_folder(truth, start, lat, traj, names, out, *, dt, method, source: str, fit_initial=(), fields=("phi", "v", "S"),
                  noise: float = 0.0, noise_seed: int = 0, optimizer: str = "auto", max_iter: int = 200, tol: float = 1e-6,
                  checkpoint_every=None, with_sensitivity: bool = True, progress: bool = True, dtype: str = "float32",
                  meta: dict | None = None, timer: Timer | None = None) -> dict:
    """Fit `names` (and the initial fields `fit_initial`) of `start` to the snapshots `traj` of
    `truth`, write every file of the module docstring into `out`, return the summary.

    Initial fields in `fit_initial` start from their spatial mean and are fitted to the snapshots
    after step 0 (the one at step 0 is then the answer, kept aside to score the fit). `noise` > 0
    adds Gaussian noise to the snapshots after step 0 first.
    """
    out = Path(out)
    timer = timer or Timer()
    if noise > 0:
        traj = add_noise(traj, noise, seed=noise_seed, fields=fields)
    x0 = x0_file = jax.tree.map(lambda a: a[0], traj.states)
    if fit_initial:  # start the fitted initial fields from their spatial mean: no peeking at the answer
        space = tuple(range(-lat.ndim, 0))
        x0 = dataclasses.replace(x0, **{f: jnp.broadcast_to(jnp.mean(getattr(x0, f), axis=space, keepdims=True),
                                                           getattr(x0, f).shape) for f in fit_initial})
        traj = traj[1:]
    say(f"fitting {', '.join(tuple(names) + tuple(f'initial {f}' for f in fit_initial))} of {truth.name} to {len(traj)} "
        f"snapshots ({source}) with {optimizer}"
        + (": start " + ", ".join(f"{n}={float(getattr(start, n)):.6g}" for n in names) if names else ""))
    result = fit(start, lat, traj, names, dt=dt, x0=x0, fit_initial=fit_initial, fields=fields, method=method,
                 optimizer=optimizer, max_iter=max_iter, tol=tol, checkpoint_every=checkpoint_every, progress=progress)
    summ = result.summary(truth=truth if names else None)
    if "truth" in summ:
        summ["file_params"] = summ.pop("truth")
    if fit_initial:
        summ["initial_relative_error"] = {
            f: float(np.linalg.norm(np.asarray(getattr(result.x0, f)) - np.asarray(getattr(x0_file, f)))
                     / max(float(np.linalg.norm(np.asarray(getattr(x0_file, f)))), 1e-300)) for f in fit_initial}
    say(f"{result.optimizer}: {result.reason} after {result.iterations} iterations ({result.seconds:.1f} s): loss "
        f"{summ['loss_start']:.3e} -> {result.loss:.3e}; "
        + ", ".join(f"{n}={v:.6g} (file {summ['file_params'][n]:.6g}, rel. diff {summ['relative_error'][n]:.1e})"
                    for n, v in result.params.items()))

    files = ["fit.nc", "params.json", "fit.png"]
    sens = None
    if names and with_sensitivity:
        sens = sensitivity(result.model, lat, traj, names, dt=dt, x0=result.x0, fields=fields, method=method,
                           noise=noise or None, checkpoint_every=checkpoint_every)
        io.write_figure(sens.plot(f"sensitivity at the fitted {truth.name} model"), out / "sensitivity.png")
        files.append("sensitivity.png")
        say(f"sensitivity: eigenvalues {np.array2string(sens.eigenvalues, precision=3)}, condition {sens.condition_number:.3g}"
            + (", standard errors " + ", ".join(f"{n}={s:.2e}" for n, s in zip(names, sens.standard_errors))
               if sens.standard_errors is not None else ""))
    io.save_dataset(history_dataset(result), out / "fit.nc")
    io.write_json(out / "params.json", {"preset": truth.name, "params": result.model.params(), "fitted": list(names),
                                        "fit_initial": list(fit_initial)})
    io.write_figure(result.plot(truth=truth if names else None, title=f"rsvp fit: {truth.name}, {source}"), out / "fit.png")
    if source == "twin":
        files.insert(0, "observations.nc")
    summary = summary_header("fit", truth, lat, dt=dt, method=method, dtype=dtype, observations=source,
                             fields=list(fields), noise=noise, **(meta or {}), **summ, files=files,
                             seconds_total=timer())
    if sens is not None:
        summary["sensitivity"] = sens.summary()
    io.write_json(out / "summary.json", summary)
    return summary


def history_dataset(result):
    """The fit's history as an xarray Dataset: loss and each parameter over the iterations, the
    fitted model as attributes, and any fitted initial field."""
    import xarray as xr

    data = {"loss": ("iteration", np.asarray(result.loss_history))}
    for n, path in result.param_history.items():
        data[f"param_{n}"] = ("iteration", np.asarray(path))
    for f in result.fit_initial:
        a = np.asarray(getattr(result.x0, f))
        space = io.AXES[: a.ndim - (1 if f == "v" else 0)]
        data[f"initial_{f}"] = ((("component",) if f == "v" else ()) + tuple(space), a)
    attrs = {**io.model_attrs(result.model), "fitted": ",".join(result.names), "fit_initial": ",".join(result.fit_initial),
             "optimizer": result.optimizer, "reason": result.reason, "converged": int(result.converged),
             "format": "rsvp-jax fit 1"}
    return xr.Dataset(data, coords={"iteration": np.arange(len(result.loss_history))}, attrs=attrs)


__all__ = ["fit_to_folder", "observations_from_file", "twin_observations", "history_dataset"]
