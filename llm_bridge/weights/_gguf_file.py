"""Read a GGUF file: its metadata, its tensor directory, and dequantized tensors.

GGUF (llama.cpp's format) is a header of typed key/value metadata, a directory of tensors
(name, dims, ggml type, offset), then the aligned tensor data. The `gguf` package's own reader
builds a Python object per array element, which takes seconds for a 262k-token vocabulary; this
one parses the same layout with `struct` and numpy views in a fraction of that, and leaves
dequantization to `gguf.quants.dequantize` (the package's reference numpy kernels).

Every inconsistency — bad magic, a header running past the end, a tensor whose bytes are not all
there (a truncated download) — is a one-line `WeightFileError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf.quants import dequantize

from ..errors import BridgeError, UnsupportedQuantizationError, WeightFileError

Q = GGMLQuantizationType
#: Storage types we dequantize (plain floats, and llama.cpp's classic and k-quant blocks).
SUPPORTED_TYPES = (
    Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0,
    Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K,
)

# GGUF metadata value types → struct format (8 = string and 9 = array are special).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_NUMPY = {0: "u1", 1: "i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the directory. `shape` is in numpy order (GGUF lists dims fastest-first)."""

    name: str
    shape: tuple[int, ...]
    type: GGMLQuantizationType
    offset: int  # absolute, in the file
    nbytes: int


class GGUFFile:
    """A parsed GGUF file: `metadata` (dict), `tensors` (name → TensorInfo), `read(name)`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            # A plain ndarray view of the map: numpy's memmap subclass costs a Python hook per slice.
            self._data = np.memmap(self.path, np.uint8, mode="r").view(np.ndarray)
        except (OSError, ValueError) as e:
            raise WeightFileError(f"{self.path}: cannot read GGUF file: {e}") from None
        self._buf = memoryview(self._data)
        try:
            self._parse()
        except BridgeError:
            raise
        except (struct.error, UnicodeDecodeError, ValueError, IndexError):
            raise WeightFileError(f"{self.path}: corrupt or truncated GGUF header") from None

    # -- header
    def _unpack(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self._buf, self._pos)
        self._pos += struct.calcsize("<" + fmt)
        return values[0] if len(values) == 1 else values

    def _string(self) -> str:
        n = self._unpack("Q")
        if self._pos + n > len(self._buf):
            raise ValueError("string past end of file")
        s = bytes(self._buf[self._pos : self._pos + n]).decode("utf-8")
        self._pos += n
        return s

    def _value(self, vtype: int):
        if vtype in _SCALARS:
            return self._unpack(_SCALARS[vtype])
        if vtype == 8:
            return self._string()
        if vtype == 9:
            etype, count = self._unpack("I"), self._unpack("Q")
            if etype in _NUMPY:
                dt = np.dtype(_NUMPY[etype])
                end = self._pos + count * dt.itemsize
                if end > len(self._buf):
                    raise ValueError("array past end of file")
                arr = np.frombuffer(self._buf[self._pos : end], dtype=dt)
                self._pos = end
                return arr
            return [self._value(etype) for _ in range(count)]
        raise ValueError(f"unknown GGUF value type {vtype}")

    def _parse(self):
        self._pos = 0
        if bytes(self._buf[:4]) != b"GGUF":
            raise WeightFileError(f"{self.path}: not a GGUF file (bad magic)")
        self._pos = 4
        version = self._unpack("I")
        if version not in (2, 3):
            raise WeightFileError(f"{self.path}: GGUF version {version} is not supported (2 or 3)")
        n_tensors, n_kv = self._unpack("Q"), self._unpack("Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = self._string()
            self.metadata[key] = self._value(self._unpack("I"))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            dims = [self._unpack("Q") for _ in range(self._unpack("I"))]
            infos.append((name, tuple(reversed(dims)), self._unpack("I"), self._unpack("Q")))
        align = int(self.metadata.get("general.alignment", 32))
        start = -(-self._pos // align) * align
        self.tensors: dict[str, TensorInfo] = {}
        size = len(self._buf)
        for name, shape, type_id, offset in infos:
            try:
                qtype = GGMLQuantizationType(type_id)
            except ValueError:
                raise UnsupportedQuantizationError(
                    f"{self.path}: tensor {name} has unknown ggml type id {type_id}; supported: {_supported()}"
                ) from None
            block, type_size = GGML_QUANT_SIZES[qtype]
            count = int(np.prod(shape, dtype=np.int64))
            nbytes = count // block * type_size
            begin = start + offset
            if begin + nbytes > size:
                raise WeightFileError(
                    f"{self.path}: tensor {name} ends at byte {begin + nbytes} but the file has {size} (truncated?)"
                )
            self.tensors[name] = TensorInfo(name, shape, qtype, begin, nbytes)

    # -- data
    def read(self, name: str) -> np.ndarray:
        """Tensor `name` dequantized to float32 (a zero-copy view for F32), in numpy shape order."""
        info = self.tensors[name]
        if info.type not in SUPPORTED_TYPES:
            raise UnsupportedQuantizationError(
                f"{self.path}: tensor {name} is stored as {info.type.name}, which the bridge cannot dequantize; "
                f"supported: {_supported()}"
            )
        raw = self._data[info.offset : info.offset + info.nbytes]
        if info.type == Q.F32:
            return raw.view(np.float32).reshape(info.shape)
        block, type_size = GGML_QUANT_SIZES[info.type]
        rows = raw.reshape(*info.shape[:-1], info.shape[-1] // block * type_size)
        return dequantize(rows, info.type).reshape(info.shape)


def _supported() -> str:
    return ", ".join(t.name for t in SUPPORTED_TYPES)
