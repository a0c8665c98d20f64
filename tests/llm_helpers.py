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


# --------------------------------------------------------------------------- a NumPy reference of the frozen map


def _np_act(name, x):
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    if name == "gelu":
        from scipy.special import erf

        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _np_rotate(x, cos, sin):
    half = cos.shape[-1]
    r = 2 * half
    x1, x2 = x[..., :half], x[..., half:r]
    c = np.concatenate([cos, cos], -1)[:, None]
    s = np.concatenate([sin, sin], -1)[:, None]
    return np.concatenate([x[..., :r] * c + np.concatenate([-x2, x1], -1) * s, x[..., r:]], -1)


def numpy_attribution(decoder, ids, target, contrast=None):
    """The exact attribution, independently of JAX and PyTorch, in float64 NumPy.

    One ordinary forward pass records every gate (norm normalisers, attention weights, MLP gates,
    the final norm and soft-cap); the frozen map is then run on each input token alone (biases
    off) and on the biases alone, and every head's and MLP's output at the last position is
    dotted with the frozen readout w'. Returns (contributions (L, H+1, T), embedding path (T,),
    bias part (scalar), logit (capped, target − contrast))."""
    c = decoder.config
    P = {k: np.asarray(v, np.float64) for k, v in decoder.layers.arrays().items()}
    emb = np.asarray(decoder.embed_tokens[...], np.float64)
    unemb = emb if decoder.unembed_weight is None else np.asarray(decoder.unembed_weight[...], np.float64)
    ids = np.asarray(ids)
    x = emb[ids] * (c.embed_scale or 1.0)
    t, d = x.shape
    H, G, K = c.num_heads, c.num_kv_heads, c.head_dim

    def inv_rms(v):
        return 1.0 / np.sqrt(np.mean(v * v, -1, keepdims=True) + c.norm_eps)

    def weight(w):
        return w + c.norm_offset

    pos = np.arange(t, dtype=np.float64)
    tables = []
    for r in c.ropes:
        ang = pos[:, None] * r.inv_freq(np.float64)[None]
        tables.append((np.cos(ang), np.sin(ang)))

    def run(x, gates=None, bias=1.0):
        record, out = [], []
        h = x
        for l in range(c.num_layers):
            p = {k: v[l] for k, v in P.items()}
            g = None if gates is None else gates[l]
            b = {k: bias * p[k] if k in p else 0.0 for k in ("q_bias", "k_bias", "v_bias", "o_bias", "gate_bias",
                                                               "up_bias", "down_bias")}
            s1 = (inv_rms(h) if g is None else g[0]) if c.pre_norms else None
            xn = h * s1 * weight(p["attn_norm"]) if c.pre_norms else h
            v = (xn @ p["v"].T + b["v_bias"]).reshape(t, G, K)
            if g is None:
                q = xn @ p["q"].T + b["q_bias"]
                k = xn @ p["k"].T + b["k_bias"]
                if c.qk_norm == "projection":
                    q, k = q * inv_rms(q) * weight(p["q_norm"]), k * inv_rms(k) * weight(p["k_norm"])
                q, k = q.reshape(t, H, K), k.reshape(t, G, K)
                if c.qk_norm == "head":
                    q, k = q * inv_rms(q) * weight(p["q_norm"]), k * inv_rms(k) * weight(p["k_norm"])
                cos, sin = tables[c.layer_ropes[l]]
                q, k = _np_rotate(q, cos, sin), _np_rotate(k, cos, sin)
                kv = np.arange(H) // (H // G)
                scores = np.einsum("thk,shk->hts", q, k[:, kv]) * c.query_scale
                if c.attn_softcap:
                    scores = c.attn_softcap * np.tanh(scores / c.attn_softcap)
                i, j = np.arange(t)[:, None], np.arange(t)[None]
                window = c.layer_windows[l] or t + 1
                scores = np.where((j <= i) & (i - j < window), scores, -np.inf)
                wts = np.exp(scores - scores.max(-1, keepdims=True))
                wts = wts / wts.sum(-1, keepdims=True)
            else:
                wts = g[1]
            kv = np.arange(H) // (H // G)
            o = np.einsum("hts,shk->thk", wts, v[:, kv])
            heads = np.einsum("thk,dhk->thd", o, p["o"].reshape(d, H, K))
            a = heads.sum(1) + b["o_bias"]
            ob = np.broadcast_to(b["o_bias"], (t, d)).astype(np.float64)
            s2 = None
            if c.post_norms:
                s2 = inv_rms(a) if g is None else g[2]
                f = s2 * weight(p["post_attn_norm"])
                a, heads, ob = a * f, heads * f[:, None], ob * f
            mid = h + a
            s3 = (inv_rms(mid) if g is None else g[3]) if c.pre_norms else None
            xm = mid * s3 * weight(p["mlp_norm"]) if c.pre_norms else mid
            gate = _np_act(c.activation, xm @ p["gate"].T + b["gate_bias"]) if g is None else g[4]
            mo = (gate * (xm @ p["up"].T + b["up_bias"])) @ p["down"].T + b["down_bias"]
            s4 = None
            if c.post_norms:
                s4 = inv_rms(mo) if g is None else g[5]
                mo = mo * s4 * weight(p["post_mlp_norm"])
            h = mid + mo
            record.append((s1, wts, s2, s3, gate, s4))
            out.append((heads[-1], ob[-1], mo[-1]))
        return h, record, out

    h, gates, _ = run(x)
    final = inv_rms(h[-1])
    factor = final * weight(np.asarray(decoder.final_norm_weight[...], np.float64))
    y = h[-1] * factor
    rows = [target] + ([] if contrast is None else [contrast])
    z = unemb[rows] @ y
    cap = c.final_softcap
    g = cap * np.tanh(z / cap) / z if cap else np.ones_like(z)
    signs = np.array([1.0, -1.0])[: len(rows)]
    readout = ((signs * g) @ unemb[rows]) * factor
    logit = float(signs @ (g * z))
    contributions = np.zeros((c.num_layers, H + 1, t))
    for i in range(t):
        only = np.zeros_like(x)
        only[i] = x[i]
        _, _, out = run(only, gates, bias=0.0)
        for l, (heads, _, mo) in enumerate(out):
            contributions[l, :H, i] = heads @ readout
            contributions[l, H, i] = mo @ readout
    _, _, out = run(np.zeros_like(x), gates, bias=1.0)
    bias = sum(float(heads.sum(0) @ readout + ob @ readout + mo @ readout) for heads, ob, mo in out)
    embedding = np.zeros(t)
    embedding[-1] = x[-1] @ readout
    return contributions, embedding, bias, logit
