"""Figures of a detached Jacobian: reconstruction, heatmap, decoded spectra, ranks by layer.

Each function takes plain arrays / the dicts of `llm_spectra` and returns a matplotlib figure
(save it with `rsvp_jax.io.write_figure`, which writes atomically and closes it).
"""

from __future__ import annotations

import numpy as np
from rsvp_jax.plots import pyplot as _plt


def _short(text: str, n: int = 12) -> str:
    text = repr(text)[1:-1]
    return text if len(text) <= n else text[: n - 1] + "…"


def plot_reconstruction(output, reconstruction, relative_error: float, title: str = ""):
    """y against Σ J_i x_i + b (one point per hidden unit), and the residual per unit."""
    plt = _plt()
    y, y_hat = np.asarray(output, np.float64), np.asarray(reconstruction, np.float64)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2))
    lim = float(np.abs(np.concatenate([y, y_hat])).max()) * 1.05
    a.plot([-lim, lim], [-lim, lim], color="0.7", lw=1)
    a.scatter(y, y_hat, s=6, alpha=0.7)
    a.set(xlabel="model output y", ylabel=r"reconstruction $\sum_i J_i x_i + b$", xlim=(-lim, lim), ylim=(-lim, lim),
          title=f"relative error {relative_error:.2e}")
    b.plot(y_hat - y, lw=0.8)
    b.set(xlabel="hidden unit", ylabel=r"$\hat y - y$", title="residual")
    fig.suptitle(title or "detached Jacobian reconstruction")
    fig.tight_layout()
    return fig


def plot_heatmap(jacobian, tokens, title: str = ""):
    """[J_1 … J_T] as one image (output unit × (token, input unit)), token blocks marked."""
    plt = _plt()
    jac = np.asarray(jacobian, np.float64)
    d, t, e = jac.shape
    flat = jac.reshape(d, t * e)
    vmax = float(np.quantile(np.abs(flat), 0.995)) or 1.0
    fig, ax = plt.subplots(figsize=(min(16, 4 + 1.2 * t), 5))
    im = ax.imshow(flat, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    for i in range(1, t):
        ax.axvline(i * e - 0.5, color="k", lw=0.4)
    step = max(1, t // 24)
    ax.set_xticks([(i + 0.5) * e for i in range(0, t, step)], [_short(tokens[i]) for i in range(0, t, step)],
                  rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="output unit", title=title or r"detached Jacobian $[J_1 \cdots J_T]$")
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    return fig


def plot_spectra(spectra: dict, annotate: int = 3, title: str = ""):
    """σ/σ₁ of every token's J_i and of the joint map, the top joint modes labelled with the tokens
    their left singular vectors promote."""
    plt = _plt()
    tokens = spectra["tokens"]
    s_tok = np.asarray(spectra["token"]["sigma"], np.float64)
    s_joint = np.asarray(spectra["joint"]["sigma"], np.float64)
    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("viridis")
    for i, s in enumerate(s_tok):
        ax.semilogy(np.arange(1, len(s) + 1), s / s[0], color=cmap(i / max(1, len(s_tok) - 1)), lw=0.8,
                    label=_short(tokens[i]) if len(s_tok) <= 12 else None)
    ax.semilogy(np.arange(1, len(s_joint) + 1), s_joint / s_joint[0], color="k", lw=2, label=r"joint $[J_1\cdots J_T]$")
    for j, mode in enumerate(spectra["decoded"]["joint"][:annotate]):
        words = ", ".join(_short(w, 10) for w in mode["output_tokens"][:3])
        ax.annotate(f"{j + 1}: {words}", (j + 1, s_joint[j] / s_joint[0]), xytext=(15, -12 - 12 * j),
                    textcoords="offset points", fontsize=8, arrowprops=dict(arrowstyle="-", color="0.5", lw=0.5))
    ax.set_xscale("log")
    ax.set(xlabel="mode", ylabel=r"$\sigma_k/\sigma_1$", ylim=(max(1e-8, float(s_joint[-1] / s_joint[0]) / 2), 1.5),
           title=title or f"singular spectra (prediction: {spectra['prediction'].get('predicted_token', '')!r})")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    return fig


def plot_layer_ranks(layer: dict, title: str = ""):
    """Stable rank and effective rank of the joint layer maps (and their attention / MLP parts) by layer."""
    plt = _plt()
    layers = np.asarray(layer["layers"])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for p, part in enumerate(layer["parts"]):
        for ax, key in zip(axes[:2], ("stable_rank", "effective_rank")):
            ax.plot(layers, np.asarray(layer["summary"][key])[:, p], marker="o", ms=3, label=part)
        axes[2].semilogy(layers, np.maximum(np.asarray(layer["relative_error"])[:, p], 1e-17), marker="o", ms=3,
                         label=part)
    axes[0].set(xlabel="layer", ylabel="stable rank", title=r"stable rank $\|J\|_F^2/\sigma_1^2$")
    axes[1].set(xlabel="layer", ylabel="effective rank", title="effective rank (entropy)")
    axes[2].set(xlabel="layer", ylabel="relative error", title="reconstruction error")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(title or "detached Jacobians by layer (joint map, final-normed)")
    fig.tight_layout()
    return fig
