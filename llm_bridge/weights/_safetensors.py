"""A minimal, zero-copy safetensors reader (numpy memory maps; bfloat16 through `ml_dtypes`).

The format is an 8-byte little-endian header length, a JSON header mapping each tensor name to
its dtype, shape and byte range, then the raw data. Reading it ourselves keeps bfloat16 files
loadable without torch and lets every inconsistency become a one-line `WeightFileError`.
Nothing here can execute code from the file — which is the point of safetensors.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np

from ..errors import WeightFileError

DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Map every tensor of a .safetensors file to a read-only numpy view of the file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise WeightFileError(f"{path}: truncated safetensors file ({size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise WeightFileError(f"{path}: corrupt safetensors header (claims {n} bytes, file has {size})")
            header = json.loads(fh.read(n))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WeightFileError(f"{path}: corrupt safetensors header (not JSON)") from None
    except OSError as e:
        raise WeightFileError(f"{path}: cannot read: {e.strerror}") from None
    if not isinstance(header, dict):
        raise WeightFileError(f"{path}: corrupt safetensors header (not a JSON object)")
    header.pop("__metadata__", None)
    data = np.memmap(path, np.uint8, mode="r") if size > 8 + n else np.zeros(0, np.uint8)
    body = 8 + n
    out = {}
    for name, info in header.items():
        try:
            dtype = np.dtype(DTYPES[info["dtype"]])
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise WeightFileError(f"{path}: corrupt safetensors entry for {name!r}: {info!r}") from None
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * dtype.itemsize or not 0 <= begin <= end <= size - body:
            raise WeightFileError(f"{path}: tensor {name} lies outside the file or has the wrong size (truncated?)")
        out[name] = data[body + begin : body + end].view(dtype).reshape(shape)
    return out
