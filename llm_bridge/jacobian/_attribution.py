r"""Exact attribution of a logit to (input token, layer, attention head or MLP).

With the gates frozen at their values for the prompt, the last token's final residual stream is

$$ h^{(L)}_T = x_T + \sum_l \Big(\sum_h a^{(l,h)}_T + b^{(l)}_O + m^{(l)}_T\Big), $$

the embedding's own path plus what every head and MLP added (`Decoder.attention(heads=True)`
splits each attention part into its heads; post-norms distribute over them), and every term is
itself a linear map of the input embeddings plus the biases on its way. The target logit is
$z = w\cdot y$ with $y$ the final-normed state (a diagonal scaling of $h^{(L)}_T$ with the norm
frozen) and $w$ the target's unembedding row (minus the contrast's, for a logit difference; a
model's final soft-cap $c\tanh(z/c)$ is frozen like any gate, as the factor $\tanh(z/c)\,c/z$). So

$$ z = \sum_{l,\,c,\,i} C_{l,c,i} + E + B, \qquad C_{l,c,i} = w'\cdot c^{(l)}_T\big|_{x_i\text{ only}}, $$

exactly: $C$ the contribution of input token i through component c (a head, or the MLP) of
layer l; $E = w'\cdot x_T$ the last embedding's direct path; $B$ the bias part (what the biases
alone produce, per component, and the output projections' biases). $w'$ is $w$ times the frozen
final-norm factor.

How it is computed: one recorded forward pass (`Decoder.record`), then the frozen map replayed on
T + 1 inputs at once — each input token alone with the biases set to zero, and the biases alone —
reading every head's and MLP's output at the last position. That is T + 1 forward passes, not a
Jacobian: for SmolLM2 and 16 tokens, a fraction of a second after compiling.

Nothing is trained or approximated (circuit-tracer needs transcoders and error nodes for the same
graph); the sum is checked against the model's own logit (`Attribution.error`).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BridgeError
from ._detached import _is_bias


@dataclasses.dataclass(frozen=True)
class Attribution:
    r"""The exact split of one logit (or logit difference) of the prompt's last token.

    `contributions` (L, H + 1, T): [l, h, i] the share of input token i through head h of
    layer l; [l, H, i] through its MLP. `embedding` (T,): the embeddings' direct path (only the
    last token's is non-zero). `bias` (L, H + 1): each component's output from the biases alone,
    `o_bias` (L,) the output projections' biases (in no head). `logit` the model's own value
    (soft-capped where the model caps; the target's minus the contrast's), so that
    `contributions.sum() + embedding.sum() + bias.sum() + o_bias.sum() == logit` to round-off
    (`total`, `error`). `target`, `contrast` token ids (contrast None for a plain logit), their
    text, `tokens` the prompt's text per position, `ids` (T,).
    """

    contributions: np.ndarray
    embedding: np.ndarray
    bias: np.ndarray
    o_bias: np.ndarray
    logit: float
    target: int
    contrast: int | None
    target_text: str
    contrast_text: str | None
    tokens: list
    ids: np.ndarray

    @property
    def n_layers(self) -> int:
        return self.contributions.shape[0]

    @property
    def n_heads(self) -> int:
        return self.contributions.shape[1] - 1

    @property
    def bias_part(self) -> float:
        return float(self.bias.sum() + self.o_bias.sum())

    @property
    def total(self) -> float:
        """Σ contributions + embedding path + bias part: the logit rebuilt."""
        return float(self.contributions.sum() + self.embedding.sum()) + self.bias_part

    @property
    def error(self) -> float:
        """|logit − total| relative to the sum of the magnitudes of all terms (the scale of the cancellations)."""
        scale = float(np.abs(self.contributions).sum() + np.abs(self.embedding).sum() + np.abs(self.bias).sum()
                      + np.abs(self.o_bias).sum())
        return abs(self.logit - self.total) / max(scale, abs(self.logit), np.finfo(np.float64).tiny)

    def component_names(self) -> list[str]:
        return [f"H{h}" for h in range(self.n_heads)] + ["MLP"]

    def to_graph(self, share: float = 0.9) -> dict:
        r"""The attribution graph, pruned: a dict that `json.dump` writes.

        Nodes: the prompt's embeddings (`emb:i`), the heads (`L{l}.H{h}`) and MLPs (`L{l}.MLP`)
        that carry kept edges, the logit. Edges: embedding i → component with weight
        $C_{l,c,i}$, component → logit with the component's whole contribution
        $\sum_i C_{l,c,i}$, and the direct path embedding → logit. Kept: the fewest
        embedding → component (and direct) edges, largest |weight| first, whose |weights| add up
        to `share` of all of theirs. `summary` says what was kept.
        """
        if not 0 < share <= 1:
            raise BridgeError(f"share={share!r}: give a fraction in (0, 1]")
        c = self.contributions
        n_layers, n_comp, t = c.shape
        names = self.component_names()
        weights = np.concatenate([c.reshape(-1), self.embedding])
        order = np.argsort(-np.abs(weights), kind="stable")
        cumulative = np.cumsum(np.abs(weights[order]))
        total_abs = float(cumulative[-1]) if cumulative.size else 0.0
        if share >= 1:
            keep = order[: int(np.count_nonzero(weights))]
        else:
            keep = order[: int(np.searchsorted(cumulative, share * total_abs) + 1)] if total_abs else order[:0]
        nodes, edges, components = {}, [], {}

        def emb(i):
            key = f"emb:{i}"
            nodes.setdefault(key, {"id": key, "kind": "embedding", "position": int(i), "token": self.tokens[i],
                                   "token_id": int(self.ids[i])})
            return key

        logit = "logit"
        for flat in keep:
            flat = int(flat)
            if flat >= c.size:  # a direct path
                i = flat - c.size
                edges.append({"source": emb(i), "target": logit, "weight": float(self.embedding[i]), "kind": "direct"})
                continue
            l, k, i = np.unravel_index(flat, c.shape)
            key = f"L{l}.{names[k]}"
            if key not in components:
                components[key] = (int(l), int(k))
                nodes[key] = {"id": key, "kind": "mlp" if k == n_comp - 1 else "head", "layer": int(l),
                              "head": None if k == n_comp - 1 else int(k), "contribution": float(c[l, k].sum()),
                              "bias": float(self.bias[l, k])}
            edges.append({"source": emb(i), "target": key, "weight": float(c[l, k, i]), "kind": "token"})
        for key, (l, k) in components.items():
            edges.append({"source": key, "target": logit, "weight": float(c[l, k].sum()), "kind": "component"})
        nodes[logit] = {"id": logit, "kind": "logit", "token": self.target_text, "token_id": self.target,
                        "contrast": self.contrast_text, "contrast_id": self.contrast, "value": self.logit,
                        "bias": self.bias_part}
        kept_abs = float(np.abs(weights[keep]).sum())
        return {
            "nodes": list(nodes.values()), "edges": edges,
            "summary": {"logit": self.logit, "total": self.total, "error": self.error, "bias": self.bias_part,
                        "share": float(share), "kept_share": kept_abs / total_abs if total_abs else 1.0,
                        "kept_edges": int(len(keep)), "all_edges": int(weights.size),
                        "kept_sum": float(weights[keep].sum()), "layers": n_layers, "heads": n_comp - 1,
                        "tokens": self.tokens, "target": self.target_text, "contrast": self.contrast_text},
        }


def _scaled_biases(decoder, factor):
    """The decoder with every bias times `factor` (traced: 0 for a token's pass, 1 for the biases' own)."""
    return jax.tree_util.tree_map_with_path(lambda p, a: a * factor.astype(a.dtype) if _is_bias(p) else a, decoder)


def _components(decoder, x, gates):
    """The frozen map (gates replayed) on x (T, d): every layer's head shares, O-bias share and MLP
    output at the last position, (L, H, d), (L, d), (L, d)."""
    c = decoder.config
    cos, sin = decoder.rope_tables(x.shape[0])
    rope_index = jnp.asarray(c.layer_ropes, jnp.int32)

    def body(h, xs):
        p, r, w, g = xs
        att = decoder.attention(p, h, cos[r], sin[r], w, gates=g, heads=True)
        mid = h + att.out
        mlp = decoder.mlp(p, mid, gates=g)
        o_bias = jnp.zeros_like(att.out[-1]) if att.bias is None else att.bias[-1]
        return mid + mlp.out, (att.heads[-1], o_bias, mlp.out[-1])

    _, out = jax.lax.scan(body, x, (decoder.layers.arrays(), rope_index, decoder.attention_windows(), gates.layers))
    return out


@partial(jax.jit, static_argnames=("chunk",))
def _attribution(decoder, x, *, chunk):
    t = x.shape[0]
    y, rec = decoder.record(x)
    # T + 1 sources: source i < T keeps row i of x only, biases off; source T is the biases alone
    sources = jnp.concatenate([jnp.eye(t, dtype=x.dtype)[:, :, None] * x[None], jnp.zeros_like(x)[None]])
    bias_on = (jnp.arange(t + 1) == t).astype(x.dtype)
    heads, o_bias, mlp = jax.lax.map(lambda s: _components(_scaled_biases(decoder, s[1]), s[0], rec),
                                     (sources, bias_on), batch_size=chunk)
    heads, b_heads, o_bias, b_o, mlp, b_mlp = heads[:t], heads[t], o_bias[:t], o_bias[t], mlp[:t], mlp[t]
    # y = h ⊙ s ⊙ (offset + w): the final norm's factor for the last position
    factor = decoder.final_norm(jnp.ones_like(x[-1:]), scale=rec.final[-1:])[0]
    return y[-1], decoder.unembed(y[-1]), factor, heads, o_bias, mlp, b_heads, b_o, b_mlp


def resolve_token(m, token) -> int:
    """A token id from an id or the text of exactly one token (`BridgeError` otherwise)."""
    if isinstance(token, (int, np.integer)) and not isinstance(token, bool):
        if not 0 <= int(token) < m.config.vocab_size:
            raise BridgeError(f"token id {token} is outside 0..{m.config.vocab_size - 1}")
        return int(token)
    if not isinstance(token, str) or not token:
        raise BridgeError(f"token {token!r}: give a token id or the text of one token")
    try:
        ids = m.tokenizer(token, add_special_tokens=False)["input_ids"]
    except BridgeError:
        raise BridgeError(f"token {token!r}: the model has no tokenizer; give a token id") from None
    if len(ids) != 1:
        pieces = [m.detokenize([i]) for i in ids]
        raise BridgeError(f"token {token!r} is {len(ids)} tokens {pieces!r}, not one; give one token (or its id)")
    return int(ids[0])


def _softcap_factor(z, cap):
    """The frozen soft-cap: c·tanh(z/c) = g·z with g = c·tanh(z/c)/z (1 at z = 0)."""
    if cap is None:
        return np.ones_like(z)
    safe = np.where(np.abs(z) > 1e-30, z, 1.0)
    return np.where(np.abs(z) > 1e-30, cap * np.tanh(safe / cap) / safe, 1.0)


def attribution(m, ids, target=None, contrast=None, *, chunk: int | None = None) -> Attribution:
    r"""Split the last token's `target` logit (default: the predicted token) exactly into
    contributions of (input token, layer, head or MLP); with `contrast`, the logit difference
    target − contrast. Tokens are ids or the text of one token. See `Attribution`.

    `chunk`: how many of the T + 1 replayed passes run at once (default all).
    """
    from ._spectra import token_text

    ids = m.check_ids(ids)
    dec = m.decoder
    x = dec.embed(ids)
    t = len(ids)
    chunk = 0 if chunk is None or chunk > t else int(chunk)
    y, logits, factor, heads, o_bias, mlp, b_heads, b_o, b_mlp = (np.asarray(a, np.float64) for a in _attribution(
        dec, x, chunk=chunk))
    target = int(np.argmax(logits)) if target is None else resolve_token(m, target)
    contrast = None if contrast is None else resolve_token(m, contrast)
    if contrast is not None and contrast == target:
        raise BridgeError(f"contrast {contrast} is the target itself: the difference is zero")
    u = np.asarray(dec.unembedding, np.float64)
    cap = m.config.final_softcap
    rows = [target] + ([] if contrast is None else [contrast])
    z = u[rows] @ y  # the uncapped logits the frozen map reproduces
    g = _softcap_factor(z, cap)
    signs = np.array([1.0, -1.0][: len(rows)])
    w = (signs * g) @ u[rows]
    value = float(signs @ logits[rows])  # the model's own logits, capped where it caps
    wp = w * factor
    c = np.concatenate([np.einsum("ilhd,d->lhi", heads, wp), np.einsum("ild,d->li", mlp, wp)[:, None]], axis=1)
    embedding = np.zeros(t)
    embedding[-1] = float(wp @ np.asarray(x[-1], np.float64))
    bias = np.concatenate([b_heads @ wp, (b_mlp @ wp)[:, None]], axis=1)
    words = token_text(m, rows)
    return Attribution(contributions=c, embedding=embedding, bias=bias, o_bias=b_o @ wp, logit=value, target=target,
                       contrast=contrast, target_text=words[0], contrast_text=None if contrast is None else words[1],
                       tokens=token_text(m, ids), ids=ids)
