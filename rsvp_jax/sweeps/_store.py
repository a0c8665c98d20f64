"""A sweep in a folder: batches written as they finish, resumed after a crash, never mixed.

```
DIR/sweep.json            what the sweep is (its identity) — written before the first batch
DIR/batches/points_*.nc   one NetCDF file per finished batch (point index, values, results)
DIR/sweep.nc              the whole sweep, once every point is done (parameters as coordinates)
```

Every file is written atomically (`rsvp_jax.io`), so a kill at any moment leaves only whole
batches. Running the same sweep into the same folder again reads which points are done
and runs only the rest; a sweep whose identity differs (another preset, lattice, dt,
grid, initial state, ...) is refused with a `ConfigError` naming the first difference.
Under `jax.distributed` every process computes and process 0 alone reads and writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import jax
import numpy as np

from .. import io
from ..errors import ConfigError
from . import _distributed as dist
from ._points import SEED, grid_points, list_points
from ._result import FORMAT, SweepResult, batch_dataset, result_from_batch, sweep_dataset
from ._run import _initial, check_sweep, iter_sweep


# ---- identity -----------------------------------------------------------------------------------
def _digest(states) -> str:
    h = hashlib.sha1()
    for x in states:
        for a in jax.tree.leaves(x):
            a = np.ascontiguousarray(a)
            h.update(str((a.dtype, a.shape)).encode())
            h.update(a.tobytes())
    return h.hexdigest()


def identity(model, lat, x0, dt, steps, values, grid_shape, *, save_every, method, diagnostics, final_states,
             extra=None) -> dict:
    """Everything that decides a sweep's results, as plain JSON-able values."""
    seeds = sorted({int(s) for s in values.get(SEED, [0])})
    return io._jsonable({
        "format": FORMAT, **io.model_attrs(model), "shape": list(lat.shape), "spacing": lat.spacing,
        "dt": float(dt), "steps": int(steps), "save_every": int(save_every or steps), "method": method,
        "swept": {k: np.asarray(v).tolist() for k, v in values.items()},
        "grid_shape": None if grid_shape is None else list(grid_shape),
        "initial_state_sha1": _digest(_initial(x0, s) for s in seeds),
        "diagnostics": None if diagnostics is None else list(diagnostics), "final_states": bool(final_states),
        **(extra or {}),
    })


def _difference(old: dict, new: dict) -> str | None:
    # The digest of the initial state last: a changed shape or seed changes it too, and says more.
    for k in sorted(set(old) | set(new), key=lambda k: (k == "initial_state_sha1", k)):
        if old.get(k) != new.get(k):
            show = lambda v: json.dumps(v) if len(json.dumps(v)) < 60 else json.dumps(v)[:57] + "..."  # noqa: E731
            return f"{k}: {show(old.get(k, '(absent)'))} there, {show(new.get(k, '(absent)'))} now"
    return None


class SweepFolder:
    """The files of one sweep (see the module docstring)."""

    def __init__(self, folder, ident: dict):
        self.folder, self.ident = Path(folder), ident
        self.manifest, self.batches, self.dataset = self.folder / "sweep.json", self.folder / "batches", self.folder / "sweep.nc"

    def claim(self) -> None:
        """Write the manifest, or check that the one there describes the same sweep."""
        if self.manifest.exists():
            try:
                old = json.loads(self.manifest.read_text())
            except (OSError, ValueError):
                raise ConfigError(f"{str(self.manifest)!r} is not a readable sweep manifest; use another folder") from None
            diff = _difference(old, self.ident)
            if diff:
                raise ConfigError(f"folder {str(self.folder)!r} holds a different sweep ({diff}); "
                                  "use another --out folder, or --overwrite to start over")
        else:
            stray = [p.name for p in self.folder.glob("*") if not p.name.startswith(".")] if self.folder.exists() else []
            if "batches" in stray or "sweep.nc" in stray:
                raise ConfigError(f"folder {str(self.folder)!r} has sweep results but no sweep.json; use another folder")
            io.write_json(self.manifest, self.ident)

    def parts(self, grid_shape) -> list[SweepResult]:
        out = []
        for path in sorted(self.batches.glob("points_*.nc")):
            out.append(result_from_batch(io.open_dataset(path), grid_shape))
        return out

    def done(self, n_points: int, grid_shape) -> np.ndarray:
        mask = np.zeros(n_points, bool)
        for part in self.parts(grid_shape):
            mask[part.index] = True
        return mask

    def write(self, part: SweepResult, lat) -> None:
        io.save_dataset(batch_dataset(part, lat), self.batches / f"points_{int(part.index.min()):07d}.nc")


