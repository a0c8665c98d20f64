"""Files: trajectories as self-describing NetCDF (via xarray), JSON summaries, atomic writes.

A trajectory file holds `phi (time, x[, y[, z]])`, `v (time, component, x, ...)`,
`S (time, x, ...)` and one variable per diagnostic over `time`, with coordinates (cell
centres, times, step numbers) and attributes naming the preset, every parameter
(`param_<name>`), the lattice spacing, dt and the integrator. Every file is written to a
temporary name in the same folder and renamed into place, so a crash never leaves a
half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from .errors import ConfigError
from .lattice import Lattice
from .state import State

AXES = ("x", "y", "z")
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success rename it to `path`, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    arr = np.asarray(obj)
    if arr.dtype.kind in "biuf":
        if arr.ndim == 0:
            value = arr.item()
            return None if isinstance(value, float) and not math.isfinite(value) else value
        return [_jsonable(v) for v in arr]
    return str(obj)


def write_json(path, obj) -> None:
    """Write `obj` (dicts, lists, numbers, arrays) as indented JSON, atomically; NaN / inf become null."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def write_figure(fig, path, dpi: int = 110) -> None:
    """Save a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def model_attrs(model) -> dict:
    """A model's identity as NetCDF attributes: `preset` and `param_<name>` for every field."""
    attrs = {"preset": model.name}
    for key, value in model.params().items():
        arr = np.asarray(value)
        attrs[f"param_{key}"] = value if isinstance(value, str) else (int(value) if arr.dtype == bool else arr.tolist())
    return attrs


def model_from_attrs(attrs: dict):
    """The model a file's attributes describe (the inverse of `model_attrs`)."""
    from .models import preset

    if "preset" not in attrs:
        raise ConfigError("the file has no 'preset' attribute; it was not written by rsvp_jax")
    model = preset(str(attrs["preset"]))
    params = {k[len("param_"):]: v for k, v in attrs.items() if k.startswith("param_")}
    kinds = {f: type(getattr(model, f)) for f in params if hasattr(model, f)}
    cast = {f: (bool(v) if kinds.get(f) is bool else int(v) if kinds.get(f) is int else
                str(v) if kinds.get(f) is str else float(v)) for f, v in params.items()}
    return model.replace(**cast)


def trajectory_dataset(traj, model, lat: Lattice, dt=None, method=None, extra_attrs=None):
    """A `Trajectory` as an `xarray.Dataset` with coordinates and the model's parameters as attributes."""
    import xarray as xr

    D = lat.ndim
    space = AXES[:D]
    coords = {ax: c for ax, c in zip(space, lat.coords())}
    coords["time"] = np.asarray(traj.times)
    coords["step"] = ("time", np.asarray(traj.steps))
    coords["component"] = list(AXES[:D])
    data = {
        "phi": (("time", *space), np.asarray(traj.states.phi)),
        "v": (("time", "component", *space), np.asarray(traj.states.v)),
        "S": (("time", *space), np.asarray(traj.states.S)),
    }
    for key, values in traj.diagnostics.items():
        data[key] = ("time", np.asarray(values))
    attrs = {**model_attrs(model), "spacing": lat.spacing, "shape": list(lat.shape), "format": "rsvp-jax trajectory 1"}
    if dt is not None:
        attrs["dt"] = float(dt)
    if method is not None:
        attrs["method"] = method
    attrs.update(extra_attrs or {})
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds["phi"].attrs["long_name"] = "capacity Φ"
    ds["v"].attrs["long_name"] = "flow v"
    ds["S"].attrs["long_name"] = "entropy S"
    return ds


#: CF long names of the variables and coordinates the datasets share (others: their name, spelled out).
LONG_NAMES = {
    "phi": "capacity Φ", "v": "flow v", "S": "entropy S", "time": "model time", "step": "step number",
    "component": "component of the flow v", "x": "cell centre along x", "y": "cell centre along y",
    "z": "cell centre along z", "iteration": "optimizer iteration", "loss": "loss (mean squared misfit)",
}
_AXIS = {"x": "X", "y": "Y", "z": "Z", "time": "T"}


