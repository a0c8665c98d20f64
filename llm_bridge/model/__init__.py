"""The ported decoder: its static `ModelConfig`, the Flax NNX `Decoder` with its detach switch, and
`LanguageModel`, the decoder with its tokenizer. One `Decoder` covers every ported family (the
config says which pieces a family has); its layers are pure functions (`rms_norm`, attention,
gated MLP) in which `detach=True` stops the gradient at the norm's normaliser, the attention
weights and the MLP gate, so that the map from input embeddings to output is linear; the same
gates can be recorded in one pass (`Decoder.record` → a `Recording` of `Gates`) and replayed,
frozen, in another. Nothing here
knows where the weights came from: `llm_bridge.weights` builds these objects from files.
"""

from ._config import ModelConfig, RopeSpec
from ._decoder import LAYER_PARAMS, Attention, Decoder, Gates, LayerOut, Mlp, Recording, Trace
from ._generate import pad_to_bucket
from ._language_model import LanguageModel
from ._layers import rms_norm, rms_scale

__all__ = [
    "LAYER_PARAMS", "Attention", "Decoder", "Gates", "LanguageModel", "LayerOut", "Mlp", "ModelConfig", "Recording",
    "RopeSpec", "Trace", "pad_to_bucket", "rms_norm", "rms_scale",
]
