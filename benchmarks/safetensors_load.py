"""How fast `lb.load` reads a SmolLM2-sized Hugging Face folder, against reading its bytes.

    python benchmarks/safetensors_load.py [--repeats 5] [--out benchmarks/results/safetensors_load.json]

A random Llama model with SmolLM2-135M's shapes (30 layers, d = 576, f = 1536, GQA 9/3, tied
embeddings, vocab 49 152: 135 M parameters) is saved once as float32 and once as bfloat16
safetensors. For each file the script times `lb.load(folder)` (config, tensors, conversion to
float32, the NNX `Decoder`; the tokenizer is lazy and not built), the reading alone
(`safetensors.safe_open(..., framework="numpy")` and `get_tensor` of every tensor, as the loader
does), and, as the baseline in the same run, one plain `read()` of the weight file's bytes
(page-cached after the first repeat, as the load's are). Timings are medians (and minima) of
`--repeats` runs after one warm-up.

It only calls the public `lb.load`, so the same script measures any version of the bridge: run
it with `PYTHONPATH` set to another checkout to compare two readers on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMOLLM2 = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
               num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
               rope_theta=100000.0, tie_word_embeddings=True)


def make_folder(folder: Path, dtype: str) -> Path:
    """A random SmolLM2-shaped Llama model saved as `dtype` safetensors into `folder`."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**SMOLLM2))
    model.to(getattr(torch, dtype)).save_pretrained(folder)
    return folder


def _read_tensors(path: Path) -> None:
    """Every tensor of the file as a numpy array, one at a time, the way the bridge's loader reads them."""
    import ml_dtypes  # noqa: F401  (numpy's "bfloat16")
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as f:
        for name in f.keys():
            f.get_tensor(name)


def _median_s(fn, repeats: int) -> dict:
    fn()  # warm-up: imports, page cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": repeats}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)

    import llm_bridge as lb

    result = {"bridge": str(Path(lb.__file__).parent), "load_average": os.getloadavg(), "files": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float32", "bfloat16"):
            folder = make_folder(Path(tmp) / dtype, dtype)
            weights = folder / "model.safetensors"
            read = _median_s(weights.read_bytes, args.repeats)
            tensors = _median_s(lambda: _read_tensors(weights), args.repeats)
            load = _median_s(lambda: lb.load(folder), args.repeats)
            result["files"][dtype] = {"megabytes": weights.stat().st_size / 1e6, "read_bytes": read,
                                      "safe_open_tensors": tensors, "load": load,
                                      "load_over_read": load["median_s"] / read["median_s"]}
            print(f"{dtype:8s} {weights.stat().st_size / 1e6:6.0f} MB: lb.load {load['median_s']:.3f} s "
                  f"(min {load['min_s']:.3f}), safe_open tensors {tensors['median_s']:.3f} s, "
                  f"read() {read['median_s']:.3f} s; load / read {load['median_s'] / read['median_s']:.2f}", flush=True)
    result["load_average_at_end"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
