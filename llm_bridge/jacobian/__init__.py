"""The detached Jacobian (Golden, arXiv 2505.24293) and what is read from it. With the decoder's
gates frozen (`detach=True`), the map from the input embeddings $x_1..x_T$ to the last token's
state is affine, $y = \\sum_i J_i x_i + b$; this package computes $J$ and the bias $b$ exactly
(reverse or forward sweeps, chunked), to the final output or to any layer and its attention /
MLP parts over three spans (`layer_jacobians`: from the input, a single layer, or to the output),
each attention head's share (`head_jacobians`), the exact attribution of a logit to (token,
layer, head / MLP) (`attribution`), the prompt-averaged per-layer maps (`detached_lens`), the gap
to the ordinary Jacobian (`detachment_gap`), certificates of linearity (`linearity_certificate`),
top-k singular triplets matrix-free for long prompts (`token_top_k`, `joint_top_k`), the SVDs
decoded into tokens and summarised with `rsvp_jax.spectra` (`decompose`, `llm_spectra`,
`layer_spectra`, `singular_path`), and steering by a prompt's $J x$ (`steering_vector`, `steer`).
Every function takes a `LanguageModel` and token ids.
"""

from ._attribution import Attribution, attribution, resolve_token
from ._certify import linearity_certificate
from ._decode import decode_input, decode_output, prediction_share
from ._detached import COMPONENTS, DetachedJacobian, detached_jacobian, detached_jacobians, jacobian_flops
from ._heads import HeadJacobians, head_jacobians
from ._layerwise import PARTS, SPANS, LayerJacobians, check_span, detachment_gap, layer_jacobians, token_importance
from ._lens import DetachedLens, detached_lens, lens_decode
from ._spectra import decompose, layer_spectra, llm_spectra, singular_path
from ._steer import steer, steered_logits, steering_vector
from ._topk import TopK, joint_top_k, token_top_k

__all__ = [
    "Attribution", "DetachedLens", "HeadJacobians", "attribution", "detached_lens", "head_jacobians", "lens_decode",
    "check_span", "linearity_certificate", "resolve_token", "singular_path",
    "COMPONENTS", "DetachedJacobian", "LayerJacobians", "PARTS", "SPANS", "TopK", "decompose", "detached_jacobian",
    "detached_jacobians", "detachment_gap", "jacobian_flops", "joint_top_k", "layer_jacobians", "layer_spectra",
    "llm_spectra", "steer", "steered_logits", "steering_vector", "token_importance", "token_top_k", "decode_input",
    "decode_output", "prediction_share",
]
