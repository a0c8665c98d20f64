"""Jitted entry points of a `Decoder`, and greedy generation on top of them.

Prompts are padded at the end to a bucket length (a power of two, at least 16) before the
jitted forward pass, so prompts of many lengths share a few compiled programs. Causal attention
makes the padding invisible to the real positions: their values do not depend on it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._decoder import Decoder

MIN_BUCKET = 16


def bucket(t: int) -> int:
    """The padded length used for a prompt of `t` tokens."""
    return max(MIN_BUCKET, 1 << (t - 1).bit_length())


def pad_to_bucket(ids: np.ndarray) -> jax.Array:
    """Token ids (T,) padded with zeros at the end to `bucket(T)`, as int32."""
    out = np.zeros(bucket(len(ids)), np.int32)
    out[: len(ids)] = ids
    return jnp.asarray(out)


@jax.jit
def final_hidden(model: Decoder, ids) -> jax.Array:
    """Final-normed hidden states (T, d) of (padded) token ids."""
    return model.forward(model.embed(ids))


@jax.jit
def logits(model: Decoder, ids) -> jax.Array:
    """Logits (T, V) of (padded) token ids."""
    return model(ids)


@jax.jit
def next_logits(model: Decoder, ids, t) -> jax.Array:
    """Logits (V,) of the next token after the first `t` of the (padded) ids; `t` is traced."""
    y = jax.lax.dynamic_index_in_dim(model.forward(model.embed(ids)), t - 1, keepdims=False)
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
        nxt = int(jnp.argmax(next_logits(model, pad_to_bucket(np.asarray(ids)), len(ids))))
        ids.append(nxt)
        if nxt in stop_ids:
            break
    return np.asarray(ids, np.int32)
