"""Read a .safetensors file tensor by tensor, with the `safetensors` package, as numpy arrays.

The format is an 8-byte little-endian header length, a JSON header mapping each tensor name to
its dtype, shape and byte range, then the raw data. `safetensors.safe_open(path,
framework="numpy")` parses and checks the header (a truncated file, a header that is not JSON,
byte ranges outside the file are refused when the file is opened) and copies out one tensor at a
time, so a loader holding the tensors one by one never holds the file twice. Every error it
raises becomes a one-line `WeightFileError`. Nothing here can execute code from the file — which
is the point of safetensors.

bfloat16: the package asks numpy for the dtype named `"bfloat16"`, which exists only once
`ml_dtypes` has registered it (JAX imports `ml_dtypes` too; importing it here says why it is
needed).

Speed (`benchmarks/safetensors_load.py`, a SmolLM2-sized folder of 135 M parameters, 538 MB as
float32 / 269 MB as bfloat16, 2 shared cores at load average 4–6, four runs each against the
hand-written memory-map reader this module replaced): `lb.load` medians 0.73–0.99 s / 0.70–1.10 s
against 0.61–1.20 s / 0.49–1.14 s, best runs 0.64 / 0.63 s against 0.31 / 0.45 s. The package
copies each tensor out of the file where a memory map did not (0.13–0.19 s to read every tensor
of the float32 file): a few tenths of a second per load at this size, not worth a reader of our
own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ml_dtypes  # noqa: F401  (registers numpy's "bfloat16", which safe_open(framework="numpy") looks up)
import numpy as np
from safetensors import SafetensorError, safe_open

from ..errors import WeightFileError


def read_safetensors(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, array) for every tensor of a .safetensors file, one at a time, in the file's order."""
    try:
        with safe_open(path, framework="numpy") as f:
            for name in f.keys():
                yield name, f.get_tensor(name)
    except SafetensorError as e:
        raise WeightFileError(f"{path}: corrupt or truncated safetensors file ({_first_line(e)})") from None
    except TypeError as e:  # a dtype numpy does not know (F8_*, ...)
        raise WeightFileError(f"{path}: unsupported safetensors tensor type ({_first_line(e)})") from None
    except OSError as e:
        raise WeightFileError(f"{path}: cannot read: {e.strerror or e}") from None


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]
