"""Figures: the fields of a state, and diagnostics over time. Matplotlib (Agg), returning figures."""

from __future__ import annotations

import numpy as np

from .. import lattice as L
from ..diagnostics import DESCRIPTIONS
from ..lattice import Lattice
from ..state import State
from ._pyplot import pyplot


def _slice3d(a, lat: Lattice):
    """The mid-plane z = N_z/2 of a 3D field (2D/1D fields pass through)."""
    return a[..., lat.shape[2] // 2] if lat.ndim == 3 else a


def field_panels(lat: Lattice, x: State) -> dict[str, np.ndarray]:
    """The arrays the field figure shows: Φ, |v|, S and the vorticity (mid-plane in 3D)."""
    v = np.asarray(x.v)
    vort = np.asarray(L.curl(x.v, lat))
    if lat.ndim == 3:
        vort = vort[2]  # the z component, on the mid-plane below
    return {
        "phi": _slice3d(np.asarray(x.phi), lat),
        "speed": _slice3d(np.sqrt(np.sum(v**2, axis=0)), lat),
        "S": _slice3d(np.asarray(x.S), lat),
        "vorticity": _slice3d(vort, lat),
        "v": _slice3d(v[:2], lat),
    }


def plot_fields(lat: Lattice, x: State, title: str = ""):
    """Φ, |v| (with arrows), S and vorticity of one state; the z mid-plane in 3D, lines in 1D."""
    plt = pyplot()
    panels = field_panels(lat, x)
    names = [("phi", "Φ", "viridis"), ("speed", "|v|", "magma"), ("S", "S", "cividis"), ("vorticity", "∇×v", "RdBu_r")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), constrained_layout=True)
    if lat.ndim == 1:
        xs = lat.coords()[0]
        for ax, (key, label, _) in zip(axes, names):
            ax.plot(xs, panels[key] if key != "vorticity" else np.asarray(x.v)[0])
            ax.set_title(label if key != "vorticity" else "v")
            ax.set_xlabel("x")
    else:
        extent = (0, lat.extent[1], lat.extent[0], 0)
        for ax, (key, label, cmap) in zip(axes, names):
            data = panels[key]
            kw = {}
            if key == "vorticity":
                lim = float(np.max(np.abs(data))) or 1.0
                kw = dict(vmin=-lim, vmax=lim)
            im = ax.imshow(data, cmap=cmap, extent=extent, origin="upper", **kw)
            fig.colorbar(im, ax=ax, shrink=0.8)
            ax.set_title(label + (" (z mid-plane)" if lat.ndim == 3 else ""))
            ax.set_xlabel("axis 2")
            ax.set_ylabel("axis 1")
        stride = max(1, max(lat.shape[:2]) // 24)
        X1, X2 = (c[::stride, ::stride] for c in np.meshgrid(*lat.coords()[:2], indexing="ij"))
        v = panels["v"][:, ::stride, ::stride]
        axes[1].quiver(X2, X1, v[1], v[0], color="white", alpha=0.8, angles="xy")  # data axes: axis 1 points down
    if title:
        fig.suptitle(title)
    return fig


def plot_diagnostics(traj, title: str = ""):
    """Each diagnostic of a trajectory against time, one small panel each."""
    plt = pyplot()
    keys = list(traj.diagnostics)
    cols = 3
    rows = max(1, -(-len(keys) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), constrained_layout=True, squeeze=False)
    t = np.asarray(traj.times)
    for ax, key in zip(axes.flat, keys):
        y = np.asarray(traj.diagnostics[key])
        ax.plot(t, y, marker="." if len(t) < 40 else None)
        ax.set_title(f"{key}: {DESCRIPTIONS.get(key, '')}", fontsize=9)
        ax.set_xlabel("t")
        if key in ("invariant", "phi_total") and np.ptp(y) < 1e-6 * max(np.max(np.abs(y)), 1e-30):
            ax.ticklabel_format(useOffset=True, style="plain", axis="y")
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig
