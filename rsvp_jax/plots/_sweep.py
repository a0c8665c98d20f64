"""Figures of a sweep dataset (`rsvp_jax._sweep_store.sweep_dataset`): heat maps and lines.

- two or more swept parameters: one heat map per summary over the first two (the mean
  over any others, and over `seed`, which is treated as repeats rather than a parameter);
- one swept parameter: one line per summary against it;
- every point's diagnostic over time, coloured by the first swept parameter.

Failed points (status ≠ 0) are blank in heat maps and marked ×.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..sweeps import SEED
from ._pyplot import pyplot


def _axes_of(ds) -> tuple[list[str], list[str]]:
    """(the dims shown, the dims averaged over): `seed` and dims past the second are averaged."""
    dims = [d for d in ds["status"].dims]
    shown = [d for d in dims if d != SEED] or dims
    return shown[:2], [d for d in dims if d not in shown[:2]]


def _ticks(ax, values, axis: str) -> None:
    idx = np.arange(len(values))
    step = max(1, len(values) // 8)
    labels = [f"{v:.3g}" for v in np.asarray(values)[::step]]
    if axis == "x":
        ax.set_xticks(idx[::step], labels, rotation=45 if len(labels) > 4 else 0)
    else:
        ax.set_yticks(idx[::step], labels)


def plot_sweep(ds, summaries: Sequence[str], title: str | None = None):
    """Heat maps (two swept parameters) or lines (one) of each name in `summaries`."""
    plt = pyplot()
    shown, averaged = _axes_of(ds)
    names = [s for s in summaries if s in ds]
    n = max(1, len(names))
    fig, axs = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False, constrained_layout=True)
    failed = (ds["status"] != 0).any(averaged) if averaged else ds["status"] != 0
    note = f" (mean over {', '.join(averaged)})" if averaged else ""
    for ax, name in zip(axs[0], names):
        da, label = ds[name], name
        if "time" in da.dims:
            da, label = da.isel(time=-1), f"{name} (final)"
        da = da.mean(averaged, skipna=True) if averaged else da
        if len(shown) == 2:
            a, b = shown
            z = da.transpose(a, b).values
            im = ax.imshow(z.T, origin="lower", aspect="auto", cmap="viridis")
            fig.colorbar(im, ax=ax, shrink=0.85)
            bad = np.argwhere(failed.transpose(a, b).values)
            if len(bad):
                ax.plot(bad[:, 0], bad[:, 1], "x", color="crimson", ms=7, label="failed")
            _ticks(ax, ds[a].values, "x")
            _ticks(ax, ds[b].values, "y")
            ax.set_xlabel(a)
            ax.set_ylabel(b)
        else:
            (a,) = shown
            x = ds[a].values
            ax.plot(x, da.values, "o-", ms=4)
            bad = failed.values
            if bad.any():
                finite = np.isfinite(da.values)
                y0 = np.min(da.values[finite]) if finite.any() else 0.0
                ax.plot(x[bad], np.full(bad.sum(), y0), "x", color="crimson", ms=8, label="failed")
                ax.legend(fontsize=8)
            ax.set_xlabel(a)
        ax.set_title(f"{label}{note}", fontsize=10)
    if not names:
        axs[0][0].text(0.5, 0.5, "no summaries to show", ha="center", va="center")
    fig.suptitle(title or "sweep", fontsize=11)
    return fig


def plot_sweep_diagnostic(ds, name: str, title: str | None = None):
    """`name` over time for every point, coloured by the first swept parameter."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8), constrained_layout=True)
    da = ds[name]
    point_dims = [d for d in da.dims if d != "time"]
    flat = da.stack(_p=point_dims).transpose("_p", "time") if point_dims else da.expand_dims("_p")
    shown, _ = _axes_of(ds)
    key = ds[shown[0]].broadcast_like(ds["status"]).stack(_p=point_dims).values if point_dims else np.zeros(1)
    lo, hi = np.nanmin(key), np.nanmax(key)
    cmap = plt.get_cmap("viridis")
    t = ds["time"].values
    for y, k in zip(flat.values, key):
        ax.plot(t, y, color=cmap(0.5 if hi == lo else (k - lo) / (hi - lo)), lw=1)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo, hi if hi > lo else lo + 1))
    fig.colorbar(sm, ax=ax, label=shown[0])
    ax.set_xlabel("time")
    ax.set_ylabel(name)
    ax.set_title(title or f"{name} over time, every point", fontsize=10)
    return fig


__all__ = ["plot_sweep", "plot_sweep_diagnostic"]
