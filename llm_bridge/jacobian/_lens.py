r"""The detached lens: the last token's per-layer detached maps, averaged over many prompts.

For each prompt p and layer l take the last token's own block of a layer's detached Jacobian —

- `span="from_input"`: $A^{(l)}_p = \partial \bar h^{(l)}_T / \partial x_T$, the map from the
  last input embedding to layer l's (final-normed) output, the reference's per-layer view;
- `span="to_output"`: $A^{(l)}_p = \partial y_T / \partial h^{(l)}_T$, the map from layer l's
  residual stream to the final-normed output: a lens in the sense of the tuned lens, with
  nothing trained —

and average over prompts: $\bar A^{(l)} = \langle A^{(l)}_p\rangle_p$, with the spread across prompts
(the elementwise standard deviation, and $\sqrt{\langle\lVert A_p - \bar A\rVert_F^2\rangle}/\lVert\bar A\rVert_F$).
Intermediate layers are then decoded through it: $W_U(\bar A^{(l)} s + c^{(l)})$, s the layer's
source (x_T, or $h^{(l)}_T$) and $c^{(l)}$ the mean offset $\langle t_p - \bar A^{(l)} s_p\rangle$ of
the prompts averaged (t the exact target), compared with the plain logit lens (final norm and
unembedding of $h^{(l)}_T$).

Only the last position is involved, and with the gates frozen the last position's row of the
frozen map is a one-token computation: its own normalisers and MLP gate and its attention weight
on itself (`Recording.row`; the other positions never read the last one's row). So each prompt
costs one recorded forward pass and d one-row sweeps, whatever its length; prompts of different
lengths go through in padded, masked batches (`jax.vmap`).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BridgeError
from ..model import rms_scale
from ._detached import embed_padded, pad_prompts
from ._layerwise import check_layers

LENS_SPANS = ("from_input", "to_output")


@dataclasses.dataclass(frozen=True)
class DetachedLens:
    r"""Prompt-averaged last-token detached maps per layer.

    `maps` (n, d, d) the mean $\bar A^{(l)}$; `spread` (n, d, d) the elementwise standard
    deviation across prompts; `relative_spread` (n,); `offset` (n, d); `layers`; `span`;
    `count` prompts (`lengths` (P,)); on the prompts averaged: `agreement` (n,) the share whose
    lens decoding's top token is the model's prediction, `logit_lens_agreement` (n,) the same
    for the logit lens, `predictions` (P,) the model's predicted tokens.
    """

    maps: np.ndarray
    spread: np.ndarray
    relative_spread: np.ndarray
    offset: np.ndarray
    layers: tuple
    span: str
    count: int
    lengths: np.ndarray
    agreement: np.ndarray
    logit_lens_agreement: np.ndarray
    predictions: np.ndarray

    def apply(self, sources) -> np.ndarray:
        """The lens' states (n, d) (or (…, n, d)) from per-layer sources (…, n, d)."""
        s = np.asarray(sources, np.float64)
        return np.einsum("lab,...lb->...la", self.maps, s) + self.offset


def _last_maps(decoder, x, length, *, span):
    """For one padded prompt: (A (L, d, d), source (L, d), target (L, d), hidden (L, d), logits at the last token)."""
    at = length - 1
    y, rec, trace = decoder.record(x, length=length, trace=True)
    row = rec.row(at)
    hidden = jax.lax.dynamic_index_in_dim(trace.hidden, at, axis=1, keepdims=False)  # (L, d)
    y_t = jax.lax.dynamic_index_in_dim(y, at, keepdims=False)
    x_t = jax.lax.dynamic_index_in_dim(x, at, keepdims=False)
    n_layers = decoder.config.num_layers
    if span == "from_input":
        scales = rms_scale(hidden, eps=decoder.config.norm_eps)  # the normalisers of the real states

        def f(xt):
            _, tr = decoder.run_layers(xt[None], trace=True, gates=row)
            return decoder.final_norm(tr.hidden[:, 0], scale=scales)

        maps = jax.jacfwd(f)(x_t)  # (L, d, d)
        source, target = jnp.broadcast_to(x_t, hidden.shape), decoder.final_norm(hidden, scale=scales)
    else:
        def g(probes):  # probes (L, d) added to the residual stream after each layer
            def body(h, xs):
                p, gl, probe = xs
                out = decoder.layer_out(p, h, None, None, None, gates=gl)
                return out.h + probe, None

            h, _ = jax.lax.scan(body, jnp.zeros_like(x_t[None]), (decoder.layers.arrays(), row.layers, probes))
            return decoder.final_norm(h, scale=row.final)[0]

        maps = jnp.moveaxis(jax.jacrev(g)(jnp.zeros((n_layers, x.shape[1]), x.dtype)), 0, 1)  # (L, d, d)
        source, target = hidden, jnp.broadcast_to(y_t, hidden.shape)
    return maps, source, target, hidden, decoder.unembed(y_t)


@partial(jax.jit, static_argnames=("span",))
def _lens_batch(decoder, xs, lengths, *, span):
    return jax.vmap(lambda x, n: _last_maps(decoder, x, n, span=span))(xs, lengths)


