r"""`llm_spectra`: the per-token, joint and per-layer spectra of a prompt's detached Jacobians.

The spectra are summarised with `rsvp_jax.spectra.summarize` (the summary both sides of the
project share: σ/σ₁, cumulative energy, stable rank, effective rank, participation ratio,
k90 / k99), so that an LLM's spectra and an RSVP lattice's sit on the same axes.

Everything returned is plain NumPy arrays, Python numbers, strings, lists and dicts (see
`llm_spectra` for the keys), ready for `rsvp_jax.spectra.to_json`-style serialisation, plots and
comparisons.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from rsvp_jax import spectra as rs
from rsvp_jax.linalg import align_signs, blas_threads

from ..errors import BridgeError
from . import _decode
from ._detached import DetachedJacobian, detached_jacobian
from ._layerwise import PARTS, layer_jacobians



def _aligned(u_cols, vt, y):
    """The one sign rule (`rsvp_jax.linalg.align_signs`, ⟨y, u_i⟩ ≥ 0) on left vectors kept as columns."""
    U, V = align_signs(np.swapaxes(np.asarray(u_cols), -1, -2), np.asarray(vt), np.asarray(y, np.float64), np_module=np)
    return np.swapaxes(U, -1, -2), V

def _summary(sigma) -> dict:
    return {k: np.asarray(v) for k, v in rs.summarize(np.asarray(sigma)).items()}


def token_text(m, ids) -> list[str]:
    """Each id as its text, or `[id]` when the model has no tokenizer (e.g. a bare weights folder)."""
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    try:
        return [m.detokenize([i]) for i in ids]
    except BridgeError:
        return [f"[{i}]" for i in ids]


def decompose(m, dj: DetachedJacobian, *, modes: int = 8, top: int = 5) -> dict:
    r"""SVDs of one detached Jacobian, the decoded top `modes`, and the prediction share.

    Keys: `token` {sigma (T, d), summary}, `joint` {sigma (d,), summary}, `decoded`
    {joint: [per mode: sigma, output_tokens, input_tokens, input_position], tokens: [per
    position: [per mode: sigma, output_tokens, input_tokens]]}, `prediction` (see
    `_decode.prediction_share`), plus `u_joint` (d, modes), `v_joint` (modes, T, d),
    `u_token` (T, d, modes), `v_token` (T, modes, d) — the sign-aligned top vectors.
    """
    dec = m.decoder
    with blas_threads(1):
        u_t, s_t, vt_t = (np.asarray(a) for a in _decode.token_svd(dj.blocks))
        u_j, s_j, vt_j = (np.asarray(a) for a in _decode.joint_svd(dj.jacobian))
    y = dj.output
    u_t, vt_t = _aligned(u_t[..., :modes], vt_t[:, :modes], y)
    u_j, vt_j_top = _aligned(u_j, vt_j, y)
    k = min(modes, u_j.shape[1])
    t = dj.jacobian.shape[1]

    out_j, out_j_ids = _decode.decode_output(dec, u_j[:, :k].T, top)
    # a joint right vector has one block per token: decode the block that carries most of it
    blocks = vt_j_top[:k]  # (k, T, d)
    position = np.argmax(np.linalg.norm(blocks, axis=-1), axis=-1)
    in_j, in_j_ids = _decode.decode_input(dec, blocks[np.arange(k), position], top)
    out_t, out_t_ids = _decode.decode_output(dec, np.swapaxes(u_t, 1, 2), top)  # (T, k, top)
    in_t, in_t_ids = _decode.decode_input(dec, vt_t, top)

    words = partial(token_text, m)
    joint_modes = [
        {"sigma": float(s_j[j]), "output_tokens": words(out_j_ids[j]), "output_scores": out_j[j].tolist(),
         "input_tokens": words(in_j_ids[j]), "input_cosines": in_j[j].tolist(), "input_position": int(position[j])}
        for j in range(k)
    ]
    token_modes = [
        [{"sigma": float(s_t[i, j]), "output_tokens": words(out_t_ids[i, j]), "input_tokens": words(in_t_ids[i, j])}
         for j in range(min(k, s_t.shape[1]))]
        for i in range(t)
    ]
    share = _decode.prediction_share(dec, u_j, y)
    share["predicted_token"] = words([share["predicted"]])[0]
    return {
        "token": {"sigma": s_t, "summary": _summary(s_t)},
        "joint": {"sigma": s_j, "summary": _summary(s_j)},
        "decoded": {"joint": joint_modes, "tokens": token_modes},
        "prediction": share,
        "u_joint": u_j[:, :k], "v_joint": vt_j_top[:k], "u_token": u_t, "v_token": vt_t,
    }


def layer_spectra(m, ids, layers=None, parts=PARTS, *, jacobians=None, **kwargs) -> dict:
    r"""Per-layer spectra: for each chosen layer and part (`PARTS`), the singular values of the joint
    map [J₁…J_T] (`sigma`, (n, P, d)) and of the last token's block J_T (`sigma_last`), their
    summaries, and each point's reconstruction error. `kwargs` go to `layer_jacobians` (e.g.
    `span`); `jacobians` reuses a `LayerJacobians` already computed."""
    lj = jacobians if jacobians is not None else layer_jacobians(m, ids, layers, parts, **kwargs)
    n, p, d, t, e = lj.jacobian.shape
    with blas_threads(1):
        sigma = np.asarray(_decode.singular_values(lj.jacobian.reshape(n, p, d, t * e)))
        sigma_last = np.asarray(_decode.singular_values(lj.jacobian[..., -1, :]))
    return {
        "layers": np.asarray(lj.layers), "parts": list(lj.parts), "sigma": sigma, "sigma_last": sigma_last,
        "summary": _summary(sigma), "summary_last": _summary(sigma_last),
        "relative_error": lj.relative_error, "output_norm": np.linalg.norm(lj.output, axis=-1), "span": lj.span,
    }


def llm_spectra(m, ids, *, layers=None, parts=PARTS, modes: int = 8, top: int = 5, with_layers: bool = True,
                jacobian: DetachedJacobian | None = None) -> dict:
    r"""Everything spectral about one prompt, as plain arrays and dicts.

    Keys:

    - `ids` (T,), `tokens` (T strings), `model` {source, family, layers, hidden_size, dtype};
    - `relative_error`, `bias_norm`, `output_norm` of the final detached Jacobian;
    - `token` {sigma (T, d), summary (each key (T,) or (T, d))}: SVD of each $J_i$;
    - `joint` {sigma (d,), summary}: SVD of $[J_1 \cdots J_T]$;
    - `decoded`, `prediction`: see `decompose`;
    - `layer` (unless `with_layers=False`): see `layer_spectra` — `sigma` (n, P, d), `sigma_last`
      (n, P, d), their summaries, `relative_error` (n, P).

    `jacobian` reuses a `DetachedJacobian` already computed for `ids`.
    """
    ids = m.check_ids(ids)
    dj = jacobian if jacobian is not None else detached_jacobian(m, ids)
    out = {
        "ids": ids, "tokens": token_text(m, ids),
        "model": {"source": m.source, "family": m.config.family, "layers": m.config.num_layers,
                  "hidden_size": m.config.hidden_size, "dtype": m.dtype.name},
        "relative_error": dj.relative_error, "bias_norm": float(np.linalg.norm(dj.bias)),
        "output_norm": float(np.linalg.norm(dj.output)),
    }
    out.update(decompose(m, dj, modes=modes, top=top))
    if with_layers:
        out["layer"] = layer_spectra(m, ids, layers, parts)
    return out


def singular_path(m, lj, part: str = "layer", top: int = 5) -> dict:
    r"""How the top singular vector of each layer's joint map moves across the layers, decoded.

    `lj`: a `LayerJacobians` (any span: every point's output lives in the final-normed space, or
    is y itself). For each of its layers, the top left singular vector $u_1$ of $[J_1 \cdots J_T]$
    of `part` (sign: ⟨value, u⟩ ≥ 0), its σ₁, the `top` tokens $W_U u_1$ promotes, its cosine
    with the last listed layer's $u_1$ (`overlap_last`) and with the prediction's unembedding
    row (`overlap_prediction`, the model's predicted token for the prompt).
    Returns {layers, part, span, sigma, u (n, d), ids (n, top), tokens, overlap_last,
    overlap_prediction, predicted, predicted_token}.
    """
    if part not in lj.parts:
        raise BridgeError(f"part {part!r} is not among the Jacobians' parts {list(lj.parts)}")
    p = lj.parts.index(part)
    jac = np.asarray(lj.jacobian[:, p], np.float64)
    n, d = jac.shape[:2]
    flat = jac.reshape(n, d, -1)
    gram = flat @ flat.transpose(0, 2, 1)  # BLAS: np.einsum's loop took 24 s for SmolLM2's 30 layers, this 1 s
    with blas_threads(1):
        w, vecs = np.linalg.eigh(gram)
    u = vecs[:, :, -1]  # (n, d)
    sigma = np.sqrt(np.maximum(w[:, -1], 0.0))
    signs = np.sign(np.einsum("na,na->n", u, np.asarray(lj.output[:, p], np.float64)))
    u = u * np.where(signs == 0, 1.0, signs)[:, None]
    dec = m.decoder
    scores, ids = _decode.decode_output(dec, u, top)
    logits = np.asarray(m.logits(lj.ids)[-1])
    predicted = int(np.argmax(logits))
    row = np.asarray(dec.unembedding[predicted], np.float64)
    return {
        "layers": np.asarray(lj.layers), "part": part, "span": lj.span, "sigma": sigma, "u": u, "ids": ids,
        "scores": scores, "tokens": [token_text(m, r) for r in ids], "overlap_last": u @ u[-1],
        "overlap_prediction": u @ row / np.linalg.norm(row), "predicted": predicted,
        "predicted_token": token_text(m, [predicted])[0],
    }
