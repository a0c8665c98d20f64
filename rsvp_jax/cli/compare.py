"""`rsvp compare`: the Jacobian spectra of an LLM and of an RSVP lattice on shared axes.

```
rsvp compare --llm DIR --rsvp DIR --out DIR      # folders written by `rsvp llm-jacobian` / `rsvp jacobian`
rsvp compare --out DIR [--quick]                 # no folder: compute them first, into DIR/llm and DIR/jacobian
```

Writes into `DIR`: `spectra.png` (σ_i/σ_1 against i/n, and the leading modes), `energy.png`
(cumulative energy), `ranks.png` (effective rank / stable rank / k90, each divided by n, over
every map), `profiles.png` (the LLM's ranks by layer beside the RSVP tiles' over time),
`comparison.md` (the summaries side by side) and `summary.json` (every number plotted, under
the keys of `rsvp_jax.compare.compare`). The comparison itself is `rsvp_jax.compare`; this
module only reads, computes missing sides and writes. Files are written after the work, each
atomically. `llm_bridge` is imported only to compute a missing LLM side.
"""

from __future__ import annotations


from ._common import Timer, add_output_args, open_out, say
from .llm_jacobian import DEFAULT_PROMPT

#: The RSVP side `rsvp compare` computes when none is given: the defaults of `rsvp jacobian` with a
#: short tracked run and the demo's horizon ladder (minutes, not tens of minutes, on 2 CPU cores;
#: `--quick`: a smaller lattice). The LLM side is `rsvp llm-jacobian`'s default.
RSVP_DEFAULTS = {False: dict(shape=(64, 64), tile=8, topk=6, evolve=60, snapshots=4,
                        horizons=dict(horizon_k=16, probes=4, lanczos_steps=12, max_horizon_steps=200)),
                 True: dict(shape=(16, 16), tile=4, topk=2, evolve=10, snapshots=3,
                        horizons=dict(horizon_k=6, probes=4, lanczos_steps=12, max_horizon_steps=60))}


def register(sub) -> None:
    p = sub.add_parser("compare", help="LLM and RSVP Jacobian spectra side by side: figures, table, summary",
                       description="Read (or compute) the spectra of an LLM's detached Jacobian and of an RSVP "
                                   "lattice's tile Jacobians and draw them on shared axes; write figures, "
                                   "comparison.md and summary.json into --out.")
    p.add_argument("--llm", default=None, metavar="DIR",
                   help="a folder written by `rsvp llm-jacobian` (default: compute one into OUT/llm)")
    p.add_argument("--rsvp", default=None, metavar="DIR",
                   help="a folder written by `rsvp jacobian` (default: compute one into OUT/jacobian)")
    p.add_argument("--model", default="smollm2", help="model for a computed LLM side (default smollm2)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"prompt for a computed LLM side (default {DEFAULT_PROMPT!r})")
    p.add_argument("--quick", action="store_true", help="a smaller lattice for a computed RSVP side")
    add_output_args(p, "out/compare")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import compare as cmp
    from ..io import write_json
    from ..runs import compare_to_folder

    timer = Timer()
    # Read what is given first, so that a bad folder fails before any computing.
    llm = cmp.spectra_from_llm_dataset(args.llm) if args.llm is not None else None
    rsvp = cmp.spectra_from_jacobian_dataset(args.rsvp) if args.rsvp is not None else None
    for side, spectra in (("LLM", llm), ("RSVP", rsvp)):
        if spectra is not None:
            say(f"read the {side} spectra from {spectra.meta['file']}")
    if rsvp is None:
        _check_memory(args.quick)
    with open_out(args, "compare") as folder:
        out = folder.work
        files, sources = [], {"llm": args.llm, "rsvp": args.rsvp}
        if rsvp is None:
            summary = rsvp_to_folder(out / "jacobian", quick=args.quick)
            files += [f"jacobian/{f}" for f in (*summary["files"], "summary.json")]
            rsvp, sources["rsvp"] = cmp.spectra_from_jacobian_dataset(out / "jacobian"), "jacobian"
            _final_path(rsvp, out, folder.path)
        if llm is None:
            summary = llm_to_folder(out / "llm", args.model, args.prompt)
            files += [f"llm/{f}" for f in (*summary["files"], "summary.json")]
            llm, sources["llm"] = cmp.spectra_from_llm_dataset(out / "llm"), "llm"
            _final_path(llm, out, folder.path)
        summary = compare_to_folder(llm, rsvp, out, sources=sources, files=files)
        summary["seconds_total"] = timer()
        write_json(out / "summary.json", summary)
    say(f"wrote {', '.join(summary['files'])} and summary.json to {folder.path}/ ({summary['seconds_total']:.1f} s)")
    return 0


def _final_path(spectra, stage, final) -> None:
    """A side computed into the staging folder names the file where it will be after the commit."""
    import os

    spectra.meta["file"] = os.path.join(str(final), os.path.relpath(spectra.meta["file"], str(stage)))


def _check_memory(quick: bool) -> None:
    from ..lattice import Lattice
    from ..runs import check_memory, jacobian_memory

    d = RSVP_DEFAULTS[bool(quick)]
    h = d["horizons"]
    need = jacobian_memory(Lattice(d["shape"]), "float32", 3, d["tile"], snapshots=d["snapshots"], topk=d["topk"],
                           horizon_k=h["horizon_k"], probes=h["probes"], lanczos_steps=h["lanczos_steps"])
    check_memory(need, f"rsvp compare's RSVP side on {'x'.join(map(str, d['shape']))} cells",
                 "give --rsvp DIR (a folder of rsvp jacobian), or --quick")


def rsvp_to_folder(out, *, quick: bool = False, progress: bool = True) -> dict:
    """The RSVP side on its default (`RSVP_DEFAULTS`): `rsvp jacobian` with a short `--evolve`."""
    from ..lattice import Lattice
    from ..models import preset
    from ..runs import jacobian_to_folder
    from ..state import initial_state

    d = RSVP_DEFAULTS[bool(quick)]
    lat = Lattice(d["shape"])
    say(f"computing the RSVP side into {out}/ (rsvp jacobian --shape {','.join(map(str, d['shape']))} "
        f"--tile {d['tile']} --evolve {d['evolve']})")
    return jacobian_to_folder(preset("rsvp"), lat, initial_state(lat, kind="blobs", seed=0), out, tile=d["tile"],
                              horizons="auto", **d["horizons"],
                              topk=d["topk"], evolve=d["evolve"], snapshots=d["snapshots"], progress=progress,
                              meta={"init": "blobs", "seed": 0})


def llm_to_folder(out, model: str = "smollm2", prompt: str = DEFAULT_PROMPT) -> dict:
    """The LLM side on its default: `rsvp llm-jacobian` of `model` and `prompt`."""
    from .llm_jacobian import llm_jacobian_to_folder

    say(f"computing the LLM side into {out}/ (rsvp llm-jacobian --model {model})")
    return llm_jacobian_to_folder(model, prompt, out)
