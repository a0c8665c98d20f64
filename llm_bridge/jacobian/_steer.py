r"""Steering with the detached Jacobian: add a source prompt's $J_l x$ to another prompt's stream.

For a source prompt with embeddings $x^{src}$ and layer $l$, the steering vector is what the
detached map of layer l makes of the source,

$$ s = \sum_i J^{(l)}_i x^{src}_i \qquad(\,= h^{(l)}_T - b \text{ up to round-off}), $$

optionally restricted to the top-r left singular directions of the joint layer map,
$s_r = U_r U_r^\top s$ (the "concept" subspace of the source at that layer). Generation of a target
prompt then runs with $h^{(l)} \leftarrow h^{(l)} + \alpha\, s$ at every position after layer l
(`scale` α), greedily. By default $J^{(l)}$ is taken to the raw residual stream (`normed=False`),
the space s is added to.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from rsvp_jax.linalg import blas_threads

from ..errors import BridgeError, PromptTooLongError
from ..model import pad_to_bucket
from ._decode import joint_svd
from ._detached import check_point, detached_jacobian


def steering_vector(m, ids, layer: int, *, rank: int | None = None, normed: bool = False) -> np.ndarray:
    r"""$s = \sum_i J^{(l)}_i x_i$ (d,) of the prompt `ids` at `layer`, projected onto the top `rank`
    left singular vectors of $[J^{(l)}_1 \cdots J^{(l)}_T]$ when `rank` is given."""
    layer = _check_layer(m, layer)
    dj = detached_jacobian(m, ids, layer=layer, normed=normed)
    s = np.einsum("atb,tb->a", dj.jacobian.astype(np.float64), dj.embeddings.astype(np.float64))
    if rank is not None:
        d = m.config.hidden_size
        if not 1 <= int(rank) <= d:
            raise BridgeError(f"rank={rank!r}: need 1..{d}")
        with blas_threads(1):
            u = np.asarray(joint_svd(dj.jacobian)[0], np.float64)[:, : int(rank)]
        s = u @ (u.T @ s)
    return s.astype(m.dtype)


def steered_states(decoder, x, vector, *, layer: int, scale):
    """Final-normed states (T, d) with `scale · vector` added to the residual stream after `layer`."""
    h = decoder.run_layers(x, stop=layer + 1)
    h = h + jnp.asarray(scale, h.dtype) * vector.astype(h.dtype)
    return decoder.final_norm(decoder.run_layers(h, start=layer + 1))


@partial(jax.jit, static_argnames="layer")
def _next_logits(decoder, ids, t, vector, scale, *, layer):
    y = steered_states(decoder, decoder.embed(ids), vector, layer=layer, scale=scale)
    return decoder.unembed(jax.lax.dynamic_index_in_dim(y, t - 1, keepdims=False))


def steered_logits(m, ids, vector, layer: int, scale: float = 1.0) -> np.ndarray:
    """Next-token logits (V,) after the prompt `ids`, steered at `layer` by `scale · vector`."""
    ids = m.check_ids(ids)
    layer = _check_layer(m, layer)
    out = _next_logits(m.decoder, pad_to_bucket(ids), len(ids), jnp.asarray(vector, m.dtype), scale, layer=layer)
    return np.asarray(out)


def steer(m, prompt, vector, layer: int, scale: float = 1.0, max_new_tokens: int = 20, *,
          stop_at_eos: bool = True) -> np.ndarray:
    """Greedy generation of `prompt` (ids, or text) steered at `layer`: the prompt ids then the new ones."""
    ids = m.check_ids(m.tokenize(prompt) if isinstance(prompt, str) else prompt)
    layer = _check_layer(m, layer)
    if len(ids) + max_new_tokens > m.config.max_position_embeddings:
        raise PromptTooLongError(
            f"{len(ids)} prompt + {max_new_tokens} new tokens exceed the context of {m.config.max_position_embeddings}")
    vector = jnp.asarray(vector, m.dtype)
    stop = m.config.eos_token_ids if stop_at_eos else ()
    out = [int(i) for i in ids]
    for _ in range(max_new_tokens):
        logits = _next_logits(m.decoder, pad_to_bucket(np.asarray(out)), len(out), vector, scale, layer=layer)
        out.append(int(jnp.argmax(logits)))
        if out[-1] in stop:
            break
    return np.asarray(out, np.int32)


def _check_layer(m, layer):
    layer = check_point(m.config, layer, None)
    if layer is None:
        raise BridgeError("steering needs a layer (0..num_layers-1)")
    return layer
