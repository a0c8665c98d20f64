r"""Detached Jacobians of every layer's output, and of its attention and MLP parts, in one pass.

For layer $l$ the points are the last token's residual stream after the layer, $h^{(l)}_T$, and
the two parts the layer added to it, $a^{(l)}_T$ (attention) and $m^{(l)}_T$ (MLP), each passed
through the final norm (`normed=True`, the reference's convention), so that
$h^{(l)} = h^{(l-1)} + a^{(l)} + m^{(l)}$ before the norm. Each has its own detached Jacobian
$J^{(l,p)}$ (d × T × d) and bias, and reconstructs its own value.

All points come out of one scan over the layers, so the choice of mode is about counts only:
forward mode pushes the $Td$ input basis vectors through one pass and gets every layer and part
at once; reverse mode pulls $n_\text{layers} \cdot n_\text{parts} \cdot d$ output basis vectors back.
`mode="auto"` takes the fewer: forward for short prompts ($T < n_\text{layers} n_\text{parts}$).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BridgeError
from ..model import Decoder
from ._detached import affine_bias, choose_mode, default_chunk, jacobian, reconstruct, relative_error

PARTS = ("layer", "attn", "mlp")


@dataclasses.dataclass(frozen=True)
class LayerJacobians:
    """Detached Jacobians of layers × parts. `jacobian` (n, P, d, T, d); `output`, `bias`,
    `reconstruction` (n, P, d); `relative_error` (n, P); `layers` the n layer indices (0-based);
    `parts` the P names from `PARTS`; `embeddings` (T, d); `ids` (T,)."""

    jacobian: np.ndarray
    output: np.ndarray
    bias: np.ndarray
    reconstruction: np.ndarray
    relative_error: np.ndarray
    layers: tuple
    parts: tuple
    embeddings: np.ndarray
    ids: np.ndarray


def last_token_points(decoder: Decoder, x, *, detach: bool, normed: bool = True):
    """(L, 3, d): the last token's [residual after the layer, attention part, MLP part] per layer."""
    c = decoder.config
    cos, sin = decoder.rope_tables(x.shape[0])
    rope_index = jnp.asarray(c.layer_ropes, jnp.int32)
    windows = decoder.attention_windows()

    def body(h, xs):
        p, r, w = xs
        h, a, m = decoder.layer(p, h, cos[r], sin[r], w, detach=detach)
        return h, jnp.stack([h[-1], a[-1], m[-1]])

    _, points = jax.lax.scan(body, x, (decoder.layers.arrays(), rope_index, windows))
    return decoder.final_norm(points, detach=detach) if normed else points


def _selected(decoder, x, layers, parts, *, detach, normed):
    return last_token_points(decoder, x, detach=detach, normed=normed)[layers][:, parts]


@partial(jax.jit, static_argnames=("parts", "normed", "mode", "chunk"))
def _layer_jacobians(decoder, x, layers, *, parts, normed, mode, chunk):
    def f(x):
        return _selected(decoder, x, layers, parts, detach=True, normed=normed).reshape(-1)

    _, jac = jacobian(f, x, mode=mode, chunk=chunk)
    bias = affine_bias(lambda dec: _selected(dec, x, layers, parts, detach=True, normed=normed), decoder)
    value = _selected(decoder, x, layers, parts, detach=False, normed=normed)
    shape = (layers.shape[0], len(parts), x.shape[1])
    return jac.reshape(*shape, *x.shape), bias, value


def check_layers(config, layers) -> tuple:
    n = config.num_layers
    if layers is None:
        return tuple(range(n))
    out = tuple(int(i) % n if isinstance(i, (int, np.integer)) and -n <= i < n else None for i in layers)
    if not out or None in out:
        raise BridgeError(f"layers {list(layers)!r} must be a non-empty list of indices in 0..{n - 1}")
    return out


def layer_jacobians(m, ids, layers=None, parts=PARTS, *, normed: bool = True, mode: str = "auto",
                    chunk: int | None = None) -> LayerJacobians:
    r"""Detached Jacobians of the chosen layers' outputs and parts for the prompt `ids` (T,).

    `layers`: indices (default all), `parts`: a subset of `PARTS`. Memory is the result's,
    n · P · d · T · d values; pass fewer layers or parts for long prompts.
    """
    ids = m.check_ids(ids)
    layers = check_layers(m.config, layers)
    parts = tuple(parts)
    if not parts or any(p not in PARTS for p in parts):
        raise BridgeError(f"parts {list(parts)!r} must be a non-empty subset of {', '.join(PARTS)}")
    dec = m.decoder
    x = dec.embed(ids)
    d = m.config.hidden_size
    mode = choose_mode(len(layers) * len(parts) * d, x.size, mode)
    if chunk is None:
        chunk = default_chunk(m.config, len(ids), np.dtype(m.dtype).itemsize)
    index = tuple(PARTS.index(p) for p in parts)
    jac, bias, value = _layer_jacobians(dec, x, jnp.asarray(layers, jnp.int32), parts=index, normed=bool(normed),
                                        mode=mode, chunk=int(chunk))
    jac, bias, value, x = (np.asarray(a) for a in (jac, bias, value, x))
    y_hat = reconstruct(jac, x, bias)
    return LayerJacobians(jacobian=jac, output=value, bias=bias, reconstruction=y_hat,
                          relative_error=relative_error(value, y_hat), layers=layers, parts=parts,
                          embeddings=x, ids=ids)
