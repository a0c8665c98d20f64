"""Jitted entry points of a `Decoder`, and greedy generation on top of them.

Prompts are padded at the end to a bucket length (a power of two, at least 16) before the
jitted forward pass, so prompts of many lengths share a few compiled programs. Causal attention
makes the padding invisible to the real positions: their values do not depend on it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._model import Decoder

MIN_BUCKET = 16


def bucket(t: int) -> int:
    """The padded length used for a prompt of `t` tokens."""
    return max(MIN_BUCKET, 1 << (t - 1).bit_length())


def pad(ids: np.ndarray) -> jax.Array:
    out = np.zeros(bucket(len(ids)), np.int32)
    out[: len(ids)] = ids
    return jnp.asarray(out)


@jax.jit
def final_hidden(model: Decoder, ids) -> jax.Array:
    """Final-normed hidden states (T, d) of (padded) token ids."""
    return model.forward(model.embed(ids))


@jax.jit
def unembed(model: Decoder, y) -> jax.Array:
    return model.unembed(y)


@jax.jit
def residual_states(model: Decoder, ids) -> jax.Array:
    """(L + 1, T, d): the input embeddings, then the residual stream after each layer."""
    x = model.embed(ids)
    _, trace = model.run_layers(x, trace=True)
    return jnp.concatenate([x[None], trace.hidden])


def greedy(model: Decoder, ids: np.ndarray, max_new_tokens: int, stop_ids=()) -> np.ndarray:
    """Append the argmax token `max_new_tokens` times (or until a token in `stop_ids`)."""
    ids = [int(i) for i in ids]
    for _ in range(max_new_tokens):
        t = len(ids)
        h = final_hidden(model, pad(np.asarray(ids)))
        nxt = int(jnp.argmax(unembed(model, h[t - 1 : t])[0]))
        ids.append(nxt)
        if nxt in stop_ids:
            break
    return np.asarray(ids, np.int32)
