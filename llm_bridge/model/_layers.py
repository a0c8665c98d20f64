r"""The pieces of a decoder layer as pure functions, each with its `detach` switch.

`detach=True` puts `jax.lax.stop_gradient` at exactly three kinds of places (Golden, *Large
Language Models are Locally Linear Mappings*, arXiv 2505.24293):

1. the RMSNorm normalizer $1/\sqrt{\overline{x^2}+\epsilon}$ (not the weight);
2. the attention weights (the softmax output, and with it everything through q and k);
3. the gate of a gated MLP, the whole $\mathrm{act}(x W_g)$; the up projection keeps its gradient.

With those frozen at their values for the given input, every remaining path from the input
embeddings to the output is linear (affine where V/O biases exist), so the Jacobian reconstructs
the output exactly. `stop_gradient` is the identity in the forward pass and leaves no trace in
the compiled program, so the values are bit-for-bit the same with the switch on or off.

Each gate can also be handed in instead of computed — the norm's `scale`, the MLP's `gate_value`
(and, in `Decoder`, the attention weights): that is how gates recorded in one forward pass are
replayed, frozen, in another (`Decoder.record`, `Decoder.forward(gates=...)`), where the map is
then linear in its input whatever that input is.

Weights keep PyTorch's `(out, in)` layout, so a projection is `x @ W.T` — the loaders copy no
matrix to transpose it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _stop(detach: bool):
    return jax.lax.stop_gradient if detach else (lambda a: a)


def _accum_dtype(dtype):
    """Norms and softmax run in at least float32 (float64 stays float64), as in transformers."""
    return jnp.promote_types(dtype, jnp.float32)


def rms_scale(x, *, eps: float):
    r"""The RMSNorm normaliser $\mathrm{rsqrt}(\overline{x^2} + \epsilon)$ (…, 1), in at least float32."""
    xf = x.astype(_accum_dtype(x.dtype))
    return jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + eps)


def rms_norm(x, weight, *, eps: float, offset: float = 0.0, detach: bool = False, scale=None):
    r"""$y = x \cdot \mathrm{rsqrt}(\overline{x^2} + \epsilon) \cdot (\text{offset} + w)$ over the last axis.

    Computed in at least float32 and cast back to `x.dtype`. `offset=1` is Gemma's convention
    (its checkpoints store $w - 1$). In detached mode the rsqrt factor is a constant, so the
    norm is a per-row diagonal scaling of $x$. `scale` (broadcasting against x, e.g. (…, 1))
    replaces the rsqrt factor: a recorded normaliser replayed, or another row's.
    """
    acc = _accum_dtype(x.dtype)
    xf = x.astype(acc)
    inv_rms = rms_scale(x, eps=eps) if scale is None else scale.astype(acc)
    y = xf * _stop(detach)(inv_rms)
    scale = weight.astype(acc) + offset if offset else weight.astype(acc)
    return (y * scale).astype(x.dtype)


def activation(name: str, x):
    """The gate nonlinearity: `silu`, exact `gelu`, or `gelu_tanh` (PyTorch's tanh approximation)."""
    if name == "silu":
        return jax.nn.silu(x)
    if name == "gelu":
        return jax.nn.gelu(x, approximate=False)
    if name == "gelu_tanh":
        return jax.nn.gelu(x, approximate=True)
    raise AssertionError(f"unknown activation {name!r}")


def mlp_gate(x, gate, *, act: str, gate_bias=None):
    r"""The gate of a gated MLP, $\mathrm{act}(x W_g^\top + b_g)$ (…, f)."""
    g = x @ gate.T
    return activation(act, g if gate_bias is None else g + gate_bias)


def gated_mlp(x, gate, up, down, *, act: str, gate_bias=None, up_bias=None, down_bias=None, detach=False,
              gate_value=None):
    r"""SwiGLU / GeGLU: $(\mathrm{act}(x W_g^\top) \odot x W_u^\top) W_d^\top$.

    In detached mode $\mathrm{act}(x W_g^\top)$ is a constant, so the MLP is linear in $x$
    through $W_u$ and $W_d$ only. `gate_value` replaces $\mathrm{act}(x W_g^\top)$ (a recorded
    gate, replayed); `gate` is then not read.
    """
    if gate_value is None:
        gate_value = mlp_gate(x, gate, act=act, gate_bias=gate_bias)
    u = x @ up.T
    if up_bias is not None:
        u = u + up_bias
    y = (_stop(detach)(gate_value) * u) @ down.T
    return y if down_bias is None else y + down_bias


def rotate(x, cos, sin):
    """Apply RoPE to `x` (T, heads, k) with `cos`/`sin` (T, r/2) on the first `r` dims, rotate-half layout."""
    half = cos.shape[-1]
    r = 2 * half
    x_rot, x_pass = x[..., :r], x[..., r:]
    x1, x2 = x_rot[..., :half], x_rot[..., half:]
    c = jnp.concatenate([cos, cos], axis=-1)[:, None, :].astype(x.dtype)
    s = jnp.concatenate([sin, sin], axis=-1)[:, None, :].astype(x.dtype)
    rotated = x_rot * c + jnp.concatenate([-x2, x1], axis=-1) * s
    return rotated if r == x.shape[-1] else jnp.concatenate([rotated, x_pass], axis=-1)


def attention_weights(q, k, *, scale: float, window, softcap: float | None, length=None):
    r"""Causal (optionally sliding-window) softmax attention weights, shape (g, h/g, T, T).

    `q` is (T, h, k), `k` is (T, g, k); query heads are grouped with the key/value head they
    share. Query $i$ attends to key $j$ when $j \le i$ and $i - j < w$ (`window` $w$, a traced
    scalar so that layers with and without a window share one compiled body; pass a value ≥ T
    for global attention). Scores are soft-capped as $c\tanh(s/c)$ when `softcap` is given.
    `length` (traced) masks keys $j \ge$ length too: the padding after a prompt of a batch of
    prompts of different lengths (causality already hides it from the prompt's own positions).
    """
    t, h, kd = q.shape
    g = k.shape[1]
    qg = q.reshape(t, g, h // g, kd)
    scores = jnp.einsum("tgrk,sgk->grts", qg, k) * jnp.asarray(scale, q.dtype)
    if softcap is not None:
        scores = softcap * jnp.tanh(scores / softcap)
    i = jnp.arange(t)[:, None]
    j = jnp.arange(t)[None, :]
    allowed = (j <= i) & (i - j < window)
    if length is not None:
        allowed = allowed & (j < length)
    acc = _accum_dtype(q.dtype)
    scores = jnp.where(allowed, scores.astype(acc), jnp.finfo(acc).min)
    return jax.nn.softmax(scores, axis=-1).astype(q.dtype)


def attend(weights, v):
    """Mix values (S, g, k) with weights (g, h/g, T, S) → (T, h·k), heads in query-head order.

    T = S normally; T < S when only some queries are kept (see `Decoder.layer(last=True)`).
    """
    out = jnp.einsum("grts,sgk->tgrk", weights, v)
    return out.reshape(out.shape[0], -1)
