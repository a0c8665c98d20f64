"""llm_bridge: Llama-family decoders in Flax NNX, with detachable gates for the detached Jacobian.

    import llm_bridge as lb
    m = lb.load("smollm2")                      # or a Hugging Face folder, or a .gguf file
    ids = m.tokenize("The capital of France is")
    logits = m.logits(ids)                      # (T, V)

`m.decoder` is the Flax NNX `Decoder`; its pure methods (`embed`, `forward(x, detach=...)`,
`run_layers`, `final_norm`, `unembed`) are the building blocks of the Jacobian analyses:

    dj = lb.detached_jacobian(m, ids)           # dj.jacobian (d, T, d), dj.relative_error, ...
    lj = lb.layer_jacobians(m, ids)             # every layer's output, attention and MLP parts
    lj = lb.layer_jacobians(m, ids, span="single")   # ... each layer alone ("to_output": layer → end)
    att = lb.attribution(m, ids)                # the logit split over (token, layer, head / MLP), exactly
    lens = lb.detached_lens(m, prompts)         # per-layer last-token maps averaged over prompts
    spectra = lb.llm_spectra(m, ids)            # per-token / joint / per-layer spectra, decoded
    top = lb.token_top_k(m, ids, 16)            # every token's top-16 triplets, for long prompts
    lb.jacobian_to_folder(m, ids, "out/")       # figures, llm_jacobian.nc and summary.json

The subpackages follow the module map, and each imports only those above it (and, of `rsvp_jax`,
`spectra`, `io` and the figure setup of `plots`), through their public faces:

    errors.py         the `BridgeError` family, shared by all
    model/            `ModelConfig`, the NNX `Decoder` with its detach switch, `LanguageModel`
    weights/          Hugging Face / GGUF configs, tensors and tokenizers → a `LanguageModel` (`load`)
    jacobian/         detached, layer-wise and top-k Jacobians; decoding, spectra, steering
    report/           figures, the NetCDF dataset, `jacobian_to_folder`
    torch_reference   the reference method in PyTorch (tests, benchmarks); bench: `python -m llm_bridge.bench`
"""

from .errors import (
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
from .jacobian import (
    COMPONENTS,
    PARTS,
    SPANS,
    Attribution,
    DetachedJacobian,
    DetachedLens,
    HeadJacobians,
    LayerJacobians,
    TopK,
    attribution,
    decompose,
    detached_jacobian,
    detached_jacobians,
    detached_lens,
    detachment_gap,
    head_jacobians,
    jacobian_flops,
    joint_top_k,
    layer_jacobians,
    layer_spectra,
    lens_decode,
    linearity_certificate,
    llm_spectra,
    singular_path,
    steer,
    steered_logits,
    steering_vector,
    token_importance,
    token_top_k,
)
from .model import LAYER_PARAMS, Decoder, Gates, LanguageModel, ModelConfig, Recording, RopeSpec, Trace, rms_norm
from .report import jacobian_to_folder
from .weights import NAMED_MODELS, config_from_gguf, config_from_hf, load

__all__ = [
    "BridgeError", "Decoder", "Gates", "LAYER_PARAMS", "LanguageModel", "Recording", "ModelConfig", "NAMED_MODELS",
    "PromptError", "PromptTooLongError", "RopeSpec", "Trace", "UnknownArchitectureError",
    "UnknownModelError", "UnsafeCheckpointError", "UnsupportedConfigError",
    "UnsupportedQuantizationError", "WeightFileError", "config_from_gguf", "config_from_hf",
    "load", "rms_norm",
    # detached Jacobians and their spectra
    "COMPONENTS", "DetachedJacobian", "LayerJacobians", "PARTS", "SPANS", "TopK", "decompose", "detached_jacobian",
    "detached_jacobians", "jacobian_flops", "joint_top_k", "layer_jacobians", "layer_spectra", "llm_spectra",
    "steer", "steered_logits", "steering_vector", "token_top_k",
    # heads, attribution, the lens, the gap to the ordinary Jacobian, certificates
    "Attribution", "DetachedLens", "HeadJacobians", "attribution", "detached_lens", "detachment_gap", "head_jacobians",
    "lens_decode", "linearity_certificate", "singular_path", "token_importance",
    # one prompt's analysis, written to a folder
    "jacobian_to_folder",
]
