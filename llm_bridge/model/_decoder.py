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
returns the residual stream after each layer and the attention / MLP contributions it added;
`layer_out` (or its halves `attention`, with per-head shares, and `mlp`) is one layer with
everything it computes.

Gates can be recorded in one pass and replayed, frozen, in another:

    y, rec = model.record(x)                                  # ordinary pass, every gate kept
    y2 = model.forward(x2, gates=rec)                         # x2 ↦ y2 linear (affine with biases)
    J = jax.jacrev(lambda x: model.forward(x, gates=rec)[-1])(x)   # = the detached Jacobian at x

Batches of prompts of different lengths are padded at the end; `length=` masks the padding's keys.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._config import ModelConfig
from ._layers import attend, attention_weights, gated_mlp, mlp_gate, rms_norm, rms_scale, rotate

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


class Gates(NamedTuple):
    r"""What `detach=True` freezes in one layer: the gates, as recorded for every position.

    `attn_norm`, `post_attn_norm`, `mlp_norm`, `post_mlp_norm` are RMSNorm normalisers
    $\mathrm{rsqrt}(\overline{x^2}+\epsilon)$, each (T, 1) (None where the family has no such
    norm); `weights` (g, h/g, T, T) the attention weights; `mlp_gate` (T, f) the MLP gate
    $\mathrm{act}(x W_g)$. Stacked over layers (a leading axis) inside a `Recording`.
    """

    attn_norm: jax.Array | None
    weights: jax.Array
    post_attn_norm: jax.Array | None
    mlp_norm: jax.Array | None
    mlp_gate: jax.Array
    post_mlp_norm: jax.Array | None


class Recording(NamedTuple):
    """Every gate of a forward pass (`Decoder.record`): `layers`, the `Gates` of each layer stacked
    (leading axis L), and `final`, the final norm's normaliser (T, 1). Replayed by
    `Decoder.forward(x, gates=recording)`, where the map x ↦ y is then linear (affine with biases)."""

    layers: Gates
    final: jax.Array

    def row(self, i) -> "Recording":
        """The gates of position `i` alone (static or traced), as a one-token recording: its own
        normalisers and MLP gate, and the attention weight of query i on key i. Replayed on input
        that is zero at every other position, the frozen map from position i to position i is
        the same with the other positions dropped (causality: they never read position i's row)."""

        def rows(a, axis):
            return None if a is None else jax.lax.dynamic_slice_in_dim(a, i, 1, axis)

        g = self.layers
        return Recording(
            Gates(attn_norm=rows(g.attn_norm, 1), weights=rows(rows(g.weights, 3), 4),
                  post_attn_norm=rows(g.post_attn_norm, 1), mlp_norm=rows(g.mlp_norm, 1), mlp_gate=rows(g.mlp_gate, 1),
                  post_mlp_norm=rows(g.post_mlp_norm, 1)),
            rows(self.final, 0),
        )


class Trace(NamedTuple):
    """Per-layer records of a `run_layers` call, each (layers run, T, d).

    `hidden[i]` is the residual stream after the i-th layer run; `attn[i]` and `mlp[i]` are what
    that layer's attention and MLP added to it (after their post-norms, where the family has them);
    `gates` the layers' `Gates` (stacked) with `record=True`, else None.
    """

    hidden: jax.Array
    attn: jax.Array
    mlp: jax.Array
    gates: Gates | None = None


class Attention(NamedTuple):
    """What `Decoder.attention` returns. `out` (T', d): what attention adds to the residual stream
    (after the post-norm, where the family has one); `heads` (T', h, d): each query head's share
    of it (with `heads=True`, else None), so that `out` = Σ heads + `bias` to round-off; `bias`
    (T', d) the output projection's bias share (None without an O bias); `attn_norm` (T, 1),
    `weights` (g, h/g, T, T) and `post_norm` (T', 1): the gates computed (or replayed)."""

    out: jax.Array
    heads: jax.Array | None
    bias: jax.Array | None
    attn_norm: jax.Array | None
    weights: jax.Array
    post_norm: jax.Array | None


class Mlp(NamedTuple):
    """What `Decoder.mlp` returns: `out` (T', d) and the gates `mlp_norm` (T', 1), `gate` (T', f),
    `post_norm` (T', 1)."""

    out: jax.Array
    mlp_norm: jax.Array | None
    gate: jax.Array
    post_norm: jax.Array | None


class LayerOut(NamedTuple):
    """What `Decoder.layer_out` returns: the residual stream after the layer `h` (T', d), the
    attention and MLP parts `attn`, `mlp` (T', d), the layer's `gates`, and with `heads=True` the
    per-head shares of `attn` (T', h, d) and its O-bias share `attn_bias` (T', d) or None."""

    h: jax.Array
    attn: jax.Array
    mlp: jax.Array
    gates: Gates
    heads: jax.Array | None
    attn_bias: jax.Array | None


