"""Figures of `rsvp_jax.compare`: LLM and RSVP spectra on shared axes.

Each function takes the dict `compare.compare` returns and draws only what is in it, so the
numbers behind every figure are the ones `summary.json` stores. LLM groups are drawn in blues,
RSVP groups in oranges. Figure sizes (`FIGURE_INCHES`) are in half inches, so at the saving dpi
(110, `io.write_figure`'s) each PNG's pixel size is known before it is written (`pixel_size`).
"""

from __future__ import annotations

import numpy as np

from ._pyplot import pyplot

COLOURS = {"llm_joint": "#08306b", "llm_token": "#4292c6", "llm_layer": "#6a51a3",
           "rsvp_tile": "#e6550d", "rsvp_run": "#a63603", "rsvp_lattice": "#636363", "rsvp_horizon": "#f16913"}
RANK_STYLES = {"effective_rank": ("-", "effective rank / n"), "stable_rank": ("--", "stable rank / n"),
               "k90": (":", "k90 / n")}
FLOOR = 1e-12  # log axes: zero singular values are drawn here


def _label(result, g) -> str:
    info = result["groups"][g]
    return f"{info['label']} (n={info['n']}{', ' + str(info['count']) + ' maps' if info['count'] > 1 else ''})"


def _band(ax, result, g, curve, log: bool):
    lo, mid, hi = (np.maximum(curve[k], FLOOR) if log else curve[k] for k in ("low", "median", "high"))
    ax.plot(curve["x"], mid, color=COLOURS[g], lw=2 if g == "llm_joint" else 1.4, label=_label(result, g))
    if result["groups"][g]["count"] > 1:
        ax.fill_between(curve["x"], lo, hi, color=COLOURS[g], alpha=0.18, lw=0)


