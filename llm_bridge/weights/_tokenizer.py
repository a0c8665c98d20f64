"""Tokenizers, always through transformers: from a model folder, or rebuilt from GGUF metadata.

A GGUF file carries its vocabulary, merges and special tokens as metadata under llama.cpp's key
names. transformers knows how to turn those into a fast tokenizer; `transformers.AutoTokenizer`
would do it too, but first re-reads the whole file with the slow `gguf.GGUFReader` to build a
model config. We already hold the parsed metadata, so we hand it to the same converter
(`transformers.integrations.gguf.convert_gguf_tokenizer`) directly — the result encodes
identically (tested) in a fraction of the time. Should that internal API move, we fall back to
`AutoTokenizer.from_pretrained(folder, gguf_file=name)`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WeightFileError

_SPECIAL_TOKENS = {
    "bos_token": "bos_token_id", "eos_token": "eos_token_id",
    "unk_token": "unknown_token_id", "pad_token": "padding_token_id",
}


def tokenizer_from_folder(folder: Path):
    """`AutoTokenizer` of a Hugging Face folder, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    files = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
    if not any((folder / name).is_file() for name in files):
        raise WeightFileError(f"{folder}: no tokenizer files (expected one of {', '.join(files)})")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise WeightFileError(f"{folder}: no usable tokenizer files ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def tokenizer_from_gguf(path: Path, metadata: dict):
    """The tokenizer a GGUF file describes, built from its already-parsed metadata."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers.integrations.gguf import GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer
        from transformers.tokenization_utils_tokenizers import TokenizersBackend
    except ImportError:  # pragma: no cover - depends on the installed transformers
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)

    if "tokenizer.ggml.tokens" not in metadata:
        raise WeightFileError(f"{path}: the GGUF file has no tokenizer metadata (tokenizer.ggml.tokens)")
    groups = {
        group: {name: metadata[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in metadata}
        for group, renames in GGUF_TOKENIZER_MAPPING.items()
    }
    spec, init = groups["tokenizer"], groups["tokenizer_config"]
    for key in ("tokens", "merges", "scores", "token_type"):  # numpy arrays → the lists the converter expects
        if key in spec:
            spec[key] = list(spec[key]) if isinstance(spec[key], list) else spec[key].tolist()
    if spec.get("tokenizer_type") == "llama":
        init.setdefault("add_bos_token", True)  # llama.cpp's default for sentencepiece vocabularies
    for name, key in _SPECIAL_TOKENS.items():
        token_id = metadata.get(f"tokenizer.ggml.{key}")
        init[name] = spec["tokens"][token_id] if token_id is not None else None
    backend, extra = convert_gguf_tokenizer(metadata["general.architecture"], spec)
    return TokenizersBackend(tokenizer_object=backend, **(init | extra))
