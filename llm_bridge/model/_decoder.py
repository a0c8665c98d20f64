r"""`Decoder`: the Flax NNX decoder-only transformer, with its detach switch.

One module covers every ported family; `ModelConfig` says which pieces a family has. The layer
weights are stacked along a leading layer axis and the layers run as one `jax.lax.scan`, so a
30-layer model compiles one layer body, not thirty.

The methods are pure (they read the parameters, never write them) and NNX modules are pytrees,
so they compose with JAX transforms directly:

    x = model.embed(ids)                                      # (T, d), after any embedding scale
    y = model.forward(x, detach=True)                         # (T, d), final-normed hidden states
    J = jax.jacrev(lambda x: model.forward(x, detach=True)[-1])(x)   # (d, T, d)
    logits = model.unembed(y)                                 # (T, V)

For layer-wise analyses, `run_layers(h, start, stop, trace=True)` runs any span of layers and
returns the residual stream after each layer and the attention / MLP contributions it added.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._config import ModelConfig
from ._layers import attend, attention_weights, gated_mlp, rms_norm, rotate

#: The stacked per-layer parameters, each with a leading axis of length `num_layers`; absent
#: ones are None. Matrices keep PyTorch's (out, in) layout. Shapes for one layer:
LAYER_PARAMS = {
    "attn_norm": "(d,)  RMSNorm before attention (input_layernorm)",
    "q": "(h·k, d)", "k": "(g·k, d)", "v": "(g·k, d)", "o": "(d, h·k)",
    "q_bias": "(h·k,)", "k_bias": "(g·k,)", "v_bias": "(g·k,)", "o_bias": "(d,)",
    "q_norm": "(k,) per head, or (h·k,) over the projection (OLMo-2)",
    "k_norm": "(k,) per head, or (g·k,) over the projection (OLMo-2)",
    "post_attn_norm": "(d,)  RMSNorm on the attention output (Gemma 2/3, OLMo-2)",
    "mlp_norm": "(d,)  RMSNorm before the MLP",
    "gate": "(f, d)", "up": "(f, d)", "down": "(d, f)",
    "gate_bias": "(f,)", "up_bias": "(f,)", "down_bias": "(d,)",
    "post_mlp_norm": "(d,)  RMSNorm on the MLP output (Gemma 2/3, OLMo-2)",
}

# A window no prompt reaches: global attention layers share the sliding layers' masking code.
_NO_WINDOW = np.iinfo(np.int32).max


class Trace(NamedTuple):
    """Per-layer records of a `run_layers` call, each (layers run, T, d).

    `hidden[i]` is the residual stream after the i-th layer run; `attn[i]` and `mlp[i]` are what
    that layer's attention and MLP added to it (after their post-norms, where the family has them).
    """

    hidden: jax.Array
    attn: jax.Array
    mlp: jax.Array


class Layers(nnx.Module):
    """The weights of all layers, stacked: see `LAYER_PARAMS` for names and per-layer shapes."""

    def __init__(self, arrays: dict[str, jax.Array]):
        unknown = set(arrays) - set(LAYER_PARAMS)
        if unknown:
            raise AssertionError(f"unknown layer parameters {sorted(unknown)}")
        for name in LAYER_PARAMS:
            setattr(self, name, nnx.Param(arrays[name]) if name in arrays else None)

    def arrays(self) -> dict[str, jax.Array]:
        """The present parameters as a plain dict of arrays (what the scan body reads)."""
        return {name: p[...] for name in LAYER_PARAMS if (p := getattr(self, name)) is not None}


class Decoder(nnx.Module):
    """A decoder-only transformer of the Llama family (see `ModelConfig` for the variants).

    Parameters: `embed` (V, d); `unembed` (V, d) or None when tied to `embed`; `final_norm`
    (d,); `layers` (stacked, see `LAYER_PARAMS`). `config` is static.
    """

    def __init__(self, config: ModelConfig, *, embed, final_norm, layers: dict, unembed=None):
        self.config = config
        self.embed_tokens = nnx.Param(embed)
        self.final_norm_weight = nnx.Param(final_norm)
        self.unembed_weight = None if unembed is None else nnx.Param(unembed)
        self.layers = Layers(layers)

    # ----------------------------------------------------------------- building blocks

    @property
    def dtype(self):
        return self.embed_tokens.dtype

    @property
    def unembedding(self) -> jax.Array:
        """The (V, d) matrix whose rows, dotted with a final-normed hidden state, give the logits."""
        return (self.embed_tokens if self.unembed_weight is None else self.unembed_weight)[...]

    def embed(self, ids) -> jax.Array:
        """Input embeddings (T, d) of token ids (T,), times `embed_scale` where the family has one."""
        x = self.embed_tokens[...][jnp.asarray(ids)]
        scale = self.config.embed_scale
        return x if scale is None else x * jnp.asarray(scale, x.dtype)

    def final_norm(self, h, *, detach: bool = False) -> jax.Array:
        """The final RMSNorm, applied to residual-stream states (…, d)."""
        c = self.config
        return rms_norm(h, self.final_norm_weight[...], eps=c.norm_eps, offset=c.norm_offset, detach=detach)

    def unembed(self, y) -> jax.Array:
        """Logits (…, V) of final-normed states y (…, d), soft-capped as $c\\tanh(z/c)$ where configured."""
        z = y @ self.unembedding.T
        cap = self.config.final_softcap
        return z if cap is None else jnp.tanh(z / cap) * cap

    def rope_tables(self, t: int):
        """cos and sin (n_ropes, T, r/2) for positions 0..T-1, one row per RoPE kind of the model."""
        acc = jnp.promote_types(self.dtype, jnp.float32)
        positions = jnp.arange(t, dtype=acc)
        inv = jnp.stack([jnp.asarray(r.inv_freq(np.dtype(acc))) for r in self.config.ropes])
        angles = positions[None, :, None] * inv[:, None, :]
        return jnp.cos(angles), jnp.sin(angles)

    def attention_windows(self, start: int = 0, stop: int | None = None) -> jax.Array:
        """The sliding window of layers `start .. stop-1` as int32 (L,); global layers get one no prompt reaches."""
        windows = self.config.layer_windows[start:stop]
        return jnp.asarray([_NO_WINDOW if w is None else w for w in windows], jnp.int32)

    def layer(self, p: dict, h, cos, sin, window, *, detach: bool = False, last: bool = False):
        """One decoder layer on the residual stream h (T, d) → (h', attention part, MLP part).

        `last=True` returns the last position only, each (1, d): keys and values still come from
        every position, but the output projection and the MLP run on one row. The detached
        Jacobian of the last token uses it for its final layer, where every other position's
        cotangent is zero.
        """
        c = self.config
        t = h.shape[0]

        def norm(x, w):
            return rms_norm(x, w, eps=c.norm_eps, offset=c.norm_offset, detach=detach)

        def proj(x, name):
            y = x @ p[name].T
            bias = p.get(name + "_bias")
            return y if bias is None else y + bias

        x = norm(h, p["attn_norm"]) if c.pre_norms else h
        q, k, v = proj(x, "q"), proj(x, "k"), proj(x, "v")
        if c.qk_norm == "projection":
            q, k = norm(q, p["q_norm"]), norm(k, p["k_norm"])
        q = q.reshape(t, c.num_heads, c.head_dim)
        k = k.reshape(t, c.num_kv_heads, c.head_dim)
        v = v.reshape(t, c.num_kv_heads, c.head_dim)
        if c.qk_norm == "head":
            q, k = norm(q, p["q_norm"]), norm(k, p["k_norm"])
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        weights = attention_weights(q, k, scale=c.query_scale, window=window, softcap=c.attn_softcap)
        if detach:
            weights = jax.lax.stop_gradient(weights)
        if last:
            weights, h = weights[:, :, -1:], h[-1:]
        a = proj(attend(weights, v), "o")
        if c.post_norms:
            a = norm(a, p["post_attn_norm"])
        h = h + a

        x = norm(h, p["mlp_norm"]) if c.pre_norms else h
        m = gated_mlp(
            x, p["gate"], p["up"], p["down"], act=c.activation, gate_bias=p.get("gate_bias"),
            up_bias=p.get("up_bias"), down_bias=p.get("down_bias"), detach=detach,
        )
        if c.post_norms:
            m = norm(m, p["post_mlp_norm"])
        return h + m, a, m

    # ----------------------------------------------------------------- whole passes

    def run_layers(self, h, *, start: int = 0, stop: int | None = None, detach: bool = False, trace: bool = False):
        """Run layers `start .. stop-1` (static ints) on the residual stream h (T, d).

        Returns the residual stream after layer `stop - 1`, and with `trace=True` also a
        `Trace` of every layer run. `h` is the input embeddings when `start == 0`.
        """
        c = self.config
        stop = c.num_layers if stop is None else stop
        if not 0 <= start <= stop <= c.num_layers:
            raise ValueError(f"layer span {start}..{stop} outside 0..{c.num_layers}")
        t = h.shape[0]
        params = jax.tree.map(lambda a: a[start:stop], self.layers.arrays())
        cos, sin = self.rope_tables(t)
        rope_index = jnp.asarray(c.layer_ropes[start:stop], jnp.int32)
        windows = self.attention_windows(start, stop)

        def body(h, xs):
            p, r, w = xs
            h, a, m = self.layer(p, h, cos[r], sin[r], w, detach=detach)
            return h, (h, a, m) if trace else None

        h, ys = jax.lax.scan(body, h, (params, rope_index, windows))
        return (h, Trace(*ys)) if trace else h

    def forward(self, x, *, detach: bool = False, layers: int | None = None) -> jax.Array:
        """Final-normed hidden states (T, d) from input embeddings x (T, d).

        `layers=l` stops after the first l layers and applies the final norm there (the
        reference's layer-wise detached Jacobian normalises each layer's output the same way).
        """
        return self.final_norm(self.run_layers(x, stop=layers, detach=detach), detach=detach)

    def __call__(self, ids) -> jax.Array:
        """Logits (T, V) of token ids (T,)."""
        return self.unembed(self.forward(self.embed(ids)))
