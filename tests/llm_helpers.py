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

#: Prompts as token-id arrays: one token, a short one, and ones longer than every sliding window.
PROMPTS = [
    np.array([5]),
    np.array([1, 17, 99, 3, 42]),
    np.array([7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]),
    np.random.default_rng(0).integers(0, TINY["vocab_size"], 23),
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
        return model(input_ids=torch.as_tensor(np.asarray(ids))[None]).logits[0].double().numpy()
