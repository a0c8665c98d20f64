"""Figures of calibration: the loss and parameters over a fit, and the identifiability spectrum."""

from __future__ import annotations

import numpy as np

from ._pyplot import pyplot


def plot_fit(result, truth=None, title: str = ""):
    """Two panels: the loss over the iterations (log scale), and each fitted parameter's path —
    its relative error |θ − θ*| / |θ*| against `truth` (a model) if given, else θ / θ_final."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (ax_l, ax_p) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    it = np.arange(len(result.loss_history))
    loss = np.asarray(result.loss_history, np.float64)
    ax_l.semilogy(it, np.where(loss > 0, loss, np.nan), marker="." if len(it) < 60 else None)
    ax_l.set_xlabel("iteration")
    ax_l.set_ylabel("loss (normalized mean squared misfit)")
    ax_l.set_title(f"{result.optimizer}: {result.reason} after {result.iterations} iterations")
    ax_l.grid(True, which="both", alpha=0.3)
    for ax in (ax_l, ax_p):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for name, path in result.param_history.items():
        path = np.asarray(path, np.float64)
        if truth is not None:
            ref = float(getattr(truth, name))
            err = np.abs(path - ref) / max(abs(ref), 1e-300)
            ax_p.semilogy(it, np.where(err > 0, err, np.nan), label=f"{name} (true {ref:g})")
        else:
            ax_p.plot(it, path / (path[-1] if path[-1] != 0 else 1.0), label=f"{name} → {path[-1]:.6g}")
    if result.param_history:
        ax_p.legend(fontsize=8)
    ax_p.set_xlabel("iteration")
    ax_p.set_ylabel("relative error" if truth is not None else "θ / θ_fitted")
    ax_p.set_title("parameters" + (" vs truth" if truth is not None else ""))
    ax_p.grid(True, which="both", alpha=0.3)
    if not result.param_history:
        ax_p.text(0.5, 0.5, f"initial fields fitted: {', '.join(result.fit_initial)}", ha="center", transform=ax_p.transAxes)
    if title:
        fig.suptitle(title)
    return fig


def plot_sensitivity(sens, title: str = ""):
    """Two panels: the eigenvalues of the (scaled) Gauss–Newton matrix, normalized by the largest
    (log scale), and the parameter make-up of each eigen-direction (a signed heat map)."""
    plt = pyplot()
    P = len(sens.names)
    fig, (ax_e, ax_v) = plt.subplots(1, 2, figsize=(4 + 1.2 * P + 4, 3.8), constrained_layout=True)
    lam = np.asarray(sens.eigenvalues, np.float64)
    norm = lam / lam[0] if lam[0] > 0 else lam
    ax_e.bar(np.arange(1, P + 1), np.where(norm > 0, norm, np.nan), color="tab:blue")
    ax_e.set_yscale("log")
    ax_e.set_xticks(range(1, P + 1))
    ax_e.set_xlabel("direction k")
    ax_e.set_ylabel("λ_k / λ_1")
    ax_e.set_title(f"identifiability (condition {sens.condition_number:.3g})")
    lim = float(np.max(np.abs(sens.eigenvectors))) or 1.0
    im = ax_v.imshow(sens.eigenvectors, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax_v.set_yticks(range(P), sens.names)
    ax_v.set_xticks(range(P), [str(k + 1) for k in range(P)])
    ax_v.set_xlabel("direction k")
    ax_v.set_title("make-up of each direction" + (" (log θ)" if np.any(sens.scales != 1) else ""))
    fig.colorbar(im, ax=ax_v, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig
