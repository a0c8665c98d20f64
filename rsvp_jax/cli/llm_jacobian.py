"""`rsvp llm-jacobian`: the detached Jacobian of an LLM for one prompt, its spectra and decoded modes.

```
rsvp llm-jacobian --model PATH|smollm2 --prompt TEXT --out DIR [--dtype float64] [--layers all|none|0,5,...]
                  [--span from-input|single|to-output] [--attribution [--target TOKEN] [--contrast TOKEN]]
```

Writes into `DIR`: `reconstruction.png` (y against Σ J_i x_i + b, with the error), `jacobian.png`
(the heatmap of [J_1 … J_T]), `spectra.png` (per-token and joint spectra, the top modes labelled
with their decoded tokens), `importance.png` (‖J_i‖ and ‖J_i x_i‖ per token), `layers.png`
(stable / effective rank by layer, over `--span`) and `path.png` (the top singular vector's
decoding across layers), with `--attribution` `attribution.png` and `attribution.json` (the
exact split of the target logit, or of target − contrast, over (token, layer, head / MLP), and
its pruned graph), `llm_jacobian.nc` (everything, layout in `llm_bridge.report.spectra_dataset`)
and `summary.json`. All files are
written after the work is done, each atomically, by `llm_bridge.jacobian_to_folder`; this module
parses the flags, loads the model and the prompt, and turns a `BridgeError` into a one-line
`ConfigError`. `llm_bridge` is imported here, inside the subcommand only.
"""

from __future__ import annotations

from ..errors import ConfigError
from ._common import Timer, add_output_args, open_out, say

DEFAULT_PROMPT = "The capital of France is"
#: Above this many tokens the layer-by-layer analysis is off unless --layers asks for it (the
#: default of `llm_bridge.jacobian_to_folder`, repeated here for --help without importing it).
AUTO_LAYER_TOKENS = 32


def register(sub) -> None:
    p = sub.add_parser("llm-jacobian", help="detached Jacobian of an LLM: reconstruction, spectra, decoded modes",
                       description="Compute the detached Jacobian (Golden, arXiv 2505.24293) of the last token's "
                                   "hidden state with respect to the input embeddings; write figures, "
                                   "llm_jacobian.nc and summary.json into --out.")
    p.add_argument("--model", default="smollm2",
                   help="Hugging Face folder, .gguf file, or a named model (smollm2, gemma3-270m); default smollm2")
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"the prompt (default {DEFAULT_PROMPT!r})")
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"), help="float32 (default) or float64")
    p.add_argument("--layers", default="auto",
                   help="layer-by-layer spectra: all, none, or indices like 0,10,-1 "
                        f"(default auto: all for prompts up to {AUTO_LAYER_TOKENS} tokens, else none)")
    p.add_argument("--span", default="from-input", choices=("from-input", "single", "to-output"),
                   help="the layer Jacobians: from the input embeddings (default), of each layer alone (its input "
                        "residual stream to its output), or from each layer to the final output")
    p.add_argument("--attribution", action="store_true",
                   help="split the target logit exactly over (token, layer, head / MLP): attribution.png, .json")
    p.add_argument("--target", default=None, help="the attributed token (text of one token, or #ID); default the prediction")
    p.add_argument("--contrast", default=None, help="attribute the logit difference target - this token (text or #ID)")
    p.add_argument("--share", type=float, default=0.9,
                   help="the attribution graph keeps the largest edges carrying this share of the total (default 0.9)")
    p.add_argument("--modes", type=int, default=8, help="top singular directions decoded and stored (default 8)")
    p.add_argument("--top", type=int, default=5, help="tokens listed per decoded direction (default 5)")
    p.add_argument("--max-tokens", type=int, default=256,
                   help="refuse longer prompts (the full Jacobian holds d·T·d numbers; default 256)")
    add_output_args(p, "out/llm-jacobian")
    p.set_defaults(func=run)


def _check_args(args) -> None:
    if args.modes < 1 or args.top < 1:
        raise ConfigError(f"--modes {args.modes} / --top {args.top} are invalid; both must be >= 1")
    if args.max_tokens < 1:
        raise ConfigError(f"--max-tokens {args.max_tokens} is invalid; give a positive token count")
    if not args.prompt.strip():
        raise ConfigError("--prompt is empty; give some text")
    if not 0 < args.share <= 1:
        raise ConfigError(f"--share {args.share} is invalid; give a fraction in (0, 1]")
    if (args.target is not None or args.contrast is not None) and not args.attribution:
        raise ConfigError("--target / --contrast go with --attribution")
    _parse_layers(args.layers, None)


def _parse_token(text):
    """'#123' → the id 123; any other text → itself (the text of one token), None → None."""
    if text is None:
        return None
    if text.startswith("#") and text[1:].isdigit():
        return int(text[1:])
    if not text:
        raise ConfigError("an empty --target / --contrast; give the text of one token or #ID")
    return text


