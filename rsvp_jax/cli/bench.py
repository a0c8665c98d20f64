"""`rsvp bench`: every benchmark suite, each in its own process, into one bench.json and figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import ConfigError
from ._common import Timer, add_output_args, open_out, say

# name -> module run as `python -m MODULE [--quick] --out FILE`
SUITES = {
    "solver": "rsvp_jax.bench.solver",
    "tiles": "rsvp_jax.bench.tiles",
    "sweep": "rsvp_jax.bench.sweep",
    "fit": "rsvp_jax.bench.fit",
    "horizons": "rsvp_jax.bench.horizons",
    "llm": "llm_bridge.bench",
}


def register(sub) -> None:
    p = sub.add_parser("bench", help="run the benchmark suites and write bench.json and a figure",
                       description="Run each benchmark suite in a fresh process (ratios against baselines measured "
                                   "in the same run); write DIR/bench.json, DIR/bench.md, DIR/bench.png, summary.json.")
    add_output_args(p, "out/bench")
    p.add_argument("--quick", action="store_true", help="small sizes: the whole run in a few minutes")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(SUITES)}")
    p.add_argument("--readme", default=None, help="also replace the results table in this markdown file (the CPU "
                                                   "table, or with --device gpu the GPU section, never both)")
    p.add_argument("--device", choices=DEVICES, default="cpu",
                   help="cpu (default) or gpu: every suite on the GPU (JAX_PLATFORMS=cuda, --quick sizes, the solver "
                        "adds 4096²); a suite that did not run on the GPU counts as failed")
    p.add_argument("--dry-run", action="store_true",
                   help="with --device gpu: the same plan on this machine's CPU at tiny sizes (the solver at 32²), to "
                        "check the script without a GPU")
    p.add_argument("--from", dest="results", default=None, metavar="DIR",
                   help="run nothing: tabulate the suite files DIR/SUITE.json already measured (by "
                        "`python -m MODULE --out DIR/SUITE.json`, e.g. benchmarks/gpu_run.sh on a lent GPU), with "
                        "the same backend check, into --out's bench.json, bench.md and bench.png")
    p.set_defaults(func=run)


DEVICES = ("cpu", "gpu")
PLATFORMS = {"cpu": "cpu", "gpu": "cuda"}  # JAX_PLATFORMS for each --device


def _plan(args) -> tuple[dict, list[str], str]:
    """(environment, extra suite flags, the backend the results must come from) for this run."""
    env = os.environ.copy()
    if args.dry_run and args.device != "gpu":
        raise ConfigError("--dry-run checks the GPU plan: use it with --device gpu")
    if args.device == "gpu" and not args.dry_run:
        env["JAX_PLATFORMS"] = PLATFORMS["gpu"]
        return env, ["--quick"], "gpu"
    if args.dry_run:
        env["JAX_PLATFORMS"] = "cpu"
        return env, ["--quick"], "cpu"
    return env, ["--quick"] if args.quick else [], "cpu"


def _selected(only) -> list[str]:
    if not only:
        return list(SUITES)
    names = [n.strip() for n in only.split(",") if n.strip()]
    bad = [n for n in names if n not in SUITES]
    if bad:
        raise ConfigError(f"--only {bad[0]!r} is not a benchmark suite; valid suites are {', '.join(SUITES)}")
    return names


def _available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def run(args) -> int:
    from ..bench import report

    names = _selected(args.only)
    env, flags, backend = _plan(args)
    if args.results is not None and not Path(args.results).is_dir():
        raise ConfigError(f"--from {args.results}: no such folder (it must hold the suite files SUITE.json)")
    with open_out(args, "bench") as folder:
        failed, table, seconds = _run(args, names, folder.work, env, flags, backend)
    out = folder.path
    if args.readme:
        section = "gpu" if args.device == "gpu" else "cpu"
        heading = report.GPU_HEADING + (" (dry run on a CPU: not GPU figures)" if args.dry_run else "")
        report.update_readme(Path(args.readme), table, section=section,
                             heading=heading if section == "gpu" else None)
    say(table)
    say(f"wrote bench.json, bench.md, bench.png and summary.json to {out}/ in {seconds:.0f} s")
    if failed:
        raise ConfigError(f"benchmark suite(s) failed: {', '.join(failed)} (see {out}/bench.json)")
    return 0


def _measured(path: Path, backend: str) -> dict:
    """A suite's result file as `_run` would have read it, or {"error": why it cannot be used}."""
    if not path.is_file():
        return {"error": f"no result file {path}"}
    try:
        r = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        return {"error": f"{path} is not JSON ({e.msg} at line {e.lineno})"}
    ran_on = r.get("machine", {}).get("backend")
    if ran_on is not None and ran_on != backend:
        return {"error": f"{path.name} ran on {ran_on}, not {backend}"}
    return r


def _run(args, names, out, env, flags, backend):
    from .. import io
    from ..bench import report

    timer = Timer()
    results, failed = {}, []
    for i, name in enumerate(names, 1):
        module = SUITES[name]
        if args.results is not None:
            results[name] = _measured(Path(args.results) / f"{name}.json", backend)
            if "error" in results[name]:
                failed.append(name)
                say(f"[{i}/{len(names)}] {name}: {results[name]['error']}")
            continue
        if not _available(module):
            results[name] = {"error": f"module {module} is not installed"}
            failed.append(name)
            say(f"[{i}/{len(names)}] {name}: skipped ({module} is not installed)")
            continue
        suite_flags = ["--tiny"] if args.dry_run and name == "solver" else flags
        say(f"[{i}/{len(names)}] {name}: running {module} {' '.join(suite_flags)} ...")
        t = Timer()
        path = out / f"{name}.json"
        cmd = [sys.executable, "-m", module, "--out", str(path), *suite_flags]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0 or not path.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            results[name] = {"error": tail[-1] if tail else f"exit status {proc.returncode}"}
            failed.append(name)
            say(f"    failed after {t():.0f} s: {results[name]['error']}")
            continue
        results[name] = _measured(path, backend)
        if "error" in results[name]:
            failed.append(name)
            say(f"    failed: {results[name]['error']}")
            continue
        say(f"    done in {t():.0f} s")
    rows = report.headlines(results)
    table = report.markdown(rows, results)
    bench = {"quick": args.quick or args.device == "gpu", "device": args.device, "dry_run": args.dry_run,
             "seconds": timer(), "suites": results, "headlines": rows, "failed": failed}
    io.write_json(out / "bench.json", bench)
    with io.atomic_path(out / "bench.md") as tmp:
        tmp.write_text(table)
    io.write_figure(report.figure(rows, results), out / "bench.png")
    io.write_json(out / "summary.json", {"command": "bench", "quick": bench["quick"], "device": args.device,
                                         "dry_run": args.dry_run, "seconds": bench["seconds"],
                                         "headlines": rows, "failed": failed,
                                         "files": ["bench.json", "bench.md", "bench.png"]})
    return failed, table, bench["seconds"]
