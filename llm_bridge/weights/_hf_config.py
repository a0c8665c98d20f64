"""Translate a Hugging Face `config.json` into a `ModelConfig`, refusing what the port lacks.

penzai's rule: every attribute of the config is either understood (it shapes the forward pass
and is checked against the values the port implements), known to be irrelevant to inference
(dropout, initialisation, labels, metadata), or an error. A model with an attribute we have never
seen is refused, never run with that attribute silently ignored.

The raw file is first normalised by `transformers.AutoConfig` (which fills the class defaults,
folds legacy `rope_theta` / `rope_scaling` / `sliding_window_pattern` into `rope_parameters` and
`layer_types`), so the numbers are those the PyTorch reference uses.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import UnknownArchitectureError, UnsupportedConfigError, WeightFileError
from ..model import ModelConfig, RopeSpec

# Attributes that do not change the inference forward pass of a decoder-only model.
IGNORED = frozenset({
    "transformers_version", "architectures", "model_type", "_name_or_path", "name_or_path",
    "dtype", "torch_dtype", "return_dict", "output_hidden_states", "output_attentions",
    "use_cache", "id2label", "label2id", "problem_type", "chunk_size_feed_forward",
    "is_encoder_decoder", "is_decoder", "add_cross_attention", "cross_attention_hidden_size",
    "tie_encoder_decoder", "tokenizer_class", "prefix", "task_specific_params",
    "finetuning_task", "sep_token_id", "decoder_start_token_id", "pad_token_id",
    "initializer_range", "attention_dropout", "resid_pdrop", "embd_pdrop", "pruned_heads",
    "torchscript", "use_bfloat16", "tf_legacy_loss", "bad_words_ids", "_attn_implementation_autoset",
    # Tensor-parallel slicing used in pretraining; the computed function is the same.
    "pretraining_tp",
    # Folded by transformers into `layer_types` / `sliding_window` / `rope_parameters`.
    "use_sliding_window", "max_window_layers", "sliding_window_pattern", "_sliding_window_pattern",
    "original_max_position_embeddings", "rope_theta", "rope_scaling", "rope_local_base_freq",
    "partial_rotary_factor",
})

# What each family's forward pass consumes. Keys shared by all families come first.
COMMON = frozenset({
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "rms_norm_eps",
    "tie_word_embeddings", "rope_parameters", "bos_token_id", "eos_token_id",
})
FAMILIES: dict[str, frozenset[str]] = {
    "llama": COMMON | {"hidden_act", "head_dim", "attention_bias", "mlp_bias"},
    "mistral": COMMON | {"hidden_act", "head_dim", "sliding_window"},
    "ministral": COMMON | {"hidden_act", "head_dim", "sliding_window", "layer_types"},
    "qwen2": COMMON | {"hidden_act", "sliding_window", "layer_types"},
    "qwen3": COMMON | {"hidden_act", "head_dim", "attention_bias", "sliding_window", "layer_types"},
    "gemma": COMMON | {"hidden_act", "head_dim", "attention_bias", "use_bidirectional_attention"},
    "gemma2": COMMON | {
        "hidden_activation", "head_dim", "attention_bias", "query_pre_attn_scalar", "sliding_window",
        "layer_types", "final_logit_softcapping", "attn_logit_softcapping", "use_bidirectional_attention",
    },
    "gemma3_text": COMMON | {
        "hidden_activation", "head_dim", "attention_bias", "query_pre_attn_scalar", "sliding_window",
        "layer_types", "final_logit_softcapping", "attn_logit_softcapping", "use_bidirectional_attention",
    },
    "phi3": COMMON | {"hidden_act", "sliding_window"},
    "olmo2": COMMON | {"hidden_act", "attention_bias"},
}
SUPPORTED_MODEL_TYPES = tuple(FAMILIES)

# Hugging Face activation names → the names of `ModelConfig.activation`.
HF_ACTIVATIONS = {
    "silu": "silu", "swish": "silu", "gelu": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh",
}
ROPE_TYPES = ("default", "linear", "llama3")
ROPE_KEYS = frozenset({
    "rope_type", "type", "rope_theta", "factor", "low_freq_factor", "high_freq_factor",
    "original_max_position_embeddings", "partial_rotary_factor",
})


def read_model_type(folder: Path) -> str:
    """The `model_type` of a folder's `config.json`, checked against the ported families."""
    path = folder / "config.json"
    if not path.is_file():
        raise WeightFileError(f"{folder} has no config.json (a Hugging Face model folder needs one)")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightFileError(f"{path} is not valid JSON: {e}") from None
    model_type = raw.get("model_type")
    if model_type not in FAMILIES:
        raise UnknownArchitectureError(
            f"unknown architecture model_type={model_type!r} in {path}; "
            f"supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    return model_type


def config_from_folder(folder: Path) -> ModelConfig:
    """Read, normalise (via `transformers.AutoConfig`) and translate a folder's config.json."""
    read_model_type(folder)
    from transformers import AutoConfig  # heavy import, only when a folder is loaded

    hf = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    return config_from_hf(hf.to_dict())


def _unsupported(family: str, key: str, value: Any, supported: str) -> UnsupportedConfigError:
    return UnsupportedConfigError(f"{family}: config attribute {key}={value!r} is not supported; {supported}")


def _rope(family: str, params: dict, head_dim: int, max_positions: int, *, partial_ok: bool) -> RopeSpec:
    unknown = set(params) - ROPE_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise _unsupported(family, f"rope_parameters.{key}", params[key], f"known RoPE keys: {', '.join(sorted(ROPE_KEYS))}")
    kind = params.get("rope_type", params.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise _unsupported(family, "rope_parameters.rope_type", kind, f"supported: {', '.join(ROPE_TYPES)}")
    partial = params.get("partial_rotary_factor") or 1.0
    if partial != 1.0 and not partial_ok:
        raise _unsupported(family, "partial_rotary_factor", partial, "only phi3 rotates part of each head")
    spec = dict(theta=float(params["rope_theta"]), rotary_dim=int(head_dim * partial), scaling=kind)
    if kind in ("linear", "llama3"):
        spec["factor"] = float(params["factor"])
    if kind == "llama3":
        spec.update(
            low_freq_factor=float(params["low_freq_factor"]),
            high_freq_factor=float(params["high_freq_factor"]),
            original_max_position_embeddings=int(params.get("original_max_position_embeddings") or max_positions),
        )
    return RopeSpec(**spec)


def _check_value(family, c, key, allowed, supported):
    if key in c and c[key] not in allowed:
        raise _unsupported(family, key, c[key], supported)


def config_from_hf(c: dict[str, Any]) -> ModelConfig:
    """Translate a normalised Hugging Face config dict (`PretrainedConfig.to_dict()`)."""
    family = c.get("model_type")
    if family not in FAMILIES:
        raise UnknownArchitectureError(
            f"unknown architecture model_type={family!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    known = FAMILIES[family]
    for key, value in c.items():
        if key not in known and key not in IGNORED:
            raise _unsupported(family, key, value, f"the port implements only: {', '.join(sorted(known))}")
    if c.get("quantization_config"):
        raise _unsupported(family, "quantization_config", c["quantization_config"], "load unquantized safetensors or a GGUF file")

    _check_value(family, c, "use_bidirectional_attention", (None, False), "only causal attention is ported")
    _check_value(family, c, "mlp_bias", (False, True), "a boolean")
    missing = [k for k in ("hidden_size", "num_attention_heads", "num_hidden_layers", "max_position_embeddings",
                           "intermediate_size", "vocab_size", "rms_norm_eps") if c.get(k) is None]
    if missing:
        raise UnsupportedConfigError(f"{family}: the config lacks {', '.join(missing)}")

    gemma = family.startswith("gemma")
    d, heads = int(c["hidden_size"]), int(c["num_attention_heads"])
    head_dim = int(c.get("head_dim") or d // heads)
    layers = int(c["num_hidden_layers"])
    max_positions = int(c["max_position_embeddings"])

    act_key = "hidden_activation" if family in ("gemma2", "gemma3_text") else "hidden_act"
    act = c.get(act_key)
    if act not in HF_ACTIVATIONS:
        raise _unsupported(family, act_key, act, f"supported: {', '.join(HF_ACTIVATIONS)}")

    # Which layers slide, and over how many positions.
    window = c.get("sliding_window")
    layer_types = c.get("layer_types")
    if family in ("mistral", "phi3"):
        layer_types = ["sliding_attention" if window is not None else "full_attention"] * layers
    elif layer_types is None:
        layer_types = ["full_attention"] * layers
    if len(layer_types) != layers or not set(layer_types) <= {"full_attention", "sliding_attention"}:
        raise _unsupported(family, "layer_types", layer_types, "one of full_attention / sliding_attention per layer")
    if "sliding_attention" in layer_types and not (isinstance(window, int) and window > 0):
        raise _unsupported(family, "sliding_window", window, "a positive integer where layers slide")
    windows = tuple(window if t == "sliding_attention" else None for t in layer_types)

    # RoPE: one spec, or (Gemma 3) one per layer type.
    rope_params = c.get("rope_parameters") or {}
    nested = set(rope_params) & {"full_attention", "sliding_attention"}
    if nested:
        kinds = sorted(set(layer_types))
        ropes = tuple(_rope(family, rope_params[t], head_dim, max_positions, partial_ok=False) for t in kinds)
        layer_ropes = tuple(kinds.index(t) for t in layer_types)
    else:
        ropes = (_rope(family, rope_params, head_dim, max_positions, partial_ok=family == "phi3"),)
        layer_ropes = (0,) * layers

    softcaps = {}
    for key in ("final_logit_softcapping", "attn_logit_softcapping"):
        value = c.get(key)
        if value is not None and not (isinstance(value, (int, float)) and value > 0):
            raise _unsupported(family, key, value, "a positive number or null")
        softcaps[key] = None if value is None else float(value)

    bias = bool(c.get("attention_bias", False))
    eos = c.get("eos_token_id")
    eos = () if eos is None else tuple(eos) if isinstance(eos, (list, tuple)) else (int(eos),)
    return ModelConfig(
        family=family.removesuffix("_text"),
        vocab_size=int(c["vocab_size"]),
        hidden_size=d,
        intermediate_size=int(c["intermediate_size"]),
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=int(c.get("num_key_value_heads") or heads),
        head_dim=head_dim,
        max_position_embeddings=max_positions,
        norm_eps=float(c["rms_norm_eps"]),
        activation=HF_ACTIVATIONS[act],
        norm_offset=1.0 if gemma else 0.0,
        pre_norms=family != "olmo2",
        post_norms=family in ("gemma2", "gemma3_text", "olmo2"),
        qk_norm={"qwen3": "head", "gemma3_text": "head", "olmo2": "projection"}.get(family),
        qkv_bias=bias or family == "qwen2",
        o_bias=bias,
        mlp_bias=bool(c.get("mlp_bias", False)),
        query_scale=float(c["query_pre_attn_scalar"]) ** -0.5 if "query_pre_attn_scalar" in known else head_dim**-0.5,
        attn_softcap=softcaps["attn_logit_softcapping"],
        final_softcap=softcaps["final_logit_softcapping"],
        embed_scale=math.sqrt(d) if gemma else None,
        tie_embeddings=bool(c.get("tie_word_embeddings", False)),
        ropes=ropes,
        layer_ropes=layer_ropes,
        layer_windows=windows,
        bos_token_id=c.get("bos_token_id"),
        eos_token_ids=eos,
    )
