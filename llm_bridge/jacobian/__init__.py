"""The detached Jacobian (Golden, arXiv 2505.24293) and what is read from it. With the decoder's
gates frozen (`detach=True`), the map from the input embeddings $x_1..x_T$ to the last token's
state is affine, $y = \\sum_i J_i x_i + b$; this package computes $J$ and the bias $b$ exactly
(reverse or forward sweeps, chunked), to the final output or to any layer and its attention /
MLP parts (`layer_jacobians`), top-k singular triplets matrix-free for long prompts
(`token_top_k`, `joint_top_k`), the SVDs decoded into tokens and summarised with
`rsvp_jax.spectra` (`decompose`, `llm_spectra`, `layer_spectra`), and steering by a prompt's
$J x$ (`steering_vector`, `steer`). Every function takes a `LanguageModel` and token ids.
"""

from ._decode import decode_input, decode_output, prediction_share
from ._detached import COMPONENTS, DetachedJacobian, detached_jacobian, detached_jacobians, jacobian_flops
from ._layerwise import PARTS, LayerJacobians, layer_jacobians
from ._spectra import decompose, layer_spectra, llm_spectra
from ._steer import steer, steered_logits, steering_vector
from ._topk import TopK, joint_top_k, token_top_k

__all__ = [
    "COMPONENTS", "DetachedJacobian", "LayerJacobians", "PARTS", "TopK", "decompose", "detached_jacobian",
    "detached_jacobians", "jacobian_flops", "joint_top_k", "layer_jacobians", "layer_spectra", "llm_spectra",
    "steer", "steered_logits", "steering_vector", "token_top_k", "decode_input", "decode_output", "prediction_share",
]
