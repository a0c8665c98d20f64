r"""The detached Jacobian of a decoder (Golden, *Large Language Models are Locally Linear Mappings*).

With the gates frozen at their values for a prompt (`detach=True`: the norm's rsqrt, the
attention weights, $\mathrm{act}(x W_g)$), the map from the input embeddings $x_1..x_T$ (each
$d$, after any embedding scale) to the last token's final-normed state $y$ is affine:

$$ y = \sum_{i=1}^{T} J_i\, x_i + b, \qquad J_i = \partial y / \partial x_i \in \mathbb{R}^{d\times d}, $$

and $b$ gathers the biases that ride the frozen linear paths (V, O and MLP biases; zero for
bias-free models). The *point* read out can also be the output of layer $l$ (`layer=l`,
0-based: the residual stream after layer $l$) or its attention / MLP part
(`component="attn"|"mlp"`); these are passed through the final norm like the last layer's
output (`normed=True`, as the reference does), so that their singular vectors decode through
the unembedding.

How it is computed:

- $J$ (d × T × d) by reverse mode when the output is no larger than the input ($d \le Td$,
  always but for $T = 1$): one forward pass, then one reverse sweep per output direction,
  `chunk` sweeps at a time (`jax.lax.map` over vmapped batches) so memory stays bounded. The
  sweeps carry no Q, K or gate projections (their tangents stop at the frozen gates) and the
  last layer runs its output projection and MLP on the last position only (every other
  position's cotangent is zero there).
- $b$ exactly, not as $y - Jx$: the frozen map is linear jointly in $x$ and the biases on its
  linear paths, so $b = \sum_\beta (\partial y/\partial\beta)\,\beta$ — one `jax.jvp` with respect
  to the bias parameters in the direction of their own values.
- the reconstruction $\hat y = \sum_i J_i x_i + b$ in float64 on the host, and its relative
  error $\lVert y - \hat y\rVert / \lVert y\rVert$ against the *ordinary* forward output $y$.

`detach=False` gives the *ordinary* Jacobian through the same code (every gate differentiated);
the map is then not affine, so there is no bias term ($b = 0$) and the "reconstruction"
$\sum_i J_i x_i$ shows how far the ordinary Jacobian is from explaining $y$.

Prompts of different lengths go through `detached_jacobians` at once: padded at the end to one
length, the padding's keys masked, each prompt's point read at its own last position; causality
makes the Jacobian's padded columns exactly zero and the rest the one-at-a-time result.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BridgeError
from ..model import Decoder

COMPONENTS = ("attn", "mlp")
MODES = ("auto", "rev", "fwd")
#: Default memory budget (bytes) of one chunk of reverse / forward sweeps.
CHUNK_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class DetachedJacobian:
    r"""The detached Jacobian of one prompt and what it reconstructs.

    Arrays (NumPy, model dtype unless noted): `jacobian` (d, T, d), $J_{a,i,b} = \partial y_a /
    \partial x_{i,b}$; `embeddings` x (T, d); `output` y (d,) from the ordinary forward pass;
    `bias` b (d,); `reconstruction` $\sum_i J_i x_i + b$ (d,, float64); `relative_error`
    $\lVert y - \hat y\rVert/\lVert y\rVert$; `ids` (T,). `layer`, `component`, `normed` say which
    point of the network y is.
    """

    jacobian: np.ndarray
    embeddings: np.ndarray
    output: np.ndarray
    bias: np.ndarray
    reconstruction: np.ndarray
    relative_error: float
    ids: np.ndarray
    layer: int | None = None
    component: str | None = None
    normed: bool = True
    detached: bool = True
    lengths: np.ndarray | None = None

    @property
    def blocks(self) -> np.ndarray:
        """The per-token Jacobians $J_i$ stacked as (T, d, d) (batched: (B, T, d, d))."""
        return np.moveaxis(self.jacobian, -2, -3)

    def prompt(self, b: int) -> "DetachedJacobian":
        """Prompt b of a batch, without its padding (a batch of one length: its row b)."""
        if self.jacobian.ndim != 4:
            raise BridgeError("prompt(b) is for a batch from detached_jacobians")
        n = self.jacobian.shape[2] if self.lengths is None else int(self.lengths[b])
        return dataclasses.replace(
            self, jacobian=self.jacobian[b, :, :n], embeddings=self.embeddings[b, :n], output=self.output[b],
            bias=self.bias[b], reconstruction=self.reconstruction[b], relative_error=float(self.relative_error[b]),
            ids=self.ids[b, :n], lengths=None)


# ----------------------------------------------------------------------------- the maps


def check_point(config, layer, component) -> int | None:
    """`layer` normalised to 0..L-1 (negative counts from the end), or a `BridgeError`."""
    n = config.num_layers
    if component is not None and component not in COMPONENTS:
        raise BridgeError(f"component {component!r} is not one of {', '.join(COMPONENTS)} (or None)")
    if layer is None:
        if component is not None:
            raise BridgeError(f"component={component!r} needs a layer (0..{n - 1})")
        return None
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -n <= layer < n:
        raise BridgeError(f"layer {layer!r} is outside 0..{n - 1} (the model has {n} layers)")
    return int(layer) % n


def _layer_inputs(decoder: Decoder, index: int, t: int):
    """Parameters, RoPE tables and window of layer `index` (static), for a T-token prompt."""
    c = decoder.config
    p = jax.tree.map(lambda a: a[index], decoder.layers.arrays())
    cos, sin = decoder.rope_tables(t)
    r = c.layer_ropes[index]
    return p, cos[r], sin[r], decoder.attention_windows(index, index + 1)[0]


def point_map(decoder: Decoder, *, layer=None, component=None, normed=True, detach=True, at=-1, length=None):
    """The map x (T, d) ↦ the state (d,) of position `at` (default the last) at the chosen point.

    Layers before the point run on every position; the point's own layer computes its output
    for that position only (`Decoder.layer_out(at=...)`). `at` and `length` may be traced (a
    padded prompt of `length` tokens: `at = length - 1`).
    """
    index = decoder.config.num_layers - 1 if layer is None else layer

    def f(x):
        h = decoder.run_layers(x, stop=index, detach=detach, length=length)
        p, cos, sin, window = _layer_inputs(decoder, index, x.shape[0])
        out = decoder.layer_out(p, h, cos, sin, window, detach=detach, at=at, length=length)
        value = {None: out.h, "attn": out.attn, "mlp": out.mlp}[component][0]
        return decoder.final_norm(value, detach=detach) if normed else value

    return f


def _row(a, at):
    return a[at] if isinstance(at, int) else jax.lax.dynamic_index_in_dim(a, at, keepdims=False)


def point_value(decoder: Decoder, x, *, layer=None, component=None, normed=True, at=-1, length=None):
    """The ordinary (not detached) value of the point for every position's pass, at position `at` (d,).

    Computed the way `Decoder.forward` computes it, so that for `layer=None` it is bit for bit
    the model's final hidden state.
    """
    if layer is None:
        return _row(decoder.forward(x, length=length), at)
    if component is None:
        return _row(decoder.forward(x, layers=layer + 1, length=length), at)
    h = decoder.run_layers(x, stop=layer, length=length)
    _, trace = decoder.run_layers(h, start=layer, stop=layer + 1, trace=True, length=length)
    out = _row(getattr(trace, component)[0], at)
    return decoder.final_norm(out) if normed else out


# ----------------------------------------------------------------------------- jacobians


def choose_mode(n_out: int, n_in: int, mode: str = "auto") -> str:
    """Reverse mode costs one sweep per output, forward mode one per input: pick the fewer."""
    if mode not in MODES:
        raise BridgeError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    return ("rev" if n_out <= n_in else "fwd") if mode == "auto" else mode


def default_chunk(config, t: int, itemsize: int, budget: int = CHUNK_BYTES) -> int:
    """Sweeps per batch so that a batch's working set (≈ 6 · T · (f + 2d) values each) fits `budget`."""
    per_sweep = 6 * t * (config.intermediate_size + 2 * config.hidden_size) * itemsize
    return max(1, budget // per_sweep)


def jacobian(f, x, *, mode: str = "auto", chunk: int | None = None):
    r"""(f(x), ∂f/∂x) for f: (T, d) → (n,), the Jacobian shaped (n, T, d).

    `mode="rev"`: one forward pass (`jax.vjp`), then the pullback of each output basis vector,
    `chunk` at a time. `mode="fwd"`: `jax.linearize`, then the pushforward of each input basis
    vector, `chunk` at a time. `chunk=None` (or ≥ the count) vmaps all at once.
    """
    n_out = jax.eval_shape(f, x).shape[0]
    n_in = x.size
    mode = choose_mode(n_out, n_in, mode)
    if mode == "rev":
        y, pullback = jax.vjp(f, x)
        basis = jnp.eye(n_out, dtype=y.dtype)
        rows = jax.lax.map(lambda u: pullback(u)[0], basis, batch_size=_batch(chunk, n_out))
        return y, rows
    y, pushforward = jax.linearize(f, x)

    def column(i):
        return pushforward(jnp.zeros(n_in, x.dtype).at[i].set(1).reshape(x.shape))

    cols = jax.lax.map(column, jnp.arange(n_in), batch_size=_batch(chunk, n_in))  # (T·d, n)
    return y, cols.T.reshape(n_out, *x.shape)


def _batch(chunk, n):
    """`lax.map`'s batch size for n items in batches of at most `chunk`, equal-sized (0: all at once)."""
    if chunk is None or chunk >= n:
        return 0
    batches = -(-n // int(chunk))
    return -(-n // batches)


# ----------------------------------------------------------------------------- biases


def _is_bias(path) -> bool:
    return any(str(getattr(k, "name", getattr(k, "key", ""))).endswith("_bias") for k in path)


def has_biases(decoder: Decoder) -> bool:
    return any(_is_bias(p) for p, _ in jax.tree_util.tree_flatten_with_path(decoder)[0])


def bias_tangent(decoder: Decoder) -> Decoder:
    """A tangent of the decoder: each bias parameter set to its own value, everything else zero."""
    return jax.tree_util.tree_map_with_path(lambda p, a: a if _is_bias(p) else jnp.zeros_like(a), decoder)


def affine_bias(fn_of_decoder, decoder: Decoder):
    r"""$b = \sum_\beta (\partial y/\partial\beta)\,\beta$ over the bias parameters β: the output of the
    frozen affine map at x = 0, exactly (one `jax.jvp` in the biases alone, every other parameter
    held constant). Biases that only feed the gates (Q, K, gate) have zero derivative there and
    drop out by themselves."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(decoder)
    values = [a for _, a in leaves]
    index = [i for i, (path, _) in enumerate(leaves) if _is_bias(path)]
    if not index:
        return jax.tree.map(lambda out: jnp.zeros(out.shape, out.dtype), jax.eval_shape(fn_of_decoder, decoder))

    def of_biases(*biases):
        full = list(values)
        for i, b in zip(index, biases):
            full[i] = b
        return fn_of_decoder(jax.tree_util.tree_unflatten(treedef, full))

    primals = tuple(values[i] for i in index)
    return jax.jvp(of_biases, primals, primals)[1]


# ----------------------------------------------------------------------------- the entry point


_STATIC = ("layer", "component", "normed", "detach", "mode", "chunk")


def _detached_core(decoder: Decoder, x, *, layer, component, normed, detach=True, mode, chunk, length=None):
    """(J, b, y) for one prompt's embeddings x (T, d); `length` (traced): a padded prompt's length."""
    point = dict(layer=layer, component=component, normed=normed)
    at = -1 if length is None else length - 1
    _, jac = jacobian(point_map(decoder, **point, detach=detach, at=at, length=length), x, mode=mode, chunk=chunk)
    if detach:
        bias = affine_bias(lambda dec: point_map(dec, **point, at=at, length=length)(x), decoder)
    else:  # the ordinary map is not affine: no bias term
        bias = jnp.zeros(x.shape[-1], x.dtype)
    return jac, bias, point_value(decoder, x, **point, at=at, length=length)


_detached = jax.jit(_detached_core, static_argnames=_STATIC)


@partial(jax.jit, static_argnames=_STATIC)
def _detached_batch(decoder: Decoder, xs, **static):
    return jax.vmap(lambda x: _detached_core(decoder, x, **static))(xs)


@partial(jax.jit, static_argnames=_STATIC)
def _detached_ragged(decoder: Decoder, xs, lengths, **static):
    return jax.vmap(lambda x, n: _detached_core(decoder, x, length=n, **static))(xs, lengths)


def reconstruct(jac, x, bias) -> np.ndarray:
    r"""$\hat y = \sum_i J_i x_i + b$ in float64: (..., d, T, d), (..., T, d), (..., d) → (..., d)."""
    jac, x, bias = (np.asarray(a, np.float64) for a in (jac, x, bias))
    return np.einsum("...atb,...tb->...a", jac, x) + bias


def relative_error(y, y_hat) -> np.ndarray:
    y = np.asarray(y, np.float64)
    return np.linalg.norm(y - y_hat, axis=-1) / np.linalg.norm(y, axis=-1)


def detached_jacobian(m, ids, layer=None, component=None, *, normed: bool = True, detach: bool = True,
                      mode: str = "auto", chunk: int | None = None) -> DetachedJacobian:
    r"""The detached Jacobian of the prompt `ids` (T,) for the model `m` (a `LanguageModel`).

    `layer=None`: y is the last token's final-normed hidden state (what the unembedding reads).
    `layer=l` (0-based, negative from the end): y is the output of layer l passed through the
    final norm (`normed=False` leaves it raw); `component="attn"|"mlp"`: that layer's attention
    or MLP part (what it adds to the residual stream), normed the same way.
    `detach=False`: the ordinary Jacobian through the same code (b = 0; see the module docstring).
    `mode` is "auto" (by shape: reverse, one sweep per output, unless the input is smaller),
    "rev" or "fwd"; `chunk` bounds how many sweeps run at once (default: a ~1 GiB working set).

    Returns a `DetachedJacobian` with `.jacobian` (d, T, d), `.embeddings`, `.output`, `.bias`,
    `.reconstruction` and `.relative_error`.
    """
    ids = m.check_ids(ids)
    layer = check_point(m.config, layer, component)
    dec = m.decoder
    x = dec.embed(ids)
    if chunk is None:
        chunk = default_chunk(m.config, len(ids), np.dtype(m.dtype).itemsize)
    point = dict(layer=layer, component=component, normed=bool(normed))
    jac, bias, y = _detached(dec, x, mode=choose_mode(m.config.hidden_size, x.size, mode), chunk=int(chunk),
                             detach=bool(detach), **point)
    jac, x, y, bias = (np.asarray(a) for a in (jac, x, y, bias))
    y_hat = reconstruct(jac, x, bias)
    return DetachedJacobian(jacobian=jac, embeddings=x, output=y, bias=bias, reconstruction=y_hat,
                            relative_error=float(relative_error(y, y_hat)), ids=ids, detached=bool(detach), **point)


def pad_prompts(m, prompts) -> tuple[np.ndarray, np.ndarray]:
    """Token-id prompts (a (B, T) array, or a sequence of 1-D ones of any lengths), each checked,
    padded with zeros at the end to the longest: (ids (B, T_max) int32, lengths (B,) int32)."""
    if isinstance(prompts, np.ndarray) and prompts.ndim == 2:
        rows = list(prompts)
    elif isinstance(prompts, (list, tuple)) or (isinstance(prompts, np.ndarray) and prompts.dtype == object):
        rows = list(prompts)
    else:
        arr = np.asarray(prompts)
        if arr.ndim != 2:
            raise BridgeError(f"ids must be a (B, T) array or a list of B ≥ 1 prompts, got shape {arr.shape}")
        rows = list(arr)
    if not rows:
        raise BridgeError("no prompts: give a (B, T) array or a list of B ≥ 1 prompts")
    rows = [m.check_ids(np.asarray(r)) for r in rows]
    lengths = np.asarray([len(r) for r in rows], np.int32)
    out = np.zeros((len(rows), int(lengths.max())), np.int32)
    for b, r in enumerate(rows):
        out[b, : len(r)] = r
    return out, lengths


def embed_padded(decoder: Decoder, ids, lengths):
    """Embeddings (B, T, d) of padded ids (B, T), zero at the padding."""
    xs = jax.vmap(decoder.embed)(jnp.asarray(ids))
    keep = jnp.arange(ids.shape[1])[None, :] < jnp.asarray(lengths)[:, None]
    return jnp.where(keep[..., None], xs, jnp.zeros((), xs.dtype))


def detached_jacobians(m, ids, layer=None, component=None, *, normed: bool = True, detach: bool = True,
                       mode: str = "auto", chunk: int | None = None) -> DetachedJacobian:
    """`detached_jacobian` of B prompts at once (`jax.vmap`): `ids` a (B, T) array, or a list of
    prompts of different lengths (padded at the end, the padding's keys masked, each prompt's
    point read at its own last token; `lengths` records them).

    Returns one `DetachedJacobian` whose arrays carry a leading batch axis: `jacobian`
    (B, d, T, d), `embeddings` (B, T, d), `output` / `bias` / `reconstruction` (B, d),
    `relative_error` (B,), `ids` (B, T) — T the longest prompt's length; a prompt's padded
    columns of J and rows of x are zero (`.prompt(b)` drops them). Memory is B times a single
    prompt's: lower `chunk`.
    """
    batch, lengths = pad_prompts(m, ids)
    ragged = bool((lengths != batch.shape[1]).any())
    layer = check_point(m.config, layer, component)
    dec = m.decoder
    t = batch.shape[1]
    xs = embed_padded(dec, batch, lengths)
    if chunk is None:
        chunk = max(1, default_chunk(m.config, t, np.dtype(m.dtype).itemsize) // batch.shape[0])
    point = dict(layer=layer, component=component, normed=bool(normed))
    static = dict(mode=choose_mode(m.config.hidden_size, t * m.config.hidden_size, mode), chunk=int(chunk),
                  detach=bool(detach), **point)
    if ragged:
        jac, bias, y = _detached_ragged(dec, xs, jnp.asarray(lengths), **static)
    else:
        jac, bias, y = _detached_batch(dec, xs, **static)
    jac, xs, y, bias = (np.asarray(a) for a in (jac, xs, y, bias))
    y_hat = reconstruct(jac, xs, bias)
    return DetachedJacobian(jacobian=jac, embeddings=xs, output=y, bias=bias, reconstruction=y_hat,
                            relative_error=relative_error(y, y_hat), ids=batch, detached=bool(detach),
                            lengths=lengths if ragged else None, **point)


def jacobian_flops(config, t: int, n_sweeps: int | None = None) -> float:
    r"""Matrix-multiply FLOPs of the reverse sweeps: $2 \cdot n \cdot T \cdot L \cdot (|W_v| + |W_o| + |W_{up}| + |W_{down}|)$.

    The weights on the frozen map's linear paths only (Q, K and gate are not swept); `n`
    sweeps (default d, the full Jacobian). The attention mixing (T² per head) is left out.
    """
    c = config
    n = c.hidden_size if n_sweeps is None else n_sweeps
    d, f = c.hidden_size, c.intermediate_size
    weights = c.num_kv_heads * c.head_dim * d + d * c.num_heads * c.head_dim + 2 * f * d
    return 2.0 * n * t * c.num_layers * weights
