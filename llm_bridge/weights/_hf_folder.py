"""Load a Hugging Face model folder (config.json + *.safetensors, sharded or not).

Each tensor goes where the family's `NameTable` (`_names.HF_TABLES`) says: a layer's tensor
`model.layers.{i}.<suffix>` to the stacked parameter named for `<suffix>`, a fused one (Phi-3's
`qkv_proj`, `gate_up_proj`) cut into its parts. Every tensor in the files must be claimed by the
table. With tied embeddings a stored `lm_head.weight` is skipped: transformers uses the embedding
matrix, and so do we.

Pickle checkpoints (`*.bin`, `*.pt`, `*.pth`, `*.ckpt`, `*.pkl`) are refused: unpickling runs
whatever code the file contains.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UnsafeCheckpointError, WeightFileError
from ..model import Decoder, ModelConfig
from ._hf_config import config_from_folder
from ._names import HF_TABLES
from ._params import ParamCollector
from ._safetensors import read_safetensors

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def safetensors_files(folder: Path) -> list[Path]:
    """The folder's safetensors files (all shards named by the index, if there is one)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
            raise WeightFileError(f"{index} is not a valid safetensors index") from None
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise WeightFileError(f"{folder}: shard {missing[0]} named in {index.name} is missing")
        return [folder / s for s in shards]
    files = sorted(folder.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeCheckpointError(
            f"{folder / pickles[0]} is a pickle checkpoint; refusing to load it because unpickling can "
            "execute arbitrary code — convert it to safetensors first"
        )
    raise WeightFileError(f"{folder} has no *.safetensors weight files")


def load_folder(folder: Path, dtype) -> tuple[ModelConfig, Decoder]:
    """Config and decoder from a Hugging Face folder, weights converted to `dtype`."""
    config = config_from_folder(folder)
    files = safetensors_files(folder)
    table = HF_TABLES[config.family]
    params = ParamCollector(config, dtype, str(folder))
    for path in files:
        for name, array in read_safetensors(path):
            target, layer = table.target(name)
            if target is None:
                raise WeightFileError(f"{path.name}: unexpected tensor {name} for a {config.family} model")
            if target == "unembed" and config.tie_embeddings:
                continue  # tied: transformers uses the embedding matrix, so do we
            params.put(target, array, layer, tensor=name)
    return config, params.decoder()
