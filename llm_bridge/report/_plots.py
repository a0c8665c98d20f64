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


def plot_attribution(attr, title: str = ""):
    """The attribution as a heat map: rows the layers, each a band of its heads then its MLP (heads
    stacked), columns the prompt's tokens; beside it each layer's heads and MLP totals."""
    plt = _plt()
    c = np.asarray(attr.contributions, np.float64)
    n_layers, n_comp, t = c.shape
    rows = c.reshape(n_layers * n_comp, t)
    vmax = float(np.abs(rows).max()) or 1.0
    fig, (ax, side) = plt.subplots(1, 2, figsize=(min(16, 5 + 0.5 * t), min(14, 3 + 0.12 * n_layers * n_comp)),
                                   gridspec_kw={"width_ratios": [4, 1]}, sharey=True)
    im = ax.imshow(rows, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    for l in range(1, n_layers):
        ax.axhline(l * n_comp - 0.5, color="k", lw=0.3)
    step = max(1, n_layers // 16)
    ax.set_yticks([l * n_comp + (n_comp - 1) / 2 for l in range(0, n_layers, step)],
                  [f"L{l}" for l in range(0, n_layers, step)], fontsize=8)
    step = max(1, t // 24)
    ax.set_xticks(range(0, t, step), [_short(attr.tokens[i]) for i in range(0, t, step)], rotation=45, ha="right",
                  fontsize=8)
    ax.set(xlabel="input token", ylabel=f"layer (heads H0..H{n_comp - 2}, then the MLP)")
    fig.colorbar(im, ax=ax, fraction=0.03, label="contribution to the logit")
    per = c.sum(-1)  # (L, H+1)
    y = np.arange(n_layers) * n_comp + (n_comp - 1) / 2
    side.barh(y - n_comp * 0.2, per[:, :-1].sum(1), height=n_comp * 0.4, label="heads", color="C0")
    side.barh(y + n_comp * 0.2, per[:, -1], height=n_comp * 0.4, label="MLP", color="C1")
    side.axvline(0, color="k", lw=0.5)
    side.set(xlabel="layer total")
    side.legend(fontsize=7)
    what = repr(attr.target_text) + ("" if attr.contrast is None else f" − {attr.contrast_text!r}")
    fig.suptitle(title or f"exact attribution of the logit {what} = {attr.logit:.3f} (embedding path "
                          f"{attr.embedding.sum():.3f}, biases {attr.bias_part:.3f}; error {attr.error:.1e})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_lens(lens, title: str = ""):
    """The detached lens by layer: how often its decoding (and the logit lens's) gives the model's
    prediction, and how much the per-prompt maps spread around their mean."""
    plt = _plt()
    layers = np.asarray(lens.layers)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(layers, lens.agreement, marker="o", ms=3, label=f"detached lens ({lens.span.replace('_', ' ')})")
    a.plot(layers, lens.logit_lens_agreement, marker="s", ms=3, label="logit lens")
    a.set(xlabel="layer", ylabel="top-1 = the model's prediction", ylim=(-0.05, 1.05),
          title=f"decoding intermediate layers ({lens.count} prompts)")
    a.legend(fontsize=8)
    b.plot(layers, lens.relative_spread, marker="o", ms=3)
    b.set(xlabel="layer", ylabel=r"$\sqrt{\langle\|A_p-\bar A\|^2\rangle}/\|\bar A\|$",
          title="spread of the per-prompt maps")
    fig.suptitle(title or "detached lens")
    fig.tight_layout()
    return fig


def plot_gap(gap: dict, title: str = ""):
    """‖J_ordinary − J_detached‖ / ‖J_detached‖ by layer and part: what the frozen gates hide."""
    plt = _plt()
    layers = np.asarray(gap["layers"])
    fig, ax = plt.subplots(figsize=(7, 4))
    for p, part in enumerate(gap["parts"]):
        ax.semilogy(layers, np.maximum(np.asarray(gap["relative"])[:, p], 1e-17), marker="o", ms=3, label=part)
    ax.set(xlabel="layer", ylabel=r"$\|J_{ord} - J_{det}\|_F / \|J_{det}\|_F$",
           title=title or f"detachment gap ({gap['span'].replace('_', ' ')})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_token_importance(importance: dict, tokens, title: str = ""):
    """Each input token's ‖J_i‖_F and ‖J_i x_i‖ (shares of their totals), as bars."""
    plt = _plt()
    jn = np.asarray(importance["jacobian_norm"], np.float64)
    cn = np.asarray(importance["contribution_norm"], np.float64)
    t = len(jn)
    fig, ax = plt.subplots(figsize=(min(14, 4 + 0.5 * t), 3.8))
    pos = np.arange(t)
    ax.bar(pos - 0.2, jn / jn.sum(), width=0.4, label=r"$\|J_i\|_F$")
    ax.bar(pos + 0.2, cn / cn.sum(), width=0.4, label=r"$\|J_i x_i\|$")
    ax.set_xticks(pos, [_short(w) for w in tokens], rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="share", title=title or "token importance")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_singular_path(path: dict, title: str = ""):
    """The top singular vector of each layer's map: its cosine with the last layer's and with the
    prediction's unembedding row, each point labelled with the token it promotes most."""
    plt = _plt()
    layers = np.asarray(path["layers"])
    fig, ax = plt.subplots(figsize=(max(7, 0.35 * len(layers) + 3), 4.5))
    ax.plot(layers, np.abs(path["overlap_last"]), marker="o", ms=3, label=r"$|\langle u_1^{(l)}, u_1^{(last)}\rangle|$")
    ax.plot(layers, path["overlap_prediction"], marker="s", ms=3,
            label=f"cosine with the unembedding of {path['predicted_token']!r}")
    for l, y, words in zip(layers, np.abs(path["overlap_last"]), path["tokens"]):
        ax.annotate(_short(words[0], 10), (l, y), xytext=(0, 6), textcoords="offset points", rotation=60, fontsize=7)
    ax.set(xlabel="layer", ylabel="cosine", ylim=(min(-0.05, float(np.min(path["overlap_prediction"])) - 0.05), 1.35),
           title=title or f"top singular vector across layers ({path['part']}, {path['span'].replace('_', ' ')})")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