def plot_spectra(result: dict, title: str = "normalized singular spectra"):
    """Left: σ_i/σ_1 against i/n (median over each group's maps, 10–90 % band shaded; log y).
    Right: the leading modes, σ_i/σ_1 against i, with the whole-lattice top-k."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=FIGURE_INCHES["spectra.png"], constrained_layout=True)
    for g, curve in result["spectra"].items():
        _band(a, result, g, curve, log=True)
    a.set_yscale("log")
    a.set(xlabel="i / n", ylabel="σ_i / σ_1", title="whole spectra (median, 10–90 % band)")
    a.legend(fontsize=7, loc="lower left")
    for g, lead in result["leading"].items():
        b.plot(lead["i"], np.maximum(lead["normalized"], FLOOR), marker="o", ms=3, color=COLOURS[g],
               label=_label(result, g))
    b.set_yscale("log")
    b.set(xlabel="mode i", ylabel="σ_i / σ_1 (median)", title="leading modes")
    b.legend(fontsize=7, loc="best")
    for ax in (a, b):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_energy(result: dict, title: str = "cumulative energy: share of Σσ² in the top i modes"):
    """The cumulative energy against i/n (log x), with the 90 % and 99 % levels of k90 / k99."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=FIGURE_INCHES["energy.png"], constrained_layout=True)
    for g, curve in result["energy"].items():
        _band(ax, result, g, curve, log=False)
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.axhline(0.99, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set(xlabel="i / n", ylabel="cumulative energy", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(True, alpha=0.3)
    return fig


def plot_distributions(result: dict, title: str = "ranks of every map, divided by its size n"):
    """One panel per rank (`compare.RANKS`): a box per group over its maps, each map a dot (log y)."""
    plt = pyplot()
    dist = result["distributions"]
    fig, axes = plt.subplots(1, len(dist), figsize=FIGURE_INCHES["ranks.png"], constrained_layout=True, sharey=True)
    rng = np.random.default_rng(0)  # jitter only; the values are the data
    for ax, (rank, per_group) in zip(np.atleast_1d(axes), dist.items()):
        names = list(per_group)
        for j, g in enumerate(names, start=1):
            v = np.maximum(np.asarray(per_group[g], np.float64), FLOOR)
            ax.boxplot([v], positions=[j], widths=0.6, showfliers=False, medianprops={"color": COLOURS[g]})
            ax.scatter(j + rng.uniform(-0.18, 0.18, v.size), v, s=6, color=COLOURS[g], alpha=0.6, zorder=3)
        ax.set_xticks(range(1, len(names) + 1), [result["groups"][g]["label"] for g in names], rotation=30,
                      ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(RANK_STYLES[rank][1])
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_profiles(result: dict, title: str = "rank through the map: LLM by layer, RSVP over time"):
    """Left: the LLM's ranks / d of the joint map to each layer's output, by layer. Right: the
    RSVP tiles' ranks / n over the run (mean over tiles, min–max shaded). Shared log y axis."""
    plt = pyplot()
    prof = result["profiles"]
    fig, (a, b) = plt.subplots(1, 2, figsize=FIGURE_INCHES["profiles.png"], constrained_layout=True, sharey=True)
    if "llm_layer" in prof:
        p = prof["llm_layer"]
        for rank, (ls, name) in RANK_STYLES.items():
            a.plot(p["layer"], np.maximum(p[rank], FLOOR), ls=ls, marker="o", ms=3, color=COLOURS["llm_layer"], label=name)
        a.legend(fontsize=7, handlelength=3.5)
    else:
        a.text(0.5, 0.5, "no layer spectra\n(rsvp llm-jacobian --layers all)", ha="center", va="center",
               transform=a.transAxes)
    a.set(xlabel="layer", ylabel="rank / n", title=GROUPS_TITLE["llm_layer"])
    if "rsvp_time" in prof:
        p = prof["rsvp_time"]
        for rank, (ls, name) in RANK_STYLES.items():
            b.plot(p["time"], np.maximum(p[rank]["mean"], FLOOR), ls=ls, marker="o", ms=3, color=COLOURS["rsvp_run"],
                   label=name + " (mean)")
            b.fill_between(p["time"], np.maximum(p[rank]["min"], FLOOR), np.maximum(p[rank]["max"], FLOOR),
                           color=COLOURS["rsvp_run"], alpha=0.12, lw=0)
        b.legend(fontsize=7, handlelength=3.5)
    else:
        b.text(0.5, 0.5, "no tracked run\n(rsvp jacobian --evolve STEPS)", ha="center", va="center",
               transform=b.transAxes)
    b.set(xlabel="t", title=GROUPS_TITLE["rsvp_time"])
    for ax in (a, b):
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return fig


GROUPS_TITLE = {"llm_layer": "LLM: joint map to each layer's output", "rsvp_time": "RSVP: tile Jacobians over the run"}


def plot_depth_time(result: dict, title: str = "LLM depth beside RSVP time, summarised the same way"):
    """Top: the leading σ_i/σ_1 of the LLM's map to each layer (by depth) and of the RSVP
    propagator M(T) at each horizon (by T). Bottom: their ranks / n — the LLM by layer, RSVP by
    horizon with the SLQ error bars (one standard error). Shared log y axes per row."""
    plt = pyplot()
    dt = result.get("depth_time", {})
    fig, axes = plt.subplots(2, 2, figsize=FIGURE_INCHES["depth_time.png"], constrained_layout=True, sharey="row")
    for col, side, cmap in ((0, "llm", "Purples"), (1, "rsvp", "Oranges")):
        top, bottom = axes[0, col], axes[1, col]
        if side not in dt:
            for ax in (top, bottom):
                ax.text(0.5, 0.5, "no layer spectra (rsvp llm-jacobian --layers all)" if side == "llm" else
                        "no horizons (rsvp jacobian --horizon auto)", ha="center", va="center", transform=ax.transAxes)
            continue
        d = dt[side]
        steps = d["layer"] if side == "llm" else d["horizon"]
        colours = plt.get_cmap(cmap)(np.linspace(0.35, 1.0, len(steps)))
        for lead, s, c in zip(d["leading"], steps, colours):
            top.semilogy(np.arange(1, len(lead) + 1), np.maximum(lead, FLOOR), color=c, lw=1.0,
                         label=(f"layer {int(s)}" if side == "llm" else f"T = {s:g}"))
        if len(steps) <= 8:
            top.legend(fontsize=7)
        top.set(xlabel="mode i", ylabel="σ_i / σ_1", title=("LLM: input → layer l" if side == "llm" else "RSVP: M(T) = ∂x(T)/∂x(0)"))
        for rank, (ls, name) in RANK_STYLES.items():
            colour = COLOURS["llm_layer" if side == "llm" else "rsvp_horizon"]
            if side == "llm":
                bottom.plot(steps, np.maximum(d[rank], FLOOR), ls=ls, marker="o", ms=3, color=colour, label=name)
            else:
                bottom.errorbar(steps, np.maximum(d[rank], FLOOR), yerr=d[f"{rank}_error"], ls=ls, marker="o", ms=3,
                                color=colour, capsize=3, label=name)
        bottom.set(xlabel="layer l" if side == "llm" else "horizon T (model time)", ylabel="rank / n")
        if side == "rsvp":
            bottom.set_xscale("log")
        bottom.set_yscale("log")
        bottom.grid(True, alpha=0.3)
        bottom.legend(fontsize=7, handlelength=3.5)
    fig.suptitle(title)
    return fig

#: File name → (figure function, the keys of the compare dict it draws).
FIGURES = {
    "spectra.png": (plot_spectra, ("spectra", "leading")),
    "energy.png": (plot_energy, ("energy",)),
    "ranks.png": (plot_distributions, ("distributions",)),
    "profiles.png": (plot_profiles, ("profiles",)),
    "depth_time.png": (plot_depth_time, ("depth_time",)),
}
FIGURE_INCHES = {"spectra.png": (12.0, 4.5), "energy.png": (7.0, 4.5), "ranks.png": (13.0, 4.5),
                 "profiles.png": (12.0, 4.5), "depth_time.png": (12.0, 8.0)}


def pixel_size(name: str, dpi: int = 110) -> tuple[int, int]:
    """(width, height) in pixels of figure `name` saved at `dpi` (as `io.write_figure` does)."""
    w, h = FIGURE_INCHES[name]
    return round(w * dpi), round(h * dpi)


__all__ = ["plot_spectra", "plot_energy", "plot_distributions", "plot_profiles", "plot_depth_time", "FIGURES", "FIGURE_INCHES",
           "pixel_size", "COLOURS"]
