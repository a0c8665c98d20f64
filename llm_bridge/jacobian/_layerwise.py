r"""Detached Jacobians of every layer's output, and of its attention and MLP parts, over three spans.

For layer $l$ the points are the last token's residual stream after the layer, $h^{(l)}_T$, and
the two parts the layer added to it, $a^{(l)}_T$ (attention) and $m^{(l)}_T$ (MLP), so that
$h^{(l)} = h^{(l-1)} + a^{(l)} + m^{(l)}$. The span says what each point is differentiated
against (the reference toolkit's three views):

- `"from_input"` (the default): the point, through the final norm (`normed=True`, the reference's
  convention), against the input embeddings x (T, d): $y = \sum_i J_i x_i + b$, b the biases
  on the way;
- `"single"`: the same normed point against its own layer's input, the residual stream
  $h^{(l-1)}$ (T, d) ($h^{(-1)} = x$): the layer alone, b its own biases;
- `"to_output"`: the final output y (the last token's final-normed state) against the point,
  at every position: for the layer, $h^{(l)}$; for its attention part, $a^{(l)}$; for its MLP
  part, $m^{(l)}$ — $J = \partial y / \partial(\text{point})$. The "bias" is then everything
  else that reaches y: the frozen map (gates replayed) evaluated with that point set to zero,
  so that $y = \sum_i J_i p_i + b$ again, exactly. For the layer's own output b is just the
  biases after it; for a part it also carries the rest of the residual stream. Since $m^{(l)}$
  only joins the stream, its J equals the layer's; $a^{(l)}$'s is that of the stream right
  after attention.

Each point has its own detached Jacobian $J^{(l,p)}$ (d × T × d) and reconstructs its own value.

From the input, all points come out of one scan over the layers, so the choice of mode is about
counts only: forward mode pushes the $Td$ input basis vectors through one pass and gets every
layer and part at once; reverse mode pulls $n_\text{layers} \cdot n_\text{parts} \cdot d$ output
basis vectors back. `mode="auto"` takes the fewer: forward for short prompts
($T < n_\text{layers} n_\text{parts}$). A single layer is one layer's work per point (the layers
vmapped); to the output is $d$ reverse sweeps for every layer and part at once.

`detach=False` gives the ordinary Jacobians through the same code (b = 0).
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
SPANS = ("from_input", "single", "to_output")


@dataclasses.dataclass(frozen=True)
class LayerJacobians:
    """Detached Jacobians of layers × parts over one span. `jacobian` (n, P, d, T, d); `output`,
    `bias`, `reconstruction` (n, P, d); `relative_error` (n, P); `layers` the n layer indices
    (0-based); `parts` the P names from `PARTS`; `span` one of `SPANS`; `inputs` what J is taken
    against, (n, P, T, d): x for every point (from the input), $h^{(l-1)}$ (a single layer), the
    point's own value (to the output); `embeddings` (T, d); `ids` (T,); `detached` (False: the
    ordinary Jacobians, b = 0)."""

    jacobian: np.ndarray
    output: np.ndarray
    bias: np.ndarray
    reconstruction: np.ndarray
    relative_error: np.ndarray
    layers: tuple
    parts: tuple
    embeddings: np.ndarray
    ids: np.ndarray
    span: str = "from_input"
    inputs: np.ndarray | None = None
    detached: bool = True


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


_STATIC = ("parts", "normed", "detach", "mode", "chunk")


@partial(jax.jit, static_argnames=_STATIC)
def _from_input(decoder, x, layers, *, parts, normed, detach, mode, chunk):
    def f(x):
        return _selected(decoder, x, layers, parts, detach=detach, normed=normed).reshape(-1)

    value, jac = jacobian(f, x, mode=mode, chunk=chunk)  # detaching changes no value: the primal is the point's
    if detach:
        bias = affine_bias(lambda dec: _selected(dec, x, layers, parts, detach=True, normed=normed), decoder)
    else:
        bias = jnp.zeros((layers.shape[0], len(parts), x.shape[1]), x.dtype)
    shape = (layers.shape[0], len(parts), x.shape[1])
    value = value.reshape(shape)
    return jac.reshape(*shape, *x.shape), bias, value, jnp.broadcast_to(x, (*shape[:2], *x.shape))


def _layer_tables(decoder, layers, t):
    """Per selected layer (traced indices): its parameters, RoPE tables and window, stacked."""
    c = decoder.config
    params = jax.tree.map(lambda a: a[layers], decoder.layers.arrays())
    cos, sin = decoder.rope_tables(t)
    rope = jnp.asarray(c.layer_ropes, jnp.int32)[layers]
    return params, cos[rope], sin[rope], decoder.attention_windows()[layers]


@partial(jax.jit, static_argnames=_STATIC)
def _single(decoder, x, layers, *, parts, normed, detach, mode, chunk):
    _, trace = decoder.run_layers(x, trace=True)
    inputs = jnp.concatenate([x[None], trace.hidden[:-1]])[layers]  # (n, T, d): each layer's input
    params, cos, sin, windows = _layer_tables(decoder, layers, x.shape[0])

    def point(p, h, cos, sin, w, detach):
        out = decoder.layer_out(p, h, cos, sin, w, detach=detach, at=-1)
        pts = jnp.stack([out.h[0], out.attn[0], out.mlp[0]])[jnp.asarray(parts)]
        return decoder.final_norm(pts, detach=detach) if normed else pts

    def one(p, h, cos, sin, w):
        value, jac = jacobian(lambda h: point(p, h, cos, sin, w, detach).reshape(-1), h, mode=mode, chunk=chunk)
        if detach:  # b: this layer's own biases (the input h is held fixed), a jvp in them alone
            names = [k for k in p if k.endswith("_bias")]

            def of_biases(*biases):
                return point(p | dict(zip(names, biases)), h, cos, sin, w, True)

            primals = tuple(p[k] for k in names)
            bias = jax.jvp(of_biases, primals, primals)[1] if names else jnp.zeros((len(parts), h.shape[1]), h.dtype)
        else:
            bias = jnp.zeros((len(parts), h.shape[1]), h.dtype)
        return jac.reshape(len(parts), h.shape[1], *h.shape), bias, value.reshape(len(parts), -1)

    jac, bias, value = jax.vmap(one)(params, inputs, cos, sin, windows)
    return jac, bias, value, jnp.broadcast_to(inputs[:, None], (*bias.shape[:2], *x.shape))


def _probed(decoder, x, probes, layers, *, detach, gates=None):
    """The last token's final-normed state with `probes` (n, 2, T, d) added to the residual stream of
    the selected layers: [n, 0] right after the attention part joins it, [n, 1] after the MLP's."""
    c = decoder.config
    full = jnp.zeros((c.num_layers, *probes.shape[1:]), probes.dtype).at[layers].set(probes)
    cos, sin = decoder.rope_tables(x.shape[0])
    rope_index = jnp.asarray(c.layer_ropes, jnp.int32)
    replay = None if gates is None else gates.layers

    def body(h, xs):
        p, r, w, g, probe = xs
        att = decoder.attention(p, h, cos[r], sin[r], w, detach=detach, gates=g)
        mid = h + att.out + probe[0]
        mlp = decoder.mlp(p, mid, detach=detach, gates=g)
        return mid + mlp.out + probe[1], None

    h, _ = jax.lax.scan(body, x, (decoder.layers.arrays(), rope_index, decoder.attention_windows(), replay, full))
    scale = None if gates is None else gates.final[-1:]
    return decoder.final_norm(h[-1:], detach=detach, scale=scale)[0]


