"""Tiny random transformers models for every ported family, made offline from a config.

Each case is a transformers config with tiny sizes that still exercises what makes its family
different (GQA, biases, QK-norm, sandwich norms, soft-capping, sliding windows, RoPE scaling,
partial rotary, fused projections). Weights are re-drawn so that nothing is at its trivial
initial value: attention is sharp rather than uniform, norm weights are not all one (or zero for
Gemma's offset convention), biases are non-zero.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import transformers

TINY = dict(
    vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
)

CASES = {
    "llama": ("LlamaConfig", dict(
        rope_parameters={"rope_type": "llama3", "rope_theta": 500.0, "factor": 4.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 2.0, "original_max_position_embeddings": 16},
    )),
    "llama_biases_tied": ("LlamaConfig", dict(
        attention_bias=True, mlp_bias=True, tie_word_embeddings=True, head_dim=32,
        rope_parameters={"rope_type": "linear", "rope_theta": 1000.0, "factor": 2.0},
    )),
    "mistral": ("MistralConfig", dict(sliding_window=4, head_dim=16)),
    "ministral": ("MinistralConfig", dict(
        sliding_window=4, head_dim=16, layer_types=["sliding_attention", "full_attention", "sliding_attention"],
    )),
    "qwen2": ("Qwen2Config", dict(use_sliding_window=True, sliding_window=4, max_window_layers=1)),
    "qwen3": ("Qwen3Config", dict(head_dim=32, tie_word_embeddings=True)),
    "gemma": ("GemmaConfig", dict(head_dim=32, hidden_act="gelu_pytorch_tanh")),
    "gemma2": ("Gemma2Config", dict(
        head_dim=16, query_pre_attn_scalar=24, sliding_window=4, final_logit_softcapping=30.0,
        attn_logit_softcapping=2.0, hidden_activation="gelu_pytorch_tanh",
    )),
    "gemma3": ("Gemma3TextConfig", dict(
        head_dim=16, query_pre_attn_scalar=20, sliding_window=4,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 100.0},
                         "full_attention": {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}},
    )),
    "phi3": ("Phi3Config", dict(
        sliding_window=5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )),
    "olmo2": ("Olmo2Config", dict(pad_token_id=0, eos_token_id=2)),
}

#: Prompts as token-id arrays: one token, a short one, and ones longer than every sliding window
#: (all within one padding bucket of the bridge, so one compiled program serves them all).
PROMPTS = [
    np.array([5]),
    np.array([1, 17, 99, 3, 42]),
    np.array([7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]),
    np.random.default_rng(0).integers(0, TINY["vocab_size"], 16),
]


def tiny_config(case: str) -> transformers.PretrainedConfig:
    cls, extra = CASES[case]
    return getattr(transformers, cls)(**(TINY | extra))


def randomize(model: torch.nn.Module, seed: int, gemma_norms: bool) -> None:
    """Redraw every parameter: matrices ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norms ~ 1 + N(0, 0.2²)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            if "norm" in name:
                p.copy_((0.0 if gemma_norms else 1.0) + 0.2 * noise)
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(noise)
            elif p.ndim == 2:
                p.copy_(noise / p.shape[1] ** 0.5)
            else:
                p.copy_(0.1 * noise)


def make_tiny(case: str, folder, seed: int = 0) -> torch.nn.Module:
    """A random tiny model of `case`, saved as safetensors into `folder`; returns the torch model."""
    torch.manual_seed(seed)
    config = tiny_config(case)
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    randomize(model, seed, gemma_norms=config.model_type.startswith("gemma"))
    model.save_pretrained(folder)
    return model


def torch_logits(model, ids) -> np.ndarray:
    with torch.no_grad():
        return model(input_ids=torch.tensor(np.asarray(ids))[None]).logits[0].double().numpy()


# --------------------------------------------------------------------------- tiny GGUF files

#: HF family → GGUF architecture, for the families llama.cpp converts.
GGUF_ARCH = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma": "gemma", "gemma2": "gemma2",
             "gemma3_text": "gemma3", "phi3": "phi3", "olmo2": "olmo2"}


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's `LlamaModel.permute`: interleave each head's two rotary halves (the inverse of the bridge's)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(model: torch.nn.Module, path) -> None:
    """Write a transformers model as an F32 GGUF the way llama.cpp's converter lays it out.

    Names per llama.cpp's tensor tables; Llama's W_q / W_k permuted per head; Gemma's norm weights
    stored as 1 + w; Phi-3's fused projections kept fused. Written independently of the bridge's
    tables, so loading it back checks them.
    """
    import gguf

    cfg = model.config
    arch = GGUF_ARCH[cfg.model_type]
    gemma = arch.startswith("gemma")
    layer_names = {
        "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.qkv_proj": "attn_qkv",
        "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
        "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down", "mlp.gate_up_proj": "ffn_up",
        "post_feedforward_layernorm": "post_ffw_norm", "pre_feedforward_layernorm": "ffn_norm",
        # Llama-style models name their pre-MLP norm "post_attention_layernorm"; the sandwich-norm ones do not.
        "post_attention_layernorm": "post_attention_norm" if arch in ("gemma2", "gemma3", "olmo2") else "ffn_norm",
    }
    top = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
    w = gguf.GGUFWriter(str(path), arch)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_uint32(f"{arch}.block_count", cfg.num_hidden_layers)
    w.add_uint32(f"{arch}.context_length", cfg.max_position_embeddings)
    w.add_uint32(f"{arch}.embedding_length", cfg.hidden_size)
    w.add_uint32(f"{arch}.feed_forward_length", cfg.intermediate_size)
    w.add_uint32(f"{arch}.attention.head_count", cfg.num_attention_heads)
    w.add_uint32(f"{arch}.attention.head_count_kv", cfg.num_key_value_heads)
    w.add_uint32(f"{arch}.attention.key_length", head_dim)
    w.add_uint32(f"{arch}.attention.value_length", head_dim)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", cfg.rms_norm_eps)
    w.add_uint32(f"{arch}.vocab_size", cfg.vocab_size)
    rope = cfg.rope_parameters.get("full_attention", cfg.rope_parameters)
    w.add_float32(f"{arch}.rope.freq_base", rope["rope_theta"])
    w.add_uint32(f"{arch}.rope.dimension_count", int(head_dim * rope.get("partial_rotary_factor", 1.0)))
    if getattr(cfg, "sliding_window", None):
        w.add_uint32(f"{arch}.attention.sliding_window", cfg.sliding_window)
    for key in ("attn_logit_softcapping", "final_logit_softcapping"):
        if getattr(cfg, key, None):
            w.add_float32(f"{arch}.{key}", getattr(cfg, key))
    tied = cfg.tie_word_embeddings
    for name, tensor in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue
        base, kind = name.rsplit(".", 1)
        a = tensor.detach().float().numpy().copy()
        if base.startswith("model.layers."):
            _, _, i, rest = base.split(".", 3)
            gname = f"blk.{i}.{layer_names[rest]}.{kind}"
        else:
            gname = f"{top[base]}.{kind}"
        if arch == "llama" and rest_is(gname, ("attn_q.", "attn_k.")):
            a = _permute(a, cfg.num_attention_heads if ".attn_q." in gname else cfg.num_key_value_heads)
        if gemma and "norm" in gname:
            a = a + 1.0
        w.add_tensor(gname, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def rest_is(gname: str, prefixes) -> bool:
    return gname.startswith("blk.") and gname.split(".", 2)[2].startswith(prefixes)
