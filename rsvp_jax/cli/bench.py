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
    p.add_argument("--readme", default=None, help="also replace the results table in this markdown file")
    p.set_defaults(func=run)


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
    with open_out(args, "bench") as folder:
        failed, table = _run(args, names, folder.work)
    out = folder.path
    if args.readme:
        report.update_readme(Path(args.readme), table)
    say(table)
    say(f"wrote bench.json, bench.md, bench.png and summary.json to {out}/")
    if failed:
        raise ConfigError(f"benchmark suite(s) failed: {', '.join(failed)} (see {out}/bench.json)")
    return 0


def _run(args, names, out):
    from .. import io
    from ..bench import report

    timer = Timer()
    results, failed = {}, []
    for i, name in enumerate(names, 1):
        module = SUITES[name]
        if not _available(module):
            results[name] = {"error": f"module {module} is not installed"}
            failed.append(name)
            say(f"[{i}/{len(names)}] {name}: skipped ({module} is not installed)")
            continue
        say(f"[{i}/{len(names)}] {name}: running {module}{' --quick' if args.quick else ''} ...")
        t = Timer()
        path = out / f"{name}.json"
        cmd = [sys.executable, "-m", module, "--out", str(path), *(["--quick"] if args.quick else [])]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode != 0 or not path.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            results[name] = {"error": tail[-1] if tail else f"exit status {proc.returncode}"}
            failed.append(name)
            say(f"    failed after {t():.0f} s: {results[name]['error']}")
            continue
        results[name] = json.loads(path.read_text())
        say(f"    done in {t():.0f} s")
    rows = report.headlines(results)
    table = report.markdown(rows, results)
    bench = {"quick": args.quick, "seconds": timer(), "suites": results, "headlines": rows, "failed": failed}
    io.write_json(out / "bench.json", bench)
    with io.atomic_path(out / "bench.md") as tmp:
        tmp.write_text(table)
    io.write_figure(report.figure(rows, results), out / "bench.png")
    io.write_json(out / "summary.json", {"command": "bench", "quick": args.quick, "seconds": bench["seconds"],
                                         "headlines": rows, "failed": failed,
                                         "files": ["bench.json", "bench.md", "bench.png"]})
    return failed, table