def sweep_to_folder(folder, model, lat, x0, dt, steps, grid=None, points=None, *, save_every=None, method="ssprk3",
                    diagnostics=None, summaries=None, final_states=False, batch_size=None, mesh=None, check=True,
                    progress=None, extra_identity=None, attrs=None):
    """`rj.sweep`, resumable: run into `folder`, picking up where an earlier run stopped.

    The arguments are those of `rj.sweep`, plus `extra_identity` (more JSON-able values that
    must match on resume) and `attrs` (written on `sweep.nc`). Finished batches are written
    as they complete; when every point is done `sweep.nc` is written, and
    `(result, {"points": P, "points_done_before": …, "points_run": …})` is returned, with
    `result` the `SweepResult` of all points (None on processes other than 0).
    `progress(done, total)` is called after every batch.
    """
    if (grid is None) == (points is None):
        raise ConfigError("give exactly one of grid={name: values} or points=[{name: value}, ...]")
    values, grid_shape = grid_points(grid) if grid is not None else (list_points(points), None)
    check_sweep(model, lat, x0, steps, save_every, method, values, diagnostics)  # bad input claims no folder
    P = len(next(iter(values.values()))) if values else 1
    ident = identity(model, lat, x0, dt, steps, values, grid_shape, save_every=save_every, method=method,
                     diagnostics=diagnostics, final_states=final_states, extra=extra_identity)
    store = SweepFolder(folder, ident)
    refusal = ""
    if dist.is_main():
        try:
            store.claim()
            done = store.done(P, grid_shape)
        except ConfigError as e:
            refusal, done = str(e), np.zeros(P, bool)
    else:
        done = np.zeros(P, bool)
    flag = dist.broadcast(np.concatenate([done, [bool(refusal)]]).astype(np.int8))
    if flag[-1]:
        raise ConfigError(refusal or "process 0 refused the sweep folder (see its error)")
    done = flag[:-1].astype(bool)
    n_before = int(done.sum())
    if progress:
        progress(n_before, P)
    n_run, layout = n_before, {}
    for part in iter_sweep(model, lat, x0, dt, steps, values, grid_shape=grid_shape, save_every=save_every,
                           method=method, diagnostics=diagnostics, summaries=summaries, final_states=final_states,
                           batch_size=batch_size, mesh=mesh, check=check, skip=done):
        if dist.is_main():
            store.write(part, lat)
        n_run += len(part)
        layout = part.layout or layout
        if progress:
            progress(n_run, P)
    result = None
    if dist.is_main():
        result = SweepResult.concatenate(store.parts(grid_shape))
        if len(result) != P or not np.array_equal(result.index, np.arange(P)):
            raise ConfigError(f"folder {str(folder)!r} has {len(result)} of {P} points after the run; its batches are inconsistent")
        result = dataclasses.replace(result, grid_shape=grid_shape)
        io.save_dataset(sweep_dataset(result, lat, {**(attrs or {}), "identity": json.dumps(ident)}), store.dataset)
    dist.barrier("rsvp sweep finished")
    return result, {"points": P, "points_done_before": n_before, "points_run": P - n_before, **layout}


__all__ = ["identity", "SweepFolder", "sweep_to_folder"]
