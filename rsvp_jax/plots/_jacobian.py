"""Figures of the TARTAN view: maps over the tile grid, tile spectra, the whole-lattice top-k,
the evolution of tile modes over a run, and the seed's prototype. Each returns a figure."""

from __future__ import annotations

import numpy as np

from ..jacobian import LABELS
from ._pyplot import pyplot

LABEL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")  # one per entry of LABELS


def _map2d(a):
    """A tile map as 2D: a 1D map becomes one row; a 3D map its mid-plane along the last axis."""
    a = np.asarray(a)
    if a.ndim == 1:
        return a[None, :]
    if a.ndim == 3:
        return a[..., a.shape[2] // 2]
    return a


def plot_tile_map(values, title: str, lat, tile, cmap: str = "viridis", label: str = ""):
    """One scalar per tile (e.g. σ₁ or the effective rank) over the lattice."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.6), constrained_layout=True)
    data = _map2d(values)
    extent = (0, lat.extent[1], lat.extent[0], 0) if lat.ndim > 1 else (0, lat.extent[0], 1, 0)
    im = ax.imshow(data, cmap=cmap, extent=extent, origin="upper", aspect="auto" if lat.ndim == 1 else "equal",
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.85, label=label)
    ax.set_title(title + (" (z mid-plane)" if lat.ndim == 3 else ""))
    ax.set_xlabel("axis 2" if lat.ndim > 1 else "axis 1")
    if lat.ndim > 1:
        ax.set_ylabel("axis 1")
    else:
        ax.set_yticks([])
    return fig


def plot_label_map(labels, lat, title: str = "dominant mode of each tile"):
    """The label (`LABELS`) of each tile, one colour per label, with a legend of counts."""
    plt = pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(6.4, 4.6), constrained_layout=True)
    data = _map2d(labels)
    cmap = ListedColormap(LABEL_COLOURS)
    norm = BoundaryNorm(np.arange(len(LABELS) + 1) - 0.5, len(LABELS))
    extent = (0, lat.extent[1], lat.extent[0], 0) if lat.ndim > 1 else (0, lat.extent[0], 1, 0)
    ax.imshow(data, cmap=cmap, norm=norm, extent=extent, origin="upper", interpolation="nearest",
              aspect="auto" if lat.ndim == 1 else "equal")
    codes = np.asarray(labels).reshape(-1)
    handles = [Patch(color=c, label=f"{name} ({int(np.sum(codes == i))})") for i, (name, c) in enumerate(zip(LABELS, LABEL_COLOURS))]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title(title + (" (z mid-plane)" if lat.ndim == 3 else ""))
    return fig


def pick_tiles(analysis, count: int = 4) -> list[tuple[int, ...]]:
    """A few telling tiles: the largest and smallest σ₁ and effective rank (distinct)."""
    picks = []
    for key, fn in (("sigma_max", np.argmax), ("sigma_max", np.argmin), ("effective_rank", np.argmax),
                    ("effective_rank", np.argmin)):
        idx = np.unravel_index(int(fn(np.asarray(analysis.summary[key]))), analysis.grid)
        if idx not in picks:
            picks.append(tuple(int(i) for i in idx))
    return picks[:count]


def plot_tile_spectra(analysis, tiles=None, title: str = "singular spectra of a few tiles"):
    """σ_i of a few tiles (log scale), each labelled with its index, σ₁ and effective rank."""
    plt = pyplot()
    tiles = tiles or pick_tiles(analysis)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for t in tiles:
        s = np.asarray(analysis.sigma[t])
        er = float(np.asarray(analysis.summary["effective_rank"])[t])
        lab = LABELS[int(np.asarray(analysis.labels)[t])]
        axes[0].semilogy(np.arange(1, len(s) + 1), s, marker="." if len(s) <= 64 else None,
                         label=f"tile {t}: σ₁={s[0]:.4g}, eff. rank {er:.1f}, {lab}")
        axes[1].plot(np.arange(1, len(s) + 1), np.asarray(analysis.summary["cumulative_energy"][t]))
    axes[0].set_xlabel("mode i")
    axes[0].set_ylabel("σ_i")
    axes[0].legend(fontsize=7)
    axes[0].grid(True, which="both", alpha=0.3)
    axes[1].set_xlabel("mode i")
    axes[1].set_ylabel("cumulative energy Σσ²")
    axes[1].axhline(0.9, color="grey", lw=0.8, ls="--")
    axes[1].axhline(0.99, color="grey", lw=0.8, ls=":")
    axes[1].grid(True, alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_lattice_topk(top, title: str = "whole-lattice top singular values"):
    """The matrix-free top-k σ_i with their residuals ‖Jᵀu − σv‖ / ‖Jv − σu‖."""
    plt = pyplot()
    s, res = np.asarray(top.sigma), np.asarray(top.residual)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    i = np.arange(1, len(s) + 1)
    axes[0].plot(i, s, marker="o")
    axes[0].set_xlabel("mode i")
    axes[0].set_ylabel("σ_i")
    axes[0].grid(True, alpha=0.3)
    axes[1].semilogy(i, np.maximum(res, 1e-300), marker="o", color="C3")
    axes[1].set_xlabel("mode i")
    axes[1].set_ylabel("residual")
    axes[1].grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{title} ({top.algorithm}, {top.matvecs} products with J or Jᵀ)")
    return fig


def plot_tile_evolution(evolution, title: str = "tile modes over time"):
    """Label fractions, mean σ₁ / effective rank, and the overlap of tracked modes, against time."""
    plt = pyplot()
    t = evolution.times
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), constrained_layout=True)
    codes = evolution.labels.reshape(len(t), -1)
    for i, (name, c) in enumerate(zip(LABELS, LABEL_COLOURS)):
        axes[0].plot(t, np.mean(codes == i, axis=1), marker=".", color=c, label=name)
    axes[0].set_ylabel("fraction of tiles")
    axes[0].legend(fontsize=7)
    axes[1].plot(t, evolution.sigma_max.reshape(len(t), -1).mean(1), marker=".", label="mean σ₁")
    ax2 = axes[1].twinx()
    ax2.plot(t, evolution.effective_rank.reshape(len(t), -1).mean(1), marker=".", color="C1", label="mean eff. rank")
    axes[1].set_ylabel("mean σ₁")
    ax2.set_ylabel("mean effective rank", color="C1")
    if len(t) > 1:
        ov = evolution.overlap.reshape(len(t) - 1, -1, evolution.overlap.shape[-1]).mean(1)
        mid = 0.5 * (t[1:] + t[:-1])
        for j in range(ov.shape[-1]):
            axes[2].plot(mid, ov[:, j], marker=".", label=f"mode {j + 1}")
        axes[2].legend(fontsize=7)
    axes[2].set_ylim(0, 1.05)
    axes[2].set_ylabel("mean overlap |⟨v(t), v(t′)⟩|")
    for ax in axes:
        ax.set_xlabel("t")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_seed_prototype(proto):
    """The seed's outputs: the Jacobian heatmap, the log singular-value spectrum, the top input and
    output directions, beside the central difference's error."""
    plt = pyplot()
    names = ["Φ", "v₁", "v₂", "S"]
    fig, axes = plt.subplots(1, 5, figsize=(20, 3.9), constrained_layout=True)
    im = axes[0].imshow(proto.jacobian, cmap="coolwarm", aspect="auto")
    fig.colorbar(im, ax=axes[0])
    axes[0].set_title("RSVP Tile Jacobian (exact)")
    err = np.abs(proto.jacobian_fd - proto.jacobian)
    im = axes[1].imshow(np.log10(np.maximum(err, 1e-18)), cmap="magma", aspect="auto")
    fig.colorbar(im, ax=axes[1], label="log₁₀ |J_fd − J|")
    axes[1].set_title(f"central difference (eps = 1e-5): max error {proto.fd_error:.1e}")
    for ax in axes[:2]:
        ax.set_xticks(range(4), names)
        ax.set_yticks(range(4), [n + "′" for n in names])
    axes[2].plot(proto.singular_values, marker="o")
    axes[2].set_yscale("log")
    axes[2].set_title("Singular Value Spectrum (Semantic Compressibility)")
    axes[2].set_xlabel("Mode")
    axes[2].set_ylabel("Strength")
    axes[2].grid(True)
    axes[3].bar(names, proto.top_input, color="C0")
    axes[3].set_title("Top input direction (Vh[0])")
    axes[4].bar([n + "′" for n in names], proto.top_output, color="C1")
    axes[4].set_title("Top output mode (U[:,0])")
    for ax in axes[3:]:
        ax.axhline(0, color="k", lw=0.6)
    fig.suptitle(f"The seed's prototype at x0 = {list(proto.x0)} (neighbours: {proto.neighbours})")
    return fig


__all__ = ["plot_tile_map", "plot_label_map", "plot_tile_spectra", "plot_lattice_topk", "plot_tile_evolution",
           "plot_seed_prototype", "pick_tiles", "LABEL_COLOURS"]
