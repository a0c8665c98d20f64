"""Load a Hugging Face model folder (config.json + *.safetensors, sharded or not).

The mapping from Hugging Face tensor names to this port's parameters is one table per family:
a layer's tensor `model.layers.{i}.<suffix>` goes to the stacked parameter the table names for
`<suffix>`; a `Split` entry cuts a fused tensor (Phi-3's `qkv_proj`, `gate_up_proj`) along its
rows into several parameters. Every tensor in the files must be claimed by the table.

Pickle checkpoints (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`, `*.pkl`) are refused: unpickling runs
whatever code the file contains.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

from ..errors import UnsafeCheckpointError, WeightFileError
from ..model import Decoder, ModelConfig
from ._hf_config import config_from_folder
from ._params import ParamCollector
from ._safetensors import read_safetensors

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


class Split(NamedTuple):
    """A fused tensor cut along its first axis into `parts`, sized by `sizes(config)`."""

    parts: tuple[str, ...]
    sizes: object  # Callable[[ModelConfig], tuple[int, ...]]


TOP = {"model.embed_tokens.weight": "embed", "model.norm.weight": "final_norm", "lm_head.weight": "unembed"}

_ATTENTION = {
    "self_attn.q_proj.weight": "q", "self_attn.k_proj.weight": "k",
    "self_attn.v_proj.weight": "v", "self_attn.o_proj.weight": "o",
    "self_attn.q_proj.bias": "q_bias", "self_attn.k_proj.bias": "k_bias",
    "self_attn.v_proj.bias": "v_bias", "self_attn.o_proj.bias": "o_bias",
    "self_attn.q_norm.weight": "q_norm", "self_attn.k_norm.weight": "k_norm",
}
_MLP = {
    "mlp.gate_proj.weight": "gate", "mlp.up_proj.weight": "up", "mlp.down_proj.weight": "down",
    "mlp.gate_proj.bias": "gate_bias", "mlp.up_proj.bias": "up_bias", "mlp.down_proj.bias": "down_bias",
}
# Llama's "post_attention_layernorm" is the norm *before* the MLP.
_PRE_NORMS = {"input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "mlp_norm"}
_SANDWICH_NORMS = {
    "input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "post_attn_norm",
    "pre_feedforward_layernorm.weight": "mlp_norm", "post_feedforward_layernorm.weight": "post_mlp_norm",
}
_POST_NORMS = {"post_attention_layernorm.weight": "post_attn_norm", "post_feedforward_layernorm.weight": "post_mlp_norm"}
_PHI3 = {
    "input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "mlp_norm",
    "self_attn.qkv_proj.weight": Split(
        ("q", "k", "v"),
        lambda c: (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim, c.num_kv_heads * c.head_dim),
    ),
    "self_attn.o_proj.weight": "o",
    "mlp.gate_up_proj.weight": Split(("gate", "up"), lambda c: (c.intermediate_size, c.intermediate_size)),
    "mlp.down_proj.weight": "down",
}

#: Per family: layer tensor suffix → parameter name (or Split).
LAYER_TABLES = {
    "llama": _PRE_NORMS | _ATTENTION | _MLP,
    "mistral": _PRE_NORMS | _ATTENTION | _MLP,
    "ministral": _PRE_NORMS | _ATTENTION | _MLP,
    "qwen2": _PRE_NORMS | _ATTENTION | _MLP,
    "qwen3": _PRE_NORMS | _ATTENTION | _MLP,
    "gemma": _PRE_NORMS | _ATTENTION | _MLP,
    "gemma2": _SANDWICH_NORMS | _ATTENTION | _MLP,
    "gemma3": _SANDWICH_NORMS | _ATTENTION | _MLP,
    "phi3": _PHI3,
    "olmo2": _POST_NORMS | _ATTENTION | _MLP,
}

_LAYER_NAME = re.compile(r"model\.layers\.(\d+)\.(.+)")


def safetensors_files(folder: Path) -> list[Path]:
    """The folder's safetensors files (all shards named by the index, if there is one)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
            raise WeightFileError(f"{index} is not a valid safetensors index") from None
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise WeightFileError(f"{folder}: shard {missing[0]} named in {index.name} is missing")
        return [folder / s for s in shards]
    files = sorted(folder.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeCheckpointError(
            f"{folder / pickles[0]} is a pickle checkpoint; refusing to load it because unpickling can "
            "execute arbitrary code — convert it to safetensors first"
        )
    raise WeightFileError(f"{folder} has no *.safetensors weight files")


def load_folder(folder: Path, dtype) -> tuple[ModelConfig, Decoder]:
    """Config and decoder from a Hugging Face folder, weights converted to `dtype`."""
    config = config_from_folder(folder)
    files = safetensors_files(folder)
    table = LAYER_TABLES[config.family]
    params = ParamCollector(config, dtype, str(folder))
    for path in files:
        for name, array in read_safetensors(path).items():
            if name in TOP:
                if name == "lm_head.weight" and config.tie_embeddings:
                    continue  # tied: transformers uses the embedding matrix, so do we
                params.put(TOP[name], array, tensor=name)
                continue
            match = _LAYER_NAME.fullmatch(name)
            target = table.get(match.group(2)) if match else None
            if target is None:
                raise WeightFileError(f"{path.name}: unexpected tensor {name} for a {config.family} model")
            layer = int(match.group(1))
            if isinstance(target, Split):
                start = 0
                for part, size in zip(target.parts, target.sizes(config)):
                    params.put(part, array[start : start + size], layer, tensor=name)
                    start += size
                if start != array.shape[0]:
                    raise WeightFileError(f"{path.name}: fused tensor {name} has {array.shape[0]} rows, expected {start}")
            else:
                params.put(target, array, layer, tensor=name)
    return config, params.decoder()
