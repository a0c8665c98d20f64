"""The benchmark report: one headline row per measured claim, as a markdown table and a figure.

A row: `suite`, `what`, `value` + `unit` (this project), `baseline` + `baseline_name` (the
comparison measured in the same run), `ratio` (how many times better; > 1 is better),
`target` (the ratio or fraction the issue asks for, if any).
"""

from __future__ import annotations

import re
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"  # the CPU table
GPU_BEGIN, GPU_END = "<!-- bench-gpu:begin -->", "<!-- bench-gpu:end -->"  # `rsvp bench --device gpu`, apart
GPU_HEADING = "Figures of `rsvp bench --device gpu`"


def _row(suite, what, value, unit, baseline=None, baseline_name=None, ratio=None, target=None):
    return {"suite": suite, "what": what, "value": value, "unit": unit, "baseline": baseline,
            "baseline_name": baseline_name, "ratio": ratio, "target": target}


# targets of issue #18 at the shape they are stated for (float32 SSP-RK3): on CPU 2048², on an
# accelerator 4096² against the device's own copy bandwidth
TARGETS = {"cpu": {"shape": [2048, 2048], "ceiling": 0.15, "reference": 0.7},
           "gpu": {"shape": [4096, 4096], "ceiling": 0.5, "reference": None}}


def _solver(r):
    rows = []
    backend = r.get("machine", {}).get("backend", "cpu")
    targets = TARGETS["cpu" if backend == "cpu" else "gpu"]
    source = r.get("bandwidth", {}).get("source", "stream")
    ceiling_name = "device copy-bandwidth ceiling" if source == "device_copy" else "STREAM copy-bandwidth ceiling"
    for t in r.get("throughput", []):
        if t["dtype"] == "float32" and t["method"] == "ssprk3" and len(t["shape"]) == 2 and t.get("advection") != "upwind":
            n = "x".join(map(str, t["shape"]))
            at_target = t["shape"] == targets["shape"]
            rows.append(_row("solver", f"rsvp {n} float32 SSP-RK3 throughput", t["cell_updates_per_s"], "cell-updates/s",
                             t.get("ceiling_cell_updates_per_s"), ceiling_name, t.get("fraction_of_ceiling"),
                             targets["ceiling"] if at_target else None))
            if "reference_cell_updates_per_s" in t:
                rows.append(_row("solver", f"rsvp {n} float32 SSP-RK3 vs the plain-jnp stencil",
                                 t["cell_updates_per_s"], "cell-updates/s", t["reference_cell_updates_per_s"],
                                 "4-field 5-point Laplacian, SSP-RK3 (same run)", t["fraction_of_reference"],
                                 targets["reference"] if at_target else None))
    for f in r.get("flux_cost", []):
        rows.append(_row("solver", f"rsvp {'x'.join(map(str, f['shape']))} default ({f['advection']}) flux vs upwind",
                         f["cell_updates_per_s"], "cell-updates/s", f["upwind_cell_updates_per_s"],
                         "upwind flux (same run)", f["throughput_ratio_vs_upwind"], 0.9))
    if r.get("numpy"):
        rows.append(_row("solver", f"rsvp {'x'.join(map(str, r['speedup_vs_numpy_shape']))} vs NumPy",
                         r["numpy"]["cell_updates_per_s"] * r["speedup_vs_numpy"], "cell-updates/s",
                         r["numpy"]["cell_updates_per_s"], "NumPy (same equations)", r["speedup_vs_numpy"], 10.0))
    ex = r.get("exponax", {})
    if "time_ratio_rsvp_over_exponax" in ex:
        rows.append(_row("solver", "2D advection-diffusion to rel. error 1e-4", ex["rsvp_jax"]["median_s"], "s",
                         ex["exponax"]["median_s"], "exponax (exact ETD)", 1.0 / ex["time_ratio_rsvp_over_exponax"]))
    return rows


def _generic(suite, r):
    """Suites that provide their own rows under "headlines"."""
    return [dict(_row(suite, "", None, ""), **h) for h in r.get("headlines", [])]


def _sweep(r):
    b = r.get("batched_vs_loop")
    rows = []
    if b:
        rows.append(_row("sweep", f"{b['batched']['points']}-point sweep, batched vs loop", b["batched"]["points_per_s"],
                         "points/s", b["loop"]["points_per_s"], "loop of rj.simulate", b["speedup"], b.get("target")))
    dev = [d for d in r.get("devices", []) if "points_per_s" in d]
    if len(dev) > 1:
        best = max(dev, key=lambda d: d["points_per_s"])
        rows.append(_row("sweep", f"sweep on {best['devices']} forced CPU devices vs 1", best["points_per_s"], "points/s",
                         dev[0]["points_per_s"], "1 device", best.get("speedup_vs_1")))
    return rows


