"""The name tables: where each tensor of a Hugging Face or GGUF checkpoint goes in the `Decoder`.

One `NameTable` per Hugging Face family and per GGUF architecture (tunix's rule: the whole
mapping is one readable table). A whole-model tensor (`top`) maps to a parameter by its full
name; a layer tensor, `model.layers.{i}.<suffix>` or `blk.{i}.<suffix>`, maps by its suffix to a
stacked per-layer parameter (`llm_bridge.model.LAYER_PARAMS`) at layer i.

Fused tensors have one form in both formats: the tuple of the parameters whose rows they stack,
in order — Phi-3's `qkv_proj` / `attn_qkv` is `("q", "k", "v")`, its `gate_up_proj` / `ffn_up`
is `("gate", "up")`. `ParamCollector.put` cuts them by the row counts the config implies.
Every tensor in a checkpoint must be claimed by its table.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

#: A table entry: one parameter, or the parameters a fused tensor stacks along its rows.
Target = str | tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class NameTable:
    """Tensor name → parameter: `top` by full name; `layers` by the suffix that `layer_name`
    (group 1 the layer index, group 2 the suffix) finds in a layer tensor's name."""

    top: Mapping[str, str]
    layers: Mapping[str, Target]
    layer_name: re.Pattern

    def target(self, name: str) -> tuple[Target | None, int | None]:
        """(the parameter or fused parts, the layer index or None) of tensor `name`; None if unclaimed."""
        if name in self.top:
            return self.top[name], None
        match = self.layer_name.fullmatch(name)
        if match is None:
            return None, None
        return self.layers.get(match.group(2)), int(match.group(1))


# ----------------------------------------------------------------------------- Hugging Face

_HF_TOP = {"model.embed_tokens.weight": "embed", "model.norm.weight": "final_norm", "lm_head.weight": "unembed"}
_HF_LAYER = re.compile(r"model\.layers\.(\d+)\.(.+)")
_HF_ATTENTION = {
    "self_attn.q_proj.weight": "q", "self_attn.k_proj.weight": "k",
    "self_attn.v_proj.weight": "v", "self_attn.o_proj.weight": "o",
    "self_attn.q_proj.bias": "q_bias", "self_attn.k_proj.bias": "k_bias",
    "self_attn.v_proj.bias": "v_bias", "self_attn.o_proj.bias": "o_bias",
    "self_attn.q_norm.weight": "q_norm", "self_attn.k_norm.weight": "k_norm",
}
_HF_MLP = {
    "mlp.gate_proj.weight": "gate", "mlp.up_proj.weight": "up", "mlp.down_proj.weight": "down",
    "mlp.gate_proj.bias": "gate_bias", "mlp.up_proj.bias": "up_bias", "mlp.down_proj.bias": "down_bias",
}
# Llama's "post_attention_layernorm" is the norm *before* the MLP.
_HF_PRE_NORMS = {"input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "mlp_norm"}
_HF_SANDWICH_NORMS = {
    "input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "post_attn_norm",
    "pre_feedforward_layernorm.weight": "mlp_norm", "post_feedforward_layernorm.weight": "post_mlp_norm",
}
_HF_POST_NORMS = {"post_attention_layernorm.weight": "post_attn_norm", "post_feedforward_layernorm.weight": "post_mlp_norm"}
_HF_PHI3 = {
    "input_layernorm.weight": "attn_norm", "post_attention_layernorm.weight": "mlp_norm",
    "self_attn.qkv_proj.weight": ("q", "k", "v"), "self_attn.o_proj.weight": "o",
    "mlp.gate_up_proj.weight": ("gate", "up"), "mlp.down_proj.weight": "down",
}


def _hf(layers: dict) -> NameTable:
    return NameTable(_HF_TOP, layers, _HF_LAYER)


#: Hugging Face family (`ModelConfig.family`) → its table.
HF_TABLES = {
    "llama": _hf(_HF_PRE_NORMS | _HF_ATTENTION | _HF_MLP),
    "mistral": _hf(_HF_PRE_NORMS | _HF_ATTENTION | _HF_MLP),
    "ministral": _hf(_HF_PRE_NORMS | _HF_ATTENTION | _HF_MLP),
    "qwen2": _hf(_HF_PRE_NORMS | _HF_ATTENTION | _HF_MLP),
    "qwen3": _hf(_HF_PRE_NORMS | _HF_ATTENTION | _HF_MLP),
    "gemma": _hf(_HF_PRE_NORMS | _HF_ATTENTION | _HF_MLP),
    "gemma2": _hf(_HF_SANDWICH_NORMS | _HF_ATTENTION | _HF_MLP),
    "gemma3": _hf(_HF_SANDWICH_NORMS | _HF_ATTENTION | _HF_MLP),
    "phi3": _hf(_HF_PHI3),
    "olmo2": _hf(_HF_POST_NORMS | _HF_ATTENTION | _HF_MLP),
}

# ----------------------------------------------------------------------------- GGUF (llama.cpp)

_GGUF_TOP = {"token_embd.weight": "embed", "output_norm.weight": "final_norm", "output.weight": "unembed"}
_GGUF_LAYER = re.compile(r"blk\.(\d+)\.(.+)")
_GGUF_COMMON = {
    "attn_q.weight": "q", "attn_k.weight": "k", "attn_v.weight": "v", "attn_output.weight": "o",
    "attn_q.bias": "q_bias", "attn_k.bias": "k_bias", "attn_v.bias": "v_bias", "attn_output.bias": "o_bias",
    "attn_q_norm.weight": "q_norm", "attn_k_norm.weight": "k_norm",
    "ffn_gate.weight": "gate", "ffn_up.weight": "up", "ffn_down.weight": "down",
}
_GGUF_PRE_NORMS = {"attn_norm.weight": "attn_norm", "ffn_norm.weight": "mlp_norm"}
_GGUF_POST_NORMS = {"post_attention_norm.weight": "post_attn_norm", "post_ffw_norm.weight": "post_mlp_norm"}
_GGUF_PHI3 = {
    "attn_norm.weight": "attn_norm", "ffn_norm.weight": "mlp_norm",
    "attn_qkv.weight": ("q", "k", "v"), "attn_output.weight": "o",
    "ffn_up.weight": ("gate", "up"), "ffn_down.weight": "down",
}


def _gguf(family: str, layers: dict) -> tuple[str, NameTable]:
    return family, NameTable(_GGUF_TOP, layers, _GGUF_LAYER)


#: GGUF architecture (`general.architecture`) → (the port's family, its table).
GGUF_TABLES = {
    "llama": _gguf("llama", _GGUF_PRE_NORMS | _GGUF_COMMON),
    "qwen2": _gguf("qwen2", _GGUF_PRE_NORMS | _GGUF_COMMON),
    "qwen3": _gguf("qwen3", _GGUF_PRE_NORMS | _GGUF_COMMON),
    "gemma": _gguf("gemma", _GGUF_PRE_NORMS | _GGUF_COMMON),
    "gemma2": _gguf("gemma2", _GGUF_PRE_NORMS | _GGUF_POST_NORMS | _GGUF_COMMON),
    "gemma3": _gguf("gemma3", _GGUF_PRE_NORMS | _GGUF_POST_NORMS | _GGUF_COMMON),
    "phi3": _gguf("phi3", _GGUF_PHI3),
    "olmo2": _gguf("olmo2", _GGUF_POST_NORMS | _GGUF_COMMON),
}
