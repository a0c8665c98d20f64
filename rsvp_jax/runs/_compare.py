"""`compare_to_folder`: LLM and RSVP spectra on shared axes, as `rsvp compare` writes them.

Writes into the folder `spectra.png`, `energy.png`, `ranks.png`, `profiles.png` (see
`rsvp_jax.compare.FIGURES`) and `comparison.md`; the caller adds `summary.json`.
"""

from __future__ import annotations

from pathlib import Path

from .. import compare as cmp
from .. import io
from ..plots import pixel_size
from ._summary import Timer, say


def compare_to_folder(llm, rsvp, out, *, sources: dict | None = None, files=()) -> dict:
    """Compare two `rsvp_jax.compare` spectra (either may be None), write the figures and
    `comparison.md` into `out`, print the headline numbers, and return the summary (the caller
    writes `summary.json`).

    `sources` {llm, rsvp}: where each side came from (folders, relative to `out` where computed);
    `files`: files already written into `out` by the caller, listed first in the summary.
    """
    t = Timer()
    out = Path(out)
    result = cmp.compare(llm, rsvp)
    table = cmp.markdown_table(result)
    figures = {name: fn(result) for name, (fn, _) in cmp.FIGURES.items()}
    for name, fig in figures.items():
        io.write_figure(fig, out / name)
    with io.atomic_path(out / "comparison.md") as tmp:
        tmp.write_text(comparison_markdown(result, table, sources or {}))
    _headline(result)
    return {
        "command": "compare", "sources": sources or {},
        **{k: result[k] for k in ("groups", "llm", "rsvp", "table", "spectra", "energy", "leading",
                                 "distributions", "profiles", "depth_time") if k in result},
        "figures": {name: {"pixels": list(pixel_size(name)), "data": list(keys)}
                    for name, (_, keys) in cmp.FIGURES.items()},
        "table_markdown": table, "files": [*files, *figures, "comparison.md"], "seconds_compare": t(),
    }


def comparison_markdown(result: dict, table: str, sources: dict) -> str:
    """`comparison.md`: the table, what its columns are, and the figures (relative links)."""
    llm, rsvp = result.get("llm") or {}, result.get("rsvp") or {}
    lines = ["# LLM and RSVP Jacobian spectra", ""]
    if llm:
        lines.append(f"- LLM: `{Path(str(llm.get('model', ''))).name}` ({llm.get('family', '')}), prompt "
                     f"{llm.get('prompt', '')!r}, from `{sources.get('llm', '')}`")
    if rsvp:
        lines.append(f"- RSVP: preset `{rsvp.get('preset', '')}` on {rsvp.get('shape')} cells, tiles {rsvp.get('tile')}, "
                     f"{rsvp.get('steps')} step(s) of dt = {rsvp.get('dt')}, from `{sources.get('rsvp', '')}`")
    lines += ["", "Each map of n singular values is compared through its ranks divided by n (1: every direction "
              "kept; 1/n: one). Cells: mean over the maps, (min–max) where they differ.", "", table]
    sentence = depth_time_sentence(result)
    if sentence:
        lines += ["", sentence, ""]
    lines += [f"![{name}]({name})" for name in cmp.FIGURES]
    return "\n".join(lines) + "\n"


def depth_time_sentence(result: dict) -> str | None:
    """LLM depth beside RSVP time in one sentence of numbers (the effective rank / n at both ends)."""
    dt = result.get("depth_time") or {}
    parts = []
    if "llm" in dt:
        e = dt["llm"]["effective_rank"]
        parts.append(f"the LLM's map from the input to layer l has effective rank / n {e[0]:.3g} after the first "
                     f"layer and {e[-1]:.3g} after the last")
    if "rsvp" in dt:
        r = dt["rsvp"]
        parts.append(f"the RSVP propagator's effective rank / n goes from {r['effective_rank'][0]:.3g} ± "
                     f"{r['effective_rank_error'][0]:.2g} at T = {r['horizon'][0]:g} to {r['effective_rank'][-1]:.3g} ± "
                     f"{r['effective_rank_error'][-1]:.2g} at T = {r['horizon'][-1]:g}")
    return ("Depth and time: " + "; ".join(parts) + ".") if parts else None


def _headline(result: dict) -> None:
    """One line per rank: its mean / n in each group."""
    for row in ("effective_rank/n", "stable_rank/n", "k90/n"):
        cells = [f"{result['groups'][g]['label']} {v[row]['mean']:.3g}" for g, v in result["table"].items() if row in v]
        say(f"  {row.replace('_', ' ')}: " + "; ".join(cells))
    sentence = depth_time_sentence(result)
    if sentence:
        say(f"  {sentence}")


__all__ = ["compare_to_folder", "comparison_markdown", "depth_time_sentence"]
