"""Figures of the dynamics over horizons: propagator spectra side by side, Lyapunov convergence,
and where the top global mode lives. Each returns a figure."""

from __future__ import annotations

import numpy as np

from ._jacobian import LABEL_COLOURS, _map2d
from ._pyplot import pyplot


def plot_horizon_spectra(spectra, title: str = "the propagator M(T) over a ladder of horizons"):
    """Left: σ_i/σ_1 of the top-k triplets at every horizon (one line each). Right: the SLQ
    estimate of the density of all σ (weighted nodes, as a cumulative count N(σ' ≥ σ)), where
    the spectra carry one."""
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12.0, 4.4), constrained_layout=True)
    cmap = plt.get_cmap("viridis")
    for i, ps in enumerate(spectra):
        colour = cmap(i / max(1, len(spectra) - 1))
        s = np.asarray(ps.sigma, float)
        ax.semilogy(np.arange(1, len(s) + 1), s / s[0], "o-", ms=3, color=colour,
                    label=f"T = {ps.horizon:g}: σ₁ = {s[0]:.3g}, stable rank {ps.stable_rank:.3g}")
        if ps.density is not None:
            nodes, weights = np.asarray(ps.density["nodes"]), np.asarray(ps.density["weights"])
            sig = np.sqrt(nodes.reshape(-1))
            w = ps.n * weights.reshape(-1) / nodes.shape[0]
            order = np.argsort(-sig)
            bx.loglog(np.maximum(sig[order] / s[0], 1e-12), np.maximum(np.cumsum(w[order]), 1e-3), color=colour,
                      label=f"T = {ps.horizon:g}: effective rank {ps.effective_rank:.4g} ± {ps.effective_rank_error:.2g}")
    ax.set(xlabel="mode i", ylabel="σ_i / σ_1", title="top singular values")
    ax.legend(fontsize=8)
    bx.set(xlabel="σ / σ_1", ylabel="modes with σ' ≥ σ (SLQ estimate)", title="the whole spectrum, estimated")
    if bx.lines:
        bx.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def plot_lyapunov(ly, title: str = "finite-time Lyapunov exponents"):
    """The running estimates λ_i(t) after each re-orthonormalisation, one line per exponent."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.4), constrained_layout=True)
    running = np.asarray(ly.running)
    for i in range(running.shape[1]):
        ax.plot(ly.times, running[:, i], lw=1.2 if i == 0 else 0.8, color=plt.get_cmap("plasma")(i / max(1, running.shape[1])))
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set(xlabel="time t", ylabel="λ_i(t)", title=f"{title}: λ₁ = {ly.exponents[0]:.4g} over T = {ly.horizon:g}")
    return fig


def plot_mode_maps(mode_maps, horizons, lat, title: str = "where the top propagator mode lives"):
    """Per horizon: the top input mode's energy per tile (top row) and its label per tile (bottom)."""
    plt = pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap

    n = len(mode_maps)
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n + 0.6, 6.6), constrained_layout=True, squeeze=False)
    extent = (0, lat.extent[1], lat.extent[0], 0) if lat.ndim > 1 else (0, lat.extent[0], 1, 0)
    cmap = ListedColormap(LABEL_COLOURS)
    norm = BoundaryNorm(np.arange(len(LABEL_COLOURS) + 1) - 0.5, len(LABEL_COLOURS))
    for j, (mm, T) in enumerate(zip(mode_maps, horizons)):
        im = axes[0, j].imshow(_map2d(mm.energy[0]), cmap="magma", extent=extent, interpolation="nearest")
        fig.colorbar(im, ax=axes[0, j], shrink=0.8)
        axes[0, j].set_title(f"T = {T:g}: energy of v₁ per tile")
        axes[1, j].imshow(_map2d(mm.labels[0]), cmap=cmap, norm=norm, extent=extent, interpolation="nearest")
        axes[1, j].set_title("label of v₁ per tile")
    fig.suptitle(title + (" (z mid-plane)" if lat.ndim == 3 else ""))
    return fig


__all__ = ["plot_horizon_spectra", "plot_lyapunov", "plot_mode_maps"]