@jax.jit
def _top1(decoder, states):
    return jnp.argmax(decoder.unembed(states.astype(decoder.dtype)), axis=-1)


@jax.jit
def _logit_lens_top1(decoder, hidden):
    return jnp.argmax(decoder.unembed(decoder.final_norm(hidden)), axis=-1)


def _as_ids(m, prompt):
    return m.check_ids(m.tokenize(prompt) if isinstance(prompt, str) else np.asarray(prompt))


def detached_lens(m, prompts, *, span: str = "from_input", layers=None, batch: int = 8,
                  progress=None) -> DetachedLens:
    r"""Average the last token's per-layer detached maps over `prompts` (texts or token ids, of
    any lengths) into a `DetachedLens`; see the module docstring for the two spans. `batch`
    prompts go through at once (padded to the longest of them); `progress(done, total)` is
    called after each batch.
    """
    span = str(span).replace("-", "_")
    if span not in LENS_SPANS:
        raise BridgeError(f"span {span!r}: the lens is taken {' or '.join(LENS_SPANS)}")
    if isinstance(prompts, str) or (isinstance(prompts, np.ndarray) and prompts.ndim == 1):
        prompts = [prompts]
    prompts = [_as_ids(m, p) for p in prompts]
    if not prompts:
        raise BridgeError("detached_lens needs at least one prompt")
    layers = check_layers(m.config, layers)
    sel = np.asarray(layers)
    dec = m.decoder
    d, n = m.config.hidden_size, len(layers)
    total = np.zeros((n, d, d))
    squares = np.zeros((n, d, d))
    frob2 = np.zeros(n)
    sources, targets, hiddens, predictions, lengths = [], [], [], [], []
    batch = max(1, int(batch))
    for start in range(0, len(prompts), batch):
        ids, lens = pad_prompts(m, prompts[start:start + batch])
        xs = embed_padded(dec, ids, lens)
        maps, source, target, hidden, logits = _lens_batch(dec, xs, jnp.asarray(lens), span=span)
        maps = np.asarray(maps, np.float64)[:, sel]
        total += maps.sum(0)
        squares += (maps * maps).sum(0)
        frob2 += (maps * maps).sum(axis=(2, 3)).sum(0)
        sources.append(np.asarray(source, np.float64)[:, sel])
        targets.append(np.asarray(target, np.float64)[:, sel])
        hiddens.append(np.asarray(hidden)[:, sel])
        predictions.append(np.asarray(jnp.argmax(logits, axis=-1)))
        lengths.append(lens)
        if progress is not None:
            progress(min(start + batch, len(prompts)), len(prompts))
    count = len(prompts)
    mean = total / count
    variance = np.maximum(squares / count - mean * mean, 0.0)
    mean_frob2 = (mean * mean).sum(axis=(1, 2))
    relative = np.sqrt(np.maximum(frob2 / count - mean_frob2, 0.0) / np.maximum(mean_frob2, np.finfo(float).tiny))
    sources, targets = np.concatenate(sources), np.concatenate(targets)
    offset = (targets - np.einsum("lab,plb->pla", mean, sources)).mean(0)
    predictions = np.concatenate(predictions)
    states = np.einsum("lab,plb->pla", mean, sources) + offset
    lens_top = np.asarray(_top1(dec, jnp.asarray(states.reshape(-1, d)))).reshape(count, n)
    logit_top = np.asarray(_logit_lens_top1(dec, jnp.asarray(np.concatenate(hiddens).reshape(-1, d)))).reshape(count, n)
    return DetachedLens(maps=mean, spread=np.sqrt(variance), relative_spread=relative, offset=offset, layers=layers,
                        span=span, count=count, lengths=np.concatenate(lengths),
                        agreement=(lens_top == predictions[:, None]).mean(0),
                        logit_lens_agreement=(logit_top == predictions[:, None]).mean(0), predictions=predictions)


def lens_decode(m, lens: DetachedLens, prompt, top: int = 5) -> dict:
    """Decode one prompt's last token through the lens at every layer of it, beside the logit lens:
    {layers, lens_tokens (n × top texts), lens_ids (n, top), logit_lens_tokens, logit_lens_ids,
    prediction (text)}."""
    from ._spectra import token_text

    ids = _as_ids(m, prompt)
    dec = m.decoder
    xs = embed_padded(dec, ids[None], np.asarray([len(ids)]))
    maps, source, target, hidden, logits = _lens_batch(dec, xs, jnp.asarray([len(ids)], jnp.int32), span=lens.span)
    sel = np.asarray(lens.layers)
    states = lens.apply(np.asarray(source, np.float64)[0, sel])
    lens_ids = np.asarray(jax.lax.top_k(dec.unembed(jnp.asarray(states, dec.dtype)), top)[1])
    plain = np.asarray(jax.lax.top_k(dec.unembed(dec.final_norm(jnp.asarray(hidden)[0, sel])), top)[1])
    return {"layers": list(lens.layers), "lens_ids": lens_ids, "logit_lens_ids": plain,
            "lens_tokens": [token_text(m, row) for row in lens_ids],
            "logit_lens_tokens": [token_text(m, row) for row in plain],
            "prediction": token_text(m, [int(np.argmax(np.asarray(logits)[0]))])[0]}
