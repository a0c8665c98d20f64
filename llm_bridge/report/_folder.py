"""`jacobian_to_folder`: one prompt's detached Jacobian, spectra and decoded modes, as files.

Writes into the folder `out`:

- `reconstruction.png`: y against $\\sum_i J_i x_i + b$, with the relative error;
- `jacobian.png`: the heatmap of $[J_1 \\cdots J_T]$;
- `spectra.png`: per-token and joint spectra, the top joint modes labelled with their tokens;
- `layers.png` (with the layer-by-layer analysis): stable / effective rank by layer;
- `llm_jacobian.nc`: everything, as the Dataset of `spectra_dataset`;
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
from ..jacobian import detached_jacobian, layer_spectra, llm_spectra
from ._dataset import spectra_dataset
from ._plots import plot_heatmap, plot_layer_ranks, plot_reconstruction, plot_spectra

#: Above this many tokens `layers="auto"` skips the layer-by-layer analysis: it costs
#: min(T, 3 · layers) times the full Jacobian.
AUTO_LAYER_TOKENS = 32


def jacobian_to_folder(m, ids, out, *, prompt: str = "", layers="auto", modes: int = 8, top: int = 5,
                       progress: Callable[[str], None] | None = None, meta: dict | None = None) -> dict:
    """Analyse the prompt `ids` (T,) of the `LanguageModel` `m`; write every file of the module
    docstring into the folder `out` (made after the work); return the summary dict.

    `prompt`: the text the ids came from (recorded in the dataset and the summary). `layers`:
    which layers get their own Jacobians and spectra (output, attention and MLP parts): indices
    (negative from the end), None for all, () for none, or "auto" (all for prompts of up to
    `AUTO_LAYER_TOKENS` tokens, else none). `modes`: top singular directions decoded and stored;
    `top`: tokens listed per direction. `progress` receives one line of text per stage (the
    command line prints them). `meta` goes first into the summary.

    Bad input (ids, layers, an `out` that is a file) raises a `BridgeError` before any file is
    written.
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
    if layers is None or len(layers):
        count = n_layers if layers is None else len(layers)
        say(f"layer spectra: {count} layers x (output, attention, MLP) ...")
        t0 = time.perf_counter()
        spectra["layer"] = layer_spectra(m, ids, layers)
        say(f"  in {time.perf_counter() - t0:.1f} s; worst reconstruction error "
            f"{float(np.max(spectra['layer']['relative_error'])):.2e}")
    pred = spectra["prediction"]
    say(f"  prediction {pred['predicted_token']!r}: kept by the top {pred['smallest_k']} joint modes; "
        f"stable rank of the joint map {float(spectra['joint']['summary']['stable_rank']):.2f}")

    out.mkdir(parents=True, exist_ok=True)
    files = _write_files(m, dj, spectra, prompt, out)
    summary = (meta or {}) | _summary(m, dj, spectra, prompt, seconds_jacobian)
    summary["files"] = files
    summary["seconds_total"] = time.perf_counter() - started
    io.write_json(out / "summary.json", summary)
    say(f"wrote {', '.join(files)} and summary.json to {out}/ in {summary['seconds_total']:.0f} s")
    return summary


def _write_files(m, dj, spectra: dict, prompt: str, out: Path) -> list[str]:
    """The figures and the dataset, each written atomically; their file names."""
    files = ["reconstruction.png", "jacobian.png", "spectra.png"]
    title = f"{m.config.family}, {len(dj.ids)} tokens, {m.dtype.name}"
    io.write_figure(plot_reconstruction(dj.output, dj.reconstruction, dj.relative_error, title), out / files[0])
    io.write_figure(plot_heatmap(dj.jacobian, spectra["tokens"]), out / files[1])
    io.write_figure(plot_spectra(spectra), out / files[2])
    if "layer" in spectra:
        files.append("layers.png")
        io.write_figure(plot_layer_ranks(spectra["layer"]), out / files[-1])
    io.save_dataset(spectra_dataset(dj, spectra, prompt=prompt), out / "llm_jacobian.nc")
    files.append("llm_jacobian.nc")
    return files


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
            "layers": lay["layers"].tolist(), "parts": lay["parts"],
            "stable_rank": np.asarray(lay["summary"]["stable_rank"]).tolist(),
            "effective_rank": np.asarray(lay["summary"]["effective_rank"]).tolist(),
            "relative_error": np.asarray(lay["relative_error"]).tolist(),
        }
    return summary