def _parse_layers(text: str, n_layers: int | None):
    """'auto' → 'auto', 'all' → None, 'none' → (), '0,5,-1' → (0, 5, n-1)."""
    text = str(text).strip().lower()
    if text in ("auto", "all", "none"):
        return {"auto": "auto", "all": None, "none": ()}[text]
    try:
        idx = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ConfigError(f"--layers {text!r} is not all, none, auto or a comma-separated list of layer indices") from None
    if not idx:
        raise ConfigError(f"--layers {text!r} lists no layer")
    if n_layers is not None:
        bad = [i for i in idx if not -n_layers <= i < n_layers]
        if bad:
            raise ConfigError(f"--layers {bad[0]} is outside 0..{n_layers - 1} (the model has {n_layers} layers)")
        idx = tuple(i % n_layers for i in idx)
    return idx


def run(args) -> int:
    _check_args(args)
    with open_out(args, "llm-jacobian") as out:  # a bad --out fails before the model is loaded
        llm_jacobian_to_folder(args.model, args.prompt, out.work, chat=args.chat, dtype=args.dtype, layers=args.layers,
                               modes=args.modes, top=args.top, max_tokens=args.max_tokens, span=args.span,
                               attribution=args.attribution, target=_parse_token(args.target),
                               contrast=_parse_token(args.contrast), share=args.share)
    return 0


def _check_memory(d: int, t: int, dtype: str, layers) -> None:
    """The Jacobian (d·T·d), its copies for the SVDs, and one layer's three parts at a time."""
    from ..runs import check_memory

    size = d * t * d * (8 if dtype == "float64" else 4)
    check_memory({"Jacobian": 3 * size, "layer Jacobians": (6 * size if layers != () else 0)},
                 f"rsvp llm-jacobian of {t} tokens (d = {d})", "shorten the prompt or pass --layers none")


def _bridge():
    try:
        import llm_bridge as lb
    except ImportError as e:
        raise ConfigError(f"rsvp llm-jacobian needs the LLM extras: pip install 'rsvp-jax[llm]' ({e})") from None
    return lb


def load_llm(model, dtype: str = "float32"):
    """`llm_bridge.load(model)` with progress; a model that cannot load is a one-line `ConfigError`."""
    from ._common import setup_dtype

    setup_dtype(dtype)
    lb = _bridge()
    timer = Timer()
    say(f"loading {model} ({dtype}) ...")
    try:
        m = lb.load(model, dtype=dtype)
    except lb.BridgeError as e:
        raise ConfigError(str(e)) from None
    say(f"  {m!r} in {timer():.1f} s")
    return m


def llm_jacobian_to_folder(model, prompt: str, out, *, chat: bool = False, dtype: str = "float32",
                           layers="auto", modes: int = 8, top: int = 5, max_tokens: int = 256,
                           span: str = "from-input", attribution: bool = False, target=None, contrast=None,
                           share: float = 0.9) -> dict:
    """Load `model` (a name or path; or a model `load_llm` loaded), tokenize `prompt` and run
    `llm_bridge.jacobian_to_folder` into the folder `out`, printing its progress; return the summary dict.

    `layers`: "auto", "all", "none" or indices as text ("0,-1") or a sequence. `span`,
    `attribution`, `target`, `contrast` (token text or id) and `share` as in `jacobian_to_folder`,
    which resolves the tokens before any work. `llm_bridge` is
    imported here; without it, or on any bad input (a `BridgeError`), this raises a one-line
    `ConfigError` before any file is written.
    """
    if not isinstance(layers, str):
        layers = ",".join(str(int(i)) for i in layers) or "none"
    timer = Timer()
    m = load_llm(model, dtype) if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__") else model
    lb = _bridge()
    try:
        ids = m.check_ids(m.tokenize(prompt, chat=chat))  # empty, beyond the context or the vocabulary: a BridgeError
        t, d = len(ids), m.config.hidden_size
        if t > max_tokens:
            raise ConfigError(f"the prompt has {t} tokens, more than --max-tokens {max_tokens} "
                              f"(the Jacobian would hold {d}·{t}·{d} numbers); shorten it or raise --max-tokens")
        layers = _parse_layers(layers, m.config.num_layers)
        _check_memory(d, t, dtype, layers)
        if attribution:  # a token that is not one token is an error before any work
            target = None if target is None else lb.jacobian.resolve_token(m, target)
            contrast = None if contrast is None else lb.jacobian.resolve_token(m, contrast)
        say(f"  prompt of {t} tokens")
        return lb.jacobian_to_folder(m, ids, out, prompt=prompt, layers=layers, modes=modes, top=top, progress=say,
                                     span=span, attribution=attribution, target=target, contrast=contrast,
                                     share=share, meta={"command": "llm-jacobian", "seconds_load": timer()})
    except lb.BridgeError as e:
        raise ConfigError(str(e)) from None