#: For each part: which probe slot (0: after attention, 1: after the MLP) it joins the stream at.
_SLOT = {0: 1, 1: 0, 2: 1}


@partial(jax.jit, static_argnames=_STATIC)
def _to_output(decoder, x, layers, *, parts, normed, detach, mode, chunk):
    del normed, mode  # the output is the final normed state; reverse mode: d sweeps for every point at once
    n, t, d = layers.shape[0], x.shape[0], x.shape[1]
    y, rec, trace = decoder.record(x, trace=True)
    y = y[-1]
    values = jnp.stack([trace.hidden, trace.attn, trace.mlp], axis=1)[layers][:, jnp.asarray(parts)]  # (n, P, T, d)
    zero = jnp.zeros((n, 2, t, d), x.dtype)
    _, rows = jacobian(lambda probes: _probed(decoder, x, probes, layers, detach=detach), zero, mode="rev",
                       chunk=chunk)  # (d, n, 2, T, d)
    slots = jnp.asarray([_SLOT[p] for p in parts])
    jac = jnp.moveaxis(rows[:, :, slots], 0, 2)  # (n, P, d, T, d)
    if detach:
        # the rest: the frozen map (gates replayed) with the point set to zero, i.e. probed by minus its value
        def rest(i, j):
            probes = zero.at[i, slots[j]].set(-values[i, j])
            return _probed(decoder, x, probes, layers, detach=True, gates=rec)

        ii, jj = jnp.meshgrid(jnp.arange(n), jnp.arange(len(parts)), indexing="ij")
        bias = jax.lax.map(lambda ij: rest(*ij), (ii.reshape(-1), jj.reshape(-1))).reshape(n, len(parts), d)
    else:
        bias = jnp.zeros((n, len(parts), d), x.dtype)
    return jac, bias, jnp.broadcast_to(y, (n, len(parts), d)), values


_SPAN_FN = {"from_input": _from_input, "single": _single, "to_output": _to_output}


def check_layers(config, layers) -> tuple:
    n = config.num_layers
    if layers is None:
        return tuple(range(n))
    out = tuple(int(i) % n if isinstance(i, (int, np.integer)) and -n <= i < n else None for i in layers)
    if not out or None in out:
        raise BridgeError(f"layers {list(layers)!r} must be a non-empty list of indices in 0..{n - 1}")
    return out