def _fit(r):
    rows = []
    base = r.get("variants", [{}])[0]
    for v in r.get("variants", [])[1:]:
        if "temp_bytes_vs_no_checkpoint" in v:
            rows.append(_row("fit", f"gradient memory, checkpoint every {v.get('checkpoint_every')} steps",
                             v["temp_bytes"] / 2**20, "MiB", base.get("temp_bytes", 0) / 2**20, "no checkpointing",
                             1.0 / v["temp_bytes_vs_no_checkpoint"]))
        if "time_vs_no_checkpoint" in v:
            rows.append(_row("fit", f"gradient time, checkpoint every {v.get('checkpoint_every')} steps",
                             v["gradient"]["median_s"], "s", base["gradient"]["median_s"], "no checkpointing",
                             1.0 / v["time_vs_no_checkpoint"]))
    return rows


ADAPTERS = {"solver": _solver, "sweep": _sweep, "fit": _fit}


def headlines(results: dict) -> list[dict]:
    rows = []
    for suite, r in results.items():
        if "error" in r:
            rows.append(_row(suite, f"FAILED: {r['error']}", None, ""))
            continue
        rows += ADAPTERS[suite](r) if suite in ADAPTERS else _generic(suite, r)
    return rows


def _fmt(x):
    if x is None:
        return ""
    if isinstance(x, (int, float)):
        return f"{x:.3g}"
    return str(x)


def markdown(rows: list[dict], results: dict) -> str:
    machine = next((r["machine"] for r in results.values() if isinstance(r, dict) and "machine" in r), {})
    lines = [f"Machine: {machine.get('processor', '?')}, {machine.get('cpu_count', '?')} cores, "
             f"{machine.get('backend', '?')} ({machine.get('device', '?')}), jax {machine.get('jax', '?')}; "
             f"load average {tuple(round(x, 1) for x in machine.get('load_average', ()))}.", "",
             "| suite | measurement | value | unit | baseline (same run) | baseline value | ratio | target |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['suite']} | {r['what']} | {_fmt(r['value'])} | {r['unit']} | {r['baseline_name'] or ''} | "
                     f"{_fmt(r['baseline'])} | {_fmt(r['ratio'])} | {_fmt(r['target'])} |")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], results: dict):
    """Left: solver throughput against size with the bandwidth ceiling; right: every ratio."""
    from ..plots import pyplot

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.5), constrained_layout=True)
    thr = [t for t in results.get("solver", {}).get("throughput", [])
           if t["dtype"] == "float32" and t["method"] == "ssprk3" and len(t["shape"]) == 2]
    if thr:
        cells = [t["shape"][0] * t["shape"][1] for t in thr]
        a.loglog(cells, [t["cell_updates_per_s"] for t in thr], "o-", label="rsvp-jax (SSP-RK3, float32)")
        if all("ceiling_cell_updates_per_s" in t for t in thr):
            a.loglog(cells, [t["ceiling_cell_updates_per_s"] for t in thr], "k--", label="memory-bandwidth ceiling")
        a.set_xlabel("cells")
        a.set_ylabel("cell-updates / s")
        a.legend(fontsize=8)
        a.set_title("solver throughput")
    ratios = [r for r in rows if r.get("ratio")]
    if ratios:
        y = range(len(ratios))
        b.barh(list(y), [r["ratio"] for r in ratios], color=["C2" if r["ratio"] >= (r["target"] or 1) else "C3" for r in ratios])
        b.set_yticks(list(y), [f"{r['suite']}: {r['what']}"[:60] for r in ratios], fontsize=7)
        b.axvline(1.0, color="k", lw=0.8)
        b.set_xscale("log")
        b.set_xlabel("ratio (× better than the same-run baseline; target where given)")
        for i, r in enumerate(ratios):
            if r.get("target"):
                b.plot([r["target"]], [i], "k|", ms=12)
    return fig


def update_readme(path: Path, table: str, section: str = "cpu", heading: str | None = None) -> None:
    """Replace the text between the markers of `section` ("cpu": `BEGIN` / `END`, "gpu":
    `GPU_BEGIN` / `GPU_END`) of `path` with `table` (under `heading`, if given), atomically.

    Only that section changes: GPU figures never land in the CPU table, nor the reverse. Missing
    markers are appended at the end (the GPU ones under a `## GPU` heading).
    """
    from ..io import atomic_path

    begin, end = (BEGIN, END) if section == "cpu" else (GPU_BEGIN, GPU_END)
    text = path.read_text() if path.exists() else ""
    if begin not in text:
        title = "" if section == "cpu" else "## GPU\n\n"
        text = text.rstrip() + ("\n\n" if text.strip() else "") + f"{title}{begin}\n{end}\n"
    body = f"{heading}\n\n{table}" if heading else table
    new = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: f"{begin}\n{body}{end}", text, flags=re.S)
    with atomic_path(path) as tmp:
        tmp.write_text(new)
