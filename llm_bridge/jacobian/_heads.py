r"""Per-head detached Jacobians: each attention head's share of a layer's attention part.

A layer's attention part is $a = \mathrm{post}\big(\sum_h o_h W_{O,h}^\top + b_O\big)$, $o_h$ head
h's mixed values. With the gates frozen the post-norm (where the family has one) and the final
norm each scale a row by one constant factor, so they distribute over the heads: head h's share
$a_h$ (normed the way the attention part is, by the factor of the whole part) is a linear map of
the input too, $a_h = \sum_i J^{(h)}_i x_i + b_h$, and

$$ \sum_h J^{(h)} = J^{(\text{attn})}, \qquad \sum_h b_h + b_O' = b^{(\text{attn})}, $$

$b_O'$ the share of the output projection's bias (which belongs to no head). The V biases ride
their own head's share. Grouped-query heads are counted per query head (they share a K/V head,
not their weights).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BridgeError
from ..model import rms_scale
from ._detached import (
    _layer_inputs,
    affine_bias,
    check_point,
    choose_mode,
    default_chunk,
    jacobian,
    reconstruct,
    relative_error,
)

HEAD_SPANS = ("from_input", "single")


@dataclasses.dataclass(frozen=True)
class HeadJacobians:
    """Per-head detached Jacobians of one layer's attention part, last token.

    `jacobian` (H, d, T, d) against `inputs` (T, d) (the embeddings, or the layer's input
    residual stream for `span="single"`); `output` (H, d) each head's share (ordinary pass);
    `bias` (H, d); `o_bias` (d,) the output projection's bias share; `reconstruction`,
    `relative_error` per head; `attention` (d,) the whole attention part, Σ output + o_bias (float64).
    """

    jacobian: np.ndarray
    output: np.ndarray
    bias: np.ndarray
    o_bias: np.ndarray
    reconstruction: np.ndarray
    relative_error: np.ndarray
    attention: np.ndarray
    inputs: np.ndarray
    layer: int
    span: str
    normed: bool
    ids: np.ndarray


def head_shares(decoder, x, layer: int, *, start: int = 0, normed: bool = True, detach: bool = True):
    """(heads (H, d), O-bias share (d,), attention part (d,)) of `layer` at the last token, from the
    residual stream `x` entering layer `start` (0: the embeddings; `layer`: the layer's own input)."""
    h = decoder.run_layers(x, start=start, stop=layer, detach=detach)
    p, cos, sin, window = _layer_inputs(decoder, layer, x.shape[0])
    att = decoder.attention(p, h, cos, sin, window, detach=detach, at=-1, heads=True)
    heads, total = att.heads[0], att.out[0]
    bias = jnp.zeros_like(total) if att.bias is None else att.bias[0]
    if normed:  # the final norm of the whole attention part, its factor shared by every head
        scale = rms_scale(total, eps=decoder.config.norm_eps)
        heads = decoder.final_norm(heads, detach=detach, scale=scale[None])
        bias = decoder.final_norm(bias, detach=detach, scale=scale)
        total = decoder.final_norm(total, detach=detach)
    return heads, bias, total


@partial(jax.jit, static_argnames=("layer", "start", "normed", "mode", "chunk"))
def _head_jacobians(decoder, x, *, layer, start, normed, mode, chunk):
    if start:
        x = decoder.run_layers(x, stop=start)

    def f(x):
        return head_shares(decoder, x, layer, start=start, normed=normed)[0].reshape(-1)

    value, jac = jacobian(f, x, mode=mode, chunk=chunk)  # the primal: each head's share (detaching changes no value)
    bias, o_bias = affine_bias(lambda dec: head_shares(dec, x, layer, start=start, normed=normed)[:2], decoder)
    n_heads, d = decoder.config.num_heads, x.shape[1]
    return jac.reshape(n_heads, d, *x.shape), bias, o_bias, value.reshape(n_heads, d), x


def head_jacobians(m, ids, layer: int, *, span: str = "from_input", normed: bool = True, mode: str = "auto",
                   chunk: int | None = None) -> HeadJacobians:
    r"""Per-head detached Jacobians (H, d, T, d) of `layer`'s attention part for the prompt `ids` (T,).

    They sum over heads to the attention part of `layer_jacobians` at that layer, with the same
    normalisation (`normed`: the final norm of the whole attention part), and their biases plus
    `o_bias` to its bias. `span`: "from_input" (against the embeddings) or "single" (against the
    layer's own input residual stream).
    """
    ids = m.check_ids(ids)
    layer = check_point(m.config, layer, "attn")
    span = str(span).replace("-", "_")
    if span not in HEAD_SPANS:
        raise BridgeError(f"span {span!r}: head Jacobians are taken {' or '.join(HEAD_SPANS)}")
    dec = m.decoder
    x = dec.embed(ids)
    d, t = m.config.hidden_size, len(ids)
    mode = choose_mode(m.config.num_heads * d, x.size, mode)
    if chunk is None:
        chunk = default_chunk(m.config, t, np.dtype(m.dtype).itemsize)
    start = layer if span == "single" else 0
    jac, bias, o_bias, value, inputs = (np.asarray(a) for a in _head_jacobians(
        dec, x, layer=layer, start=start, normed=bool(normed), mode=mode, chunk=int(chunk)))
    total = value.astype(np.float64).sum(0) + o_bias
    y_hat = reconstruct(jac, inputs, bias)
    return HeadJacobians(jacobian=jac, output=value, bias=bias, o_bias=o_bias, reconstruction=y_hat,
                         relative_error=relative_error(value, y_hat), attention=total, inputs=inputs, layer=layer,
                         span=span, normed=bool(normed), ids=ids)
