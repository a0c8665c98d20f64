"""llm_bridge: Llama-family decoders in Flax NNX, with detachable gates for the detached Jacobian.

    import llm_bridge as lb
    m = lb.load("smollm2")                      # or a Hugging Face folder, or a .gguf file
    ids = m.tokenize("The capital of France is")
    logits = m.logits(ids)                      # (T, V)

`m.decoder` is the Flax NNX `Decoder`; its pure methods (`embed`, `forward(x, detach=...)`,
`run_layers`, `final_norm`, `unembed`) are the building blocks of the Jacobian analyses:

    dj = lb.detached_jacobian(m, ids)           # dj.jacobian (d, T, d), dj.relative_error, ...
    lj = lb.layer_jacobians(m, ids)             # every layer's output, attention and MLP parts
    spectra = lb.llm_spectra(m, ids)            # per-token / joint / per-layer spectra, decoded
    top = lb.token_top_k(m, ids, 16)            # every token's top-16 triplets, for long prompts
"""

from ._config import ModelConfig, RopeSpec
from ._errors import (
    BridgeError,
    PromptError,
    PromptTooLongError,
    UnknownArchitectureError,
    UnknownModelError,
    UnsafeCheckpointError,
    UnsupportedConfigError,
    UnsupportedQuantizationError,
    WeightFileError,
)
from ._gguf import config_from_gguf
from ._hf_config import config_from_hf
from ._jacobian import COMPONENTS, DetachedJacobian, detached_jacobian, detached_jacobians, jacobian_flops
from ._layers import rms_norm
from ._layerwise import PARTS, LayerJacobians, layer_jacobians
from ._lm import LanguageModel
from ._load import NAMED_MODELS, load
from ._matfree import TopK, joint_top_k, token_top_k
from ._model import LAYER_PARAMS, Decoder, Trace
from ._spectra import decompose, layer_spectra, llm_spectra
from ._steer import steer, steered_logits, steering_vector

__all__ = [
    "BridgeError", "Decoder", "LAYER_PARAMS", "LanguageModel", "ModelConfig", "NAMED_MODELS",
    "PromptError", "PromptTooLongError", "RopeSpec", "Trace", "UnknownArchitectureError",
    "UnknownModelError", "UnsafeCheckpointError", "UnsupportedConfigError",
    "UnsupportedQuantizationError", "WeightFileError", "config_from_gguf", "config_from_hf",
    "load", "rms_norm",
    # detached Jacobians and their spectra
    "COMPONENTS", "DetachedJacobian", "LayerJacobians", "PARTS", "TopK", "decompose", "detached_jacobian",
    "detached_jacobians", "jacobian_flops", "joint_top_k", "layer_jacobians", "layer_spectra", "llm_spectra",
    "steer", "steered_logits", "steering_vector", "token_top_k",
]