def check_span(span: str) -> str:
    span = str(span).replace("-", "_")
    if span not in SPANS:
        raise BridgeError(f"span {span!r} is not one of {', '.join(SPANS)}")
    return span


def layer_jacobians(m, ids, layers=None, parts=PARTS, *, span: str = "from_input", normed: bool = True,
                    detach: bool = True, mode: str = "auto", chunk: int | None = None) -> LayerJacobians:
    r"""Detached Jacobians of the chosen layers' outputs and parts for the prompt `ids` (T,).

    `layers`: indices (default all), `parts`: a subset of `PARTS`, `span`: one of `SPANS` (see
    the module docstring; "to-output" is accepted too). `normed` applies to the points of
    "from_input" and "single" (to the output, the output is always the final-normed state).
    `detach=False`: the ordinary Jacobians. Memory is the result's, n · P · d · T · d values;
    pass fewer layers or parts for long prompts.
    """
    ids = m.check_ids(ids)
    span = check_span(span)
    layers = check_layers(m.config, layers)
    parts = tuple(parts)
    if not parts or any(p not in PARTS for p in parts):
        raise BridgeError(f"parts {list(parts)!r} must be a non-empty subset of {', '.join(PARTS)}")
    dec = m.decoder
    x = dec.embed(ids)
    d, t = m.config.hidden_size, len(ids)
    n_out = (len(layers) if span == "from_input" else 1) * len(parts) * d
    mode = choose_mode(n_out, x.size, mode)
    if chunk is None:
        chunk = default_chunk(m.config, t, np.dtype(m.dtype).itemsize)
    index = tuple(PARTS.index(p) for p in parts)
    jac, bias, value, inputs = _SPAN_FN[span](dec, x, jnp.asarray(layers, jnp.int32), parts=index,
                                              normed=bool(normed), detach=bool(detach), mode=mode, chunk=int(chunk))
    jac, bias, value, inputs, x = (np.asarray(a) for a in (jac, bias, value, inputs, x))
    y_hat = reconstruct(jac, inputs, bias)
    return LayerJacobians(jacobian=jac, output=value, bias=bias, reconstruction=y_hat,
                          relative_error=relative_error(value, y_hat), layers=layers, parts=parts,
                          embeddings=x, ids=ids, span=span, inputs=inputs, detached=bool(detach))


def detachment_gap(m, ids, layers=None, parts=PARTS, *, span: str = "from_input", **kwargs) -> dict:
    r"""What the frozen gates hide: $\lVert J_\text{ordinary} - J_\text{detached}\rVert_F$ per layer and part.

    The ordinary Jacobian differentiates the norms' normalisers, the softmax (with Q and K) and
    the MLP gates too; the gap is what those derivatives add. Returns `layers`, `parts`, `span`,
    `gap` (n, P), `relative` (n, P) the gap over $\lVert J_\text{detached}\rVert_F$, `detached_norm`,
    `ordinary_norm` (n, P), and each Jacobian's reconstruction error (`detached_error`,
    `ordinary_error`: the ordinary one does not reconstruct its point). `kwargs` go to
    `layer_jacobians`.
    """
    det = layer_jacobians(m, ids, layers, parts, span=span, **kwargs)
    ordinary = layer_jacobians(m, ids, layers, parts, span=span, detach=False, **kwargs)
    n, p = det.jacobian.shape[:2]
    a = det.jacobian.reshape(n, p, -1).astype(np.float64)
    b = ordinary.jacobian.reshape(n, p, -1).astype(np.float64)
    gap = np.linalg.norm(b - a, axis=-1)
    det_norm = np.linalg.norm(a, axis=-1)
    return {"layers": np.asarray(det.layers), "parts": list(det.parts), "span": det.span, "gap": gap,
            "relative": gap / np.maximum(det_norm, np.finfo(np.float64).tiny), "detached_norm": det_norm,
            "ordinary_norm": np.linalg.norm(b, axis=-1), "detached_error": det.relative_error,
            "ordinary_error": ordinary.relative_error}


def token_importance(jac) -> dict:
    r"""How much each input token matters to a detached Jacobian: $\lVert J_i\rVert_F$ and $\lVert J_i x_i\rVert$.

    `jac`: a `DetachedJacobian` (J (d, T, d), x the embeddings) or a `LayerJacobians` (J
    (n, P, d, T, d) against its `inputs`). Returns `jacobian_norm` (…, T), `contribution_norm`
    (…, T) and `contribution_share` (…, T), the latter normalised to sum to one over tokens.
    """
    j = np.asarray(jac.jacobian, np.float64)
    inputs = getattr(jac, "inputs", None)
    x = np.asarray(jac.embeddings if inputs is None else inputs, np.float64)
    norms = np.sqrt(np.einsum("...atb,...atb->...t", j, j))
    contrib = np.linalg.norm(np.einsum("...atb,...tb->...ta", j, x), axis=-1)
    total = contrib.sum(axis=-1, keepdims=True)
    return {"jacobian_norm": norms, "contribution_norm": contrib,
            "contribution_share": contrib / np.maximum(total, np.finfo(np.float64).tiny)}