def cf_attrs(ds):
    """A copy of `ds` following the CF conventions xarray users expect: every variable and coordinate
    with `long_name` and (numbers) `units` ("1": the model is nondimensional, in lattice units), the
    spatial and time coordinates with `axis`, and global `Conventions`, `title`, `source` and
    `history` (the full command line that wrote it). Attributes already set are kept."""
    from .diagnostics import DESCRIPTIONS
    from .provenance import command_line, version

    ds = ds.copy()
    for name in [*ds.coords, *ds.data_vars]:
        a = ds[name].attrs
        a.setdefault("long_name", LONG_NAMES.get(name) or DESCRIPTIONS.get(name) or str(name).replace("_", " "))
        if ds[name].dtype.kind in "biufc":
            a.setdefault("units", "1")
        if name in _AXIS and name in ds.dims:
            a.setdefault("axis", _AXIS[name])
    fmt = ds.attrs.get("format", "rsvp-jax dataset")
    ds.attrs = {"Conventions": "CF-1.8", "title": str(fmt), "source": f"rsvp-jax {version()}",
                "history": command_line(), **ds.attrs}
    return ds


def save_dataset(ds, path) -> None:
    """Write an `xarray.Dataset` to NetCDF (h5netcdf engine) atomically, with its CF attributes (`cf_attrs`)."""
    ds = cf_attrs(ds)
    ds.attrs = {k: (json.dumps(v) if isinstance(v, (dict, list)) and k != "shape" else v) for k, v in ds.attrs.items()}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")


def save_trajectory(path, traj, model, lat: Lattice, dt=None, method=None, extra_attrs=None) -> None:
    """Write a trajectory to NetCDF at `path`, atomically."""
    save_dataset(trajectory_dataset(traj, model, lat, dt, method, extra_attrs), path)


def open_dataset(path):
    """Open a NetCDF file fully into memory; a missing or unreadable file is a `ConfigError`."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"file {str(path)!r} does not exist")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as e:  # h5py / xarray raise many kinds; all mean "not a readable NetCDF file"
        raise ConfigError(f"file {str(path)!r} is not a readable NetCDF file ({type(e).__name__}: {e})".splitlines()[0]) from None


def load_trajectory(path):
    """Read a trajectory file: returns `(model, lattice, trajectory, attrs)`.

    A file without the layout `trajectory_dataset` writes is a one-line `ConfigError`.
    """
    from .integrate import Trajectory

    ds = open_dataset(path)
    missing = [k for k in ("phi", "v", "S", "time") if k not in ds.variables]
    if missing:
        raise ConfigError(f"file {str(path)!r} is not an rsvp trajectory: it lacks {', '.join(missing)}")
    space = [d for d in ds["phi"].dims if d != "time"]
    if ds["phi"].dims[0] != "time" or not 1 <= len(space) <= 3 or tuple(ds["v"].dims) != ("time", "component", *space):
        raise ConfigError(
            f"file {str(path)!r} has the wrong layout: phi {ds['phi'].dims}, v {ds['v'].dims}; "
            "expected phi (time, x[, y[, z]]) and v (time, component, x[, ...])"
        )
    shape = tuple(ds.sizes[d] for d in space)
    if ds["S"].dims != ds["phi"].dims:
        size = lambda k: "x".join(str(ds[k].sizes[d]) for d in ds[k].dims if d != "time") or "(none)"  # noqa: E731
        raise ConfigError(f"file {str(path)!r} has inconsistent shapes: S is on {size('S')} cells over "
                          f"{ds['S'].dims}, phi on {size('phi')} over {ds['phi'].dims}; every field must be on "
                          "the same lattice")
    if ds["v"].sizes["component"] != len(space):
        raise ConfigError(f"file {str(path)!r} has inconsistent shapes: v has {ds['v'].sizes['component']} components for a {len(space)}D lattice")
    spacing = float(ds.attrs.get("spacing", float(ds[space[0]][1] - ds[space[0]][0]) if shape[0] > 1 else 1.0))
    lat = Lattice(shape, spacing)
    model = model_from_attrs(dict(ds.attrs))
    states = State(jnp.asarray(ds["phi"].values), jnp.asarray(ds["v"].values), jnp.asarray(ds["S"].values))
    steps = ds["step"].values if "step" in ds.coords else np.arange(ds.sizes["time"])
    diags = {k: jnp.asarray(ds[k].values) for k in ds.data_vars if k not in ("phi", "v", "S") and ds[k].dims == ("time",)}
    traj = Trajectory(states, jnp.asarray(ds["time"].values), jnp.asarray(steps), diags)
    return model, lat, traj, dict(ds.attrs)
