"""Load a GGUF file (llama.cpp's format) into the same `Decoder` as a Hugging Face folder.

Three things differ from a Hugging Face checkpoint, all undone here:

- **Names**: one table per architecture (`_names.GGUF_TABLES`) maps `blk.{i}.<suffix>` to this
  port's parameters.
- **Q/K permutation**: llama.cpp's `llama` architecture rotates interleaved pairs, so its
  converter permutes the rows of each head of W_q and W_k; we invert that per head. The other
  architectures use the "NeoX" rotate-half layout and are stored unpermuted.
- **Gemma norms**: llama.cpp stores Gemma's RMSNorm weights as `1 + w`; we subtract the one so
  the weights mean what they mean in the Hugging Face model (whose forward adds it back).

Hyperparameters come from the `{arch}.*` metadata; those llama.cpp hard-codes instead of storing
(Gemma 2/3's sliding-window layer pattern, Gemma 3's local RoPE base) are set here as llama.cpp
sets them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import UnknownArchitectureError, UnsupportedConfigError, WeightFileError
from ..model import Decoder, ModelConfig, RopeSpec
from ._gguf_file import GGUFFile
from ._names import GGUF_TABLES
from ._params import ParamCollector

# llama.cpp scales Gemma 2/3 27B queries by (d / heads)^-1/2, every other size by head_dim^-1/2;
# the 27B models are recognised by their layer count, as llama.cpp does.
_GEMMA_27B_LAYERS = {"gemma2": 46, "gemma3": 62}
# llama.cpp's default attention soft-caps for Gemma 2 when the file does not store them.
_GEMMA2_SOFTCAPS = (50.0, 30.0)


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's per-head row interleave of W_q / W_k (or of their biases)."""
    rows = w.shape[0]
    rest = w.shape[1:]
    return w.reshape(n_head, rows // n_head // 2, 2, *rest).swapaxes(1, 2).reshape(w.shape)


def config_from_gguf(f: GGUFFile | str | Path) -> ModelConfig:
    """A `ModelConfig` from a GGUF file's metadata (and, for tying and RoPE factors, its tensors).

    `f` is a parsed `GGUFFile` or the path of one.
    """
    f = f if isinstance(f, GGUFFile) else GGUFFile(f)
    md = f.metadata
    arch = md.get("general.architecture")
    if arch not in GGUF_TABLES:
        raise UnknownArchitectureError(
            f"{f.path}: unknown GGUF architecture {arch!r}; supported: {', '.join(GGUF_TABLES)}"
        )
    family = GGUF_TABLES[arch][0]

    def get(key, default=None):
        value = md.get(f"{arch}.{key}", default)
        if value is None:
            raise WeightFileError(f"{f.path}: GGUF metadata {arch}.{key} is missing")
        return value

    d, heads, layers = int(get("embedding_length")), int(get("attention.head_count")), int(get("block_count"))
    kv_heads = get("attention.head_count_kv", heads)
    if not np.isscalar(kv_heads):
        raise UnsupportedConfigError(f"{f.path}: per-layer {arch}.attention.head_count_kv is not supported")
    head_dim = int(get("attention.key_length", d // heads))
    if int(get("attention.value_length", head_dim)) != head_dim:
        raise UnsupportedConfigError(f"{f.path}: {arch}.attention.value_length differs from key_length; not supported")
    vocab = md.get(f"{arch}.vocab_size") or len(md.get("tokenizer.ggml.tokens", ()))
    if not vocab:
        raise WeightFileError(f"{f.path}: GGUF metadata gives no vocabulary size")
    gemma = family.startswith("gemma")

    # RoPE of the global layers, with llama.cpp's scaling metadata or per-frequency factors.
    rotary = int(get("rope.dimension_count", head_dim))
    theta = float(get("rope.freq_base", 10000.0))
    scaling = md.get(f"{arch}.rope.scaling.type", "none")
    if scaling not in ("none", "linear"):
        raise UnsupportedConfigError(f"{f.path}: {arch}.rope.scaling.type={scaling!r} is not supported; supported: none, linear")
    if "rope_factors_long.weight" in f.tensors or "rope_factors_short.weight" in f.tensors:
        raise UnsupportedConfigError(f"{f.path}: LongRoPE factors (rope_factors_long/short) are not supported")
    if "rope_freqs.weight" in f.tensors:
        factors = tuple(float(v) for v in f.read("rope_freqs.weight"))
        rope = RopeSpec(theta, rotary, scaling="factors", freq_factors=factors)
    elif scaling == "linear":
        rope = RopeSpec(theta, rotary, scaling="linear", factor=float(get("rope.scaling.factor")))
    else:
        rope = RopeSpec(theta, rotary)

    window = md.get(f"{arch}.attention.sliding_window")
    windows, ropes, layer_ropes = [None] * layers, (rope,), (0,) * layers
    if family == "gemma2":  # llama.cpp: even layers slide
        windows = [int(window) if i % 2 == 0 else None for i in range(layers)]
    elif family == "gemma3":  # llama.cpp: five sliding layers, then one global; local RoPE base 10 000
        windows = [int(window) if (i + 1) % 6 else None for i in range(layers)]
        local = RopeSpec(float(md.get(f"{arch}.rope.freq_base_swa", 10000.0)), rotary)
        ropes, layer_ropes = (rope, local), tuple(0 if w is None else 1 for w in windows)
    elif window and family == "phi3":
        windows = [int(window)] * layers

    query_dim = d / heads if layers == _GEMMA_27B_LAYERS.get(family) else head_dim
    attn_cap = md.get(f"{arch}.attn_logit_softcapping")
    final_cap = md.get(f"{arch}.final_logit_softcapping")
    if family == "gemma2":
        attn_cap = attn_cap or _GEMMA2_SOFTCAPS[0]
        final_cap = final_cap or _GEMMA2_SOFTCAPS[1]
    eos = md.get("tokenizer.ggml.eos_token_id")
    return ModelConfig(
        family=family,
        vocab_size=int(vocab),
        hidden_size=d,
        intermediate_size=int(get("feed_forward_length")),
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=int(kv_heads),
        head_dim=head_dim,
        max_position_embeddings=int(get("context_length")),
        norm_eps=float(get("attention.layer_norm_rms_epsilon")),
        activation="gelu_tanh" if gemma else "silu",
        norm_offset=1.0 if gemma else 0.0,
        pre_norms=family != "olmo2",
        post_norms=family in ("gemma2", "gemma3", "olmo2"),
        qk_norm={"qwen3": "head", "gemma3": "head", "olmo2": "projection"}.get(family),
        qkv_bias="blk.0.attn_q.bias" in f.tensors,
        o_bias="blk.0.attn_output.bias" in f.tensors,
        query_scale=query_dim**-0.5,
        attn_softcap=None if attn_cap is None else float(attn_cap),
        final_softcap=None if final_cap is None else float(final_cap),
        embed_scale=math.sqrt(d) if gemma else None,
        tie_embeddings="output.weight" not in f.tensors,
        ropes=ropes,
        layer_ropes=layer_ropes,
        layer_windows=tuple(windows),
        bos_token_id=md.get("tokenizer.ggml.bos_token_id"),
        eos_token_ids=() if eos is None else (int(eos),),
    )


def load_gguf(path: Path, dtype, gguf: GGUFFile | None = None) -> tuple[ModelConfig, Decoder]:
    """Config and decoder from a GGUF file, every tensor dequantized and converted to `dtype`."""
    f = gguf or GGUFFile(path)
    config = config_from_gguf(f)
    arch = f.metadata["general.architecture"]
    table = GGUF_TABLES[arch][1]
    params = ParamCollector(config, dtype, str(path))
    gemma = config.family.startswith("gemma")
    heads = {"q": config.num_heads, "q_bias": config.num_heads, "k": config.num_kv_heads, "k_bias": config.num_kv_heads}
    for name in f.tensors:
        if name == "rope_freqs.weight":
            continue  # folded into the config's RoPE
        target, layer = table.target(name)
        if target is None:
            raise WeightFileError(f"{path}: unexpected tensor {name} for GGUF architecture {arch}")
        w = f.read(name)
        if gemma and isinstance(target, str) and target.endswith("norm"):
            w = w - np.float32(1.0)
        if arch == "llama" and target in heads:
            w = _unpermute(w, heads[target])
        params.put(target, w, layer, tensor=name)
    return config, params.decoder()