def _rows(a, at, axis: int = 0):
    """Row `at` of `a` along `axis`, kept as an axis of length 1 (`at` static or traced); all rows for None."""
    if a is None or at is None:
        return a
    if isinstance(at, (int, np.integer)) and at < 0:
        at = a.shape[axis] + int(at)
    return jax.lax.dynamic_slice_in_dim(a, at, 1, axis)


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

    def final_norm(self, h, *, detach: bool = False, scale=None) -> jax.Array:
        """The final RMSNorm, applied to residual-stream states (…, d); `scale` replaces its normaliser."""
        return self._norm(h, self.final_norm_weight[...], detach=detach, scale=scale)

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

    def _norm(self, x, w, *, detach: bool, scale=None):
        c = self.config
        return rms_norm(x, w, eps=c.norm_eps, offset=c.norm_offset, detach=detach, scale=scale)

    def _scale(self, x, recorded, at=None):
        """The normaliser of x (T', d): replayed (row `at` of the recorded (T, 1)) or computed."""
        return rms_scale(x, eps=self.config.norm_eps) if recorded is None else _rows(recorded, at)

    def attention(self, p: dict, h, cos, sin, window, *, detach: bool = False, gates: Gates | None = None,
                  at=None, length=None, heads: bool = False) -> Attention:
        """The attention part of one layer on the residual stream h (T, d): an `Attention`.

        `gates`: the layer's recorded `Gates`, replayed (the weights, the norms' normalisers;
        Q and K are then not computed at all). `at`: keep query row `at` only (static or traced;
        keys and values still come from every position). `length`: mask keys from `length` on
        (batches of padded prompts). `heads=True` also returns each head's share of the output.
        """
        c = self.config
        t = h.shape[0]

        def proj(x, name):
            y = x @ p[name].T
            bias = p.get(name + "_bias")
            return y if bias is None else y + bias

        s_in = self._scale(h, None if gates is None else gates.attn_norm) if c.pre_norms else None
        x = self._norm(h, p["attn_norm"], detach=detach, scale=s_in) if c.pre_norms else h
        if gates is None:
            q, k = proj(x, "q"), proj(x, "k")
            if c.qk_norm == "projection":
                q, k = self._norm(q, p["q_norm"], detach=detach), self._norm(k, p["k_norm"], detach=detach)
            q = q.reshape(t, c.num_heads, c.head_dim)
            k = k.reshape(t, c.num_kv_heads, c.head_dim)
            if c.qk_norm == "head":
                q, k = self._norm(q, p["q_norm"], detach=detach), self._norm(k, p["k_norm"], detach=detach)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            weights = attention_weights(q, k, scale=c.query_scale, window=window, softcap=c.attn_softcap,
                                        length=length)
            if detach:
                weights = jax.lax.stop_gradient(weights)
        else:
            weights = gates.weights
        v = proj(x, "v").reshape(t, c.num_kv_heads, c.head_dim)
        mixed = attend(_rows(weights, at, axis=2), v)  # (T', h·k)
        a = proj(mixed, "o")
        per_head = bias = None
        if heads:
            d = c.hidden_size
            per_head = jnp.einsum("thk,dhk->thd", mixed.reshape(-1, c.num_heads, c.head_dim),
                                  p["o"].reshape(d, c.num_heads, c.head_dim))
            if p.get("o_bias") is not None:
                bias = jnp.broadcast_to(p["o_bias"], a.shape)
        s_post = None
        if c.post_norms:
            s_post = self._scale(a, None if gates is None else gates.post_attn_norm, at)
            a = self._norm(a, p["post_attn_norm"], detach=detach, scale=s_post)
            if heads:  # the post-norm scales each row by one factor: it distributes over the heads
                per_head = self._norm(per_head, p["post_attn_norm"], detach=detach, scale=s_post[:, None])
                bias = None if bias is None else self._norm(bias, p["post_attn_norm"], detach=detach, scale=s_post)
        return Attention(a, per_head, bias, s_in, weights, s_post)

    def mlp(self, p: dict, h, *, detach: bool = False, gates: Gates | None = None, at=None) -> Mlp:
        """The MLP part of one layer on the residual stream h (T', d) (after attention): an `Mlp`.

        `gates`: the layer's recorded `Gates`, replayed (row `at` of them when h holds that row only).
        """
        c = self.config
        s_in = self._scale(h, None if gates is None else gates.mlp_norm, at) if c.pre_norms else None
        x = self._norm(h, p["mlp_norm"], detach=detach, scale=s_in) if c.pre_norms else h
        if gates is None:
            gate = mlp_gate(x, p["gate"], act=c.activation, gate_bias=p.get("gate_bias"))
        else:
            gate = _rows(gates.mlp_gate, at)
        m = gated_mlp(x, p["gate"], p["up"], p["down"], act=c.activation, up_bias=p.get("up_bias"),
                      down_bias=p.get("down_bias"), detach=detach, gate_value=gate)
        s_post = None
        if c.post_norms:
            s_post = self._scale(m, None if gates is None else gates.post_mlp_norm, at)
            m = self._norm(m, p["post_mlp_norm"], detach=detach, scale=s_post)
        return Mlp(m, s_in, gate, s_post)

    def layer_out(self, p: dict, h, cos, sin, window, *, detach: bool = False, gates: Gates | None = None,
                  at=None, length=None, heads: bool = False) -> LayerOut:
        """One decoder layer on the residual stream h (T, d), everything it computes: a `LayerOut`.

        The keywords are those of `attention`; with `at`, every output is row `at`'s (T' = 1).
        """
        att = self.attention(p, h, cos, sin, window, detach=detach, gates=gates, at=at, length=length, heads=heads)
        mid = _rows(h, at) + att.out
        mlp = self.mlp(p, mid, detach=detach, gates=gates, at=at)
        recorded = Gates(att.attn_norm, att.weights, att.post_norm, mlp.mlp_norm, mlp.gate, mlp.post_norm)
        return LayerOut(mid + mlp.out, att.out, mlp.out, recorded, att.heads, att.bias)

    def layer(self, p: dict, h, cos, sin, window, *, detach: bool = False, last: bool = False,
              gates: Gates | None = None, length=None):
        """One decoder layer on the residual stream h (T, d) → (h', attention part, MLP part).

        `last=True` returns the last position only, each (1, d): keys and values still come from
        every position, but the output projection and the MLP run on one row. The detached
        Jacobian of the last token uses it for its final layer, where every other position's
        cotangent is zero. `gates` and `length` as in `attention`.
        """
        out = self.layer_out(p, h, cos, sin, window, detach=detach, gates=gates, at=-1 if last else None,
                             length=length)
        return out.h, out.attn, out.mlp

    # ----------------------------------------------------------------- whole passes

    def run_layers(self, h, *, start: int = 0, stop: int | None = None, detach: bool = False, trace: bool = False,
                   gates: Recording | None = None, record: bool = False, length=None):
        """Run layers `start .. stop-1` (static ints) on the residual stream h (T, d).

        Returns the residual stream after layer `stop - 1`, and with `trace=True` also a
        `Trace` of every layer run (with their `Gates` when `record=True`). `h` is the input
        embeddings when `start == 0`. `gates`: a `Recording` of the whole model, whose layers
        `start .. stop-1` are replayed; `length`: the prompt's length when h is padded.
        """
        c = self.config
        stop = c.num_layers if stop is None else stop
        if not 0 <= start <= stop <= c.num_layers:
            raise ValueError(f"layer span {start}..{stop} outside 0..{c.num_layers}")
        t = h.shape[0]
        params = jax.tree.map(lambda a: a[start:stop], self.layers.arrays())
        replay = None if gates is None else jax.tree.map(lambda a: a[start:stop], gates.layers)
        cos, sin = self.rope_tables(t)
        rope_index = jnp.asarray(c.layer_ropes[start:stop], jnp.int32)
        windows = self.attention_windows(start, stop)

        def body(h, xs):
            p, r, w, g = xs
            out = self.layer_out(p, h, cos[r], sin[r], w, detach=detach, gates=g, length=length)
            if not trace:
                return out.h, None
            return out.h, (out.h, out.attn, out.mlp, out.gates if record else None)

        h, ys = jax.lax.scan(body, h, (params, rope_index, windows, replay))
        return (h, Trace(*ys)) if trace else h

    def forward(self, x, *, detach: bool = False, layers: int | None = None, gates: Recording | None = None,
                length=None) -> jax.Array:
        """Final-normed hidden states (T, d) from input embeddings x (T, d).

        `layers=l` stops after the first l layers and applies the final norm there (the
        reference's layer-wise detached Jacobian normalises each layer's output the same way).
        `gates`: a `Recording` to replay (every layer's, and the final norm's, so not with `layers`);
        `length`: the prompt's length when x is padded.
        """
        if gates is not None and layers is not None:
            raise ValueError("a Recording replays the whole model: forward(gates=...) takes no layers=")
        h = self.run_layers(x, stop=layers, detach=detach, gates=gates, length=length)
        return self.final_norm(h, detach=detach, scale=None if gates is None else gates.final)

    def record(self, x, *, length=None, trace: bool = False):
        """The ordinary forward pass on input embeddings x (T, d), recording every gate:
        (final-normed states (T, d), `Recording`), and with `trace=True` the pass's `Trace` too."""
        h, layers = self.run_layers(x, trace=True, record=True, length=length)
        final = rms_scale(h, eps=self.config.norm_eps)
        out = (self.final_norm(h, scale=final), Recording(layers.gates, final))
        return (*out, layers) if trace else out

    def __call__(self, ids) -> jax.Array:
        """Logits (T, V) of token ids (T,)."""
        return self.unembed(self.forward(self.embed(ids)))
