r"""Singular value decompositions of a detached Jacobian, and what their vectors mean as tokens.

For $J$ (d × T × d) there are two views (Golden, arXiv 2505.24293, §4):

- per token, $J_i = U_i \Sigma_i V_i^\top$ (T SVDs of d × d): how the i-th input embedding is
  mapped to the prediction;
- jointly, $[J_1 \cdots J_T] = U \Sigma V^\top$ (one SVD of d × Td): the whole prompt's linear
  map, whose right singular vectors have one d-block per token.

Decoding (the paper's reading of the modes): a left singular vector $u$ lives in the final-normed
output space, so $W_U u$ ranks the vocabulary (the tokens that direction promotes); a right
singular vector $v$ lives in the input-embedding space, and its nearest input embeddings
(cosine similarity) name it. The sign of a pair $(u, v)$ is free; it is fixed so that
$\langle y, u\rangle \ge 0$, i.e. $u$ points along the prediction.

How much of the prediction the top modes carry: projecting $y$ onto the top k left singular
vectors, $y_k = U_k U_k^\top y$, keeps the share $\lVert y_k\rVert^2 / \lVert y\rVert^2$ of its energy,
and keeps the predicted token when $\arg\max W_U y_k = \arg\max W_U y$.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np


@jax.jit
def token_svd(blocks):
    """SVDs of the per-token blocks (T, d, d): U (T, d, d), σ (T, d) descending, Vᵀ (T, d, d)."""
    return jnp.linalg.svd(blocks, full_matrices=False)


@jax.jit
def joint_svd(jac):
    """SVD of [J₁ … J_T] for J (d, T, d): U (d, d), σ (d,), V (d, T, d) (row j = the j-th right vector)."""
    d, t, e = jac.shape
    u, s, vt = jnp.linalg.svd(jac.reshape(d, t * e), full_matrices=False)
    return u, s, vt.reshape(-1, t, e)


@jax.jit
def singular_values(mats):
    """Singular values (…, min(m, n)) of a batch of matrices (…, m, n), descending."""
    return jnp.linalg.svd(mats, compute_uv=False)


@partial(jax.jit, static_argnames="top")
def _top_logits(unembedding, directions, top):
    return jax.lax.top_k(directions @ unembedding.T, top)


@partial(jax.jit, static_argnames="top")
def _top_cosines(embedding, directions, top):
    e = embedding / jnp.maximum(jnp.linalg.norm(embedding, axis=-1, keepdims=True), 1e-30)
    v = directions / jnp.maximum(jnp.linalg.norm(directions, axis=-1, keepdims=True), 1e-30)
    return jax.lax.top_k(v @ e.T, top)


def decode_output(decoder, directions, top: int = 5):
    """Tokens each output direction (…, d) promotes most: (scores, ids), each (…, top), by $W_U u$."""
    directions = jnp.asarray(directions, decoder.dtype)
    scores, ids = _top_logits(decoder.unembedding, directions, top)
    return np.asarray(scores), np.asarray(ids)


def decode_input(decoder, directions, top: int = 5):
    """Input tokens nearest to each input direction (…, d) by cosine similarity: (cosines, ids)."""
    directions = jnp.asarray(directions, decoder.dtype)
    scores, ids = _top_cosines(decoder.embed_tokens[...], directions, top)
    return np.asarray(scores), np.asarray(ids)


def prediction_share(decoder, u, y, ks=None) -> dict:
    r"""What the top-k left singular vectors u (d, r) keep of the prediction y (d,).

    For each k: `energy` $\lVert U_k^\top y\rVert^2/\lVert y\rVert^2$, `token` the argmax of $W_U y_k$ and
    `keeps` whether it is y's own argmax; `smallest_k` is the fewest modes that keep it.
    """
    u, y = np.asarray(u, np.float64), np.asarray(y, np.float64)
    r = u.shape[1]
    ks = [k for k in (ks or (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)) if k <= r] + [r]
    ks = sorted(set(ks))
    coeff = u.T @ y  # (r,)
    energy = np.cumsum(coeff**2) / float(y @ y)
    proj = np.stack([u[:, :k] @ coeff[:k] for k in range(1, r + 1)])  # (r, d)
    logits = np.asarray(decoder.unembed(jnp.asarray(np.vstack([proj, y[None]]), decoder.dtype)))
    tokens = logits.argmax(-1)
    predicted = int(tokens[-1])
    keeps = tokens[:-1] == predicted
    smallest = int(np.argmax(keeps)) + 1 if keeps.any() else None
    return {
        "k": ks, "energy": [float(energy[k - 1]) for k in ks], "token": [int(tokens[k - 1]) for k in ks],
        "keeps": [bool(keeps[k - 1]) for k in ks], "predicted": predicted, "smallest_k": smallest,
    }
