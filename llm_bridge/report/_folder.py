"""`jacobian_to_folder`: one prompt's detached Jacobian, spectra and decoded modes, as files.

Writes into the folder `out`:

- `reconstruction.png`: y against $\\sum_i J_i x_i + b$, with the relative error;
- `jacobian.png`: the heatmap of $[J_1 \\cdots J_T]$;
- `spectra.png`: per-token and joint spectra, the top joint modes labelled with their tokens;
- `importance.png`: each input token's ‖J_i‖ and ‖J_i x_i‖;
- `layers.png` and `path.png` (with the layer-by-layer analysis, over the chosen `span`): stable /
  effective rank by layer, and the top singular vector's decoding across the layers;
- `attribution.png`, `attribution.json` (with `attribution=True`): the exact attribution of the
  target logit (or a logit difference) to (token, layer, head / MLP), as a heat map and as the
  pruned graph of `Attribution.to_graph`;
- `llm_jacobian.nc`: everything, as the Dataset of `spectra_dataset` (with the attribution's
  arrays when computed);
- `summary.json`: the numbers a reader wants first (errors, prediction, ranks, top modes).

All files are written after the work is done, each atomically (`rsvp_jax.io`), so a failed run
leaves no partial folder behind. `rsvp llm-jacobian` is this function behind a command line.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
from rsvp_jax import io
from rsvp_jax import spectra as rs

from ..errors import BridgeError
from ..jacobian import attribution as attribute
from ..jacobian import (
    check_span,
    detached_jacobian,
    layer_jacobians,
    layer_spectra,
    llm_spectra,
    resolve_token,
    singular_path,
    token_importance,
)
from ._dataset import spectra_dataset
from ._plots import (
    plot_attribution,
    plot_heatmap,
    plot_layer_ranks,
    plot_reconstruction,
    plot_singular_path,
    plot_spectra,
    plot_token_importance,
)

#: Above this many tokens `layers="auto"` skips the layer-by-layer analysis: it costs
#: min(T, 3 · layers) times the full Jacobian.
AUTO_LAYER_TOKENS = 32


def jacobian_to_folder(m, ids, out, *, prompt: str = "", layers="auto", modes: int = 8, top: int = 5,
                       span: str = "from_input", attribution: bool = False, target=None, contrast=None,
                       share: float = 0.9, progress: Callable[[str], None] | None = None,
                       meta: dict | None = None) -> dict:
    """Analyse the prompt `ids` (T,) of the `LanguageModel` `m`; write every file of the module
    docstring into the folder `out` (made after the work); return the summary dict.

    `prompt`: the text the ids came from (recorded in the dataset and the summary). `layers`:
    which layers get their own Jacobians and spectra (output, attention and MLP parts): indices
    (negative from the end), None for all, () for none, or "auto" (all for prompts of up to
    `AUTO_LAYER_TOKENS` tokens, else none). `modes`: top singular directions decoded and stored;
    `top`: tokens listed per direction. `span`: what the layer Jacobians are taken over
    ("from_input", "single" or "to_output", see `layer_jacobians`). `attribution=True`: split the
    `target` logit (default the predicted token; `contrast`: minus a second token's) exactly over
    (token, layer, head / MLP), the graph pruned to `share`. `progress` receives one line of text
    per stage (the command line prints them). `meta` goes first into the summary.

    Bad input (ids, layers, span, tokens, an `out` that is a file) raises a `BridgeError` before
    any file is written.
    """
    say = progress or (lambda line: None)
    started = time.perf_counter()
    ids = m.check_ids(ids)
    t, d, n_layers = len(ids), m.config.hidden_size, m.config.num_layers
    if modes < 1 or top < 1:
        raise BridgeError(f"modes={modes} / top={top}: both must be >= 1")
    if isinstance(layers, str) and layers != "auto":
        raise BridgeError(f"layers={layers!r}: give 'auto', None (all), () (none) or a sequence of layer indices")
    if layers == "auto":
        layers = None if t <= AUTO_LAYER_TOKENS else ()
    span = check_span(span)
    if not 0 < share <= 1:
        raise BridgeError(f"share={share!r}: give a fraction in (0, 1]")
    if attribution:
        target = None if target is None else resolve_token(m, target)
        contrast = None if contrast is None else resolve_token(m, contrast)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BridgeError(f"{out} exists and is not a folder")

    say(f"detached Jacobian ({d} x {t} x {d}) ...")
    t0 = time.perf_counter()
    dj = detached_jacobian(m, ids)
    seconds_jacobian = time.perf_counter() - t0
    say(f"  relative reconstruction error {dj.relative_error:.2e} in {seconds_jacobian:.1f} s")

    say("SVDs and decoding ...")
    spectra = llm_spectra(m, ids, jacobian=dj, modes=modes, top=top, with_layers=False)
    spectra["importance"] = token_importance(dj)
    attr = None
    if attribution:
        say("attribution ...")
        t0 = time.perf_counter()
        attr = attribute(m, ids, target=target, contrast=contrast)
        say(f"  logit {attr.logit:.4f} of {attr.target_text!r}"
            + ("" if attr.contrast is None else f" - {attr.contrast_text!r}")
            + f" split over {attr.contributions.size} (layer, head / MLP, token) terms in "
              f"{time.perf_counter() - t0:.1f} s; sum error {attr.error:.1e}")
    if layers is None or len(layers):
        count = n_layers if layers is None else len(layers)
        say(f"layer spectra ({span.replace('_', ' ')}): {count} layers x (output, attention, MLP) ...")
        t0 = time.perf_counter()
        lj = layer_jacobians(m, ids, layers, span=span)
        spectra["layer"] = layer_spectra(m, ids, jacobians=lj)
        spectra["path"] = singular_path(m, lj, top=top)
        say(f"  in {time.perf_counter() - t0:.1f} s; worst reconstruction error "
            f"{float(np.max(spectra['layer']['relative_error'])):.2e}")
    pred = spectra["prediction"]
    say(f"  prediction {pred['predicted_token']!r}: kept by the top {pred['smallest_k']} joint modes; "
        f"stable rank of the joint map {float(spectra['joint']['summary']['stable_rank']):.2f}")

    out.mkdir(parents=True, exist_ok=True)
    files = _write_files(m, dj, spectra, prompt, out, attr, share)
    summary = (meta or {}) | _summary(m, dj, spectra, prompt, seconds_jacobian)
    if attr is not None:
        summary["attribution"] = _attribution_summary(attr, share)
    summary["files"] = files
    summary["seconds_total"] = time.perf_counter() - started
    io.write_json(out / "summary.json", summary)
    say(f"wrote {', '.join(files)} and summary.json to {out}/ in {summary['seconds_total']:.0f} s")
    return summary


def _write_files(m, dj, spectra: dict, prompt: str, out: Path, attr=None, share: float = 0.9) -> list[str]:
    """The figures, the dataset and the attribution graph, each written atomically; their file names."""
    files = ["reconstruction.png", "jacobian.png", "spectra.png", "importance.png"]
    title = f"{m.config.family}, {len(dj.ids)} tokens, {m.dtype.name}"
    io.write_figure(plot_reconstruction(dj.output, dj.reconstruction, dj.relative_error, title), out / files[0])
    io.write_figure(plot_heatmap(dj.jacobian, spectra["tokens"]), out / files[1])
    io.write_figure(plot_spectra(spectra), out / files[2])
    io.write_figure(plot_token_importance(spectra["importance"], spectra["tokens"]), out / files[3])
    if "layer" in spectra:
        files += ["layers.png", "path.png"]
        span = spectra["layer"]["span"].replace("_", " ")
        io.write_figure(plot_layer_ranks(spectra["layer"], title=f"detached Jacobians by layer ({span})"), out / files[-2])
        io.write_figure(plot_singular_path(spectra["path"]), out / files[-1])
    if attr is not None:
        files += ["attribution.png", "attribution.json"]
        io.write_figure(plot_attribution(attr), out / files[-2])
        io.write_json(out / files[-1], attr.to_graph(share=share))
    io.save_dataset(spectra_dataset(dj, spectra, prompt=prompt, attribution=attr), out / "llm_jacobian.nc")
    files.append("llm_jacobian.nc")
    return files


def _attribution_summary(attr, share: float) -> dict:
    """The attribution's headline numbers and its ten largest components."""
    per = attr.contributions.sum(-1)  # (L, H+1)
    names = attr.component_names()
    order = np.argsort(-np.abs(per), axis=None)[:10]
    top = [{"layer": int(l), "component": names[k], "contribution": float(per[l, k])}
           for l, k in (np.unravel_index(i, per.shape) for i in order)]
    graph = attr.to_graph(share=share)["summary"]
    return {"target": attr.target_text, "target_id": attr.target, "contrast": attr.contrast_text,
            "contrast_id": attr.contrast, "logit": attr.logit, "total": attr.total, "error": attr.error,
            "embedding_path": float(attr.embedding.sum()), "bias": attr.bias_part,
            "by_token": attr.contributions.sum(axis=(0, 1)).tolist(), "top_components": top,
            "graph": {k: graph[k] for k in ("share", "kept_share", "kept_edges", "all_edges")}}


def _summary(m, dj, spectra: dict, prompt: str, seconds_jacobian: float) -> dict:
    pred = spectra["prediction"]
    summary = {
        "model": m.source, "family": m.config.family, "dtype": m.dtype.name,
        "prompt": prompt, "tokens": spectra["tokens"], "ids": dj.ids.tolist(), "hidden_size": m.config.hidden_size,
        "layers": m.config.num_layers, "relative_error": dj.relative_error, "bias_norm": spectra["bias_norm"],
        "seconds_jacobian": seconds_jacobian,
        "prediction": {k: pred[k] for k in ("predicted_token", "predicted", "smallest_k", "k", "energy", "keeps")},
        "joint": rs.to_json(spectra["joint"]["summary"], spectra=False),
        "token": rs.to_json(spectra["token"]["summary"], spectra=False),
        "top_modes": spectra["decoded"]["joint"],
        "token_modes": [row[:3] for row in spectra["decoded"]["tokens"]],
    }
    if "layer" in spectra:
        lay = spectra["layer"]
        summary["layer_ranks"] = {
            "layers": lay["layers"].tolist(), "parts": lay["parts"], "span": lay["span"],
            "stable_rank": np.asarray(lay["summary"]["stable_rank"]).tolist(),
            "effective_rank": np.asarray(lay["summary"]["effective_rank"]).tolist(),
            "relative_error": np.asarray(lay["relative_error"]).tolist(),
        }
        path = spectra["path"]
        summary["singular_path"] = {"layers": path["layers"].tolist(), "tokens": [row[:3] for row in path["tokens"]],
                                    "overlap_last": np.asarray(path["overlap_last"]).tolist(),
                                    "overlap_prediction": np.asarray(path["overlap_prediction"]).tolist()}
    imp = spectra["importance"]
    summary["token_importance"] = {k: np.asarray(imp[k]).tolist() for k in ("jacobian_norm", "contribution_norm")}
    return summary
