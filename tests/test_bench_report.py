"""The benchmark report (rows, markdown table, README update) and `rsvp bench`'s bad input. The
benchmarks themselves are timed by `rsvp bench`, not by tests."""

import pytest

from rsvp_jax.bench import report
from rsvp_jax.cli import main

RESULTS = {
    "solver": {"machine": {"processor": "x86_64", "cpu_count": 2, "backend": "cpu", "device": "cpu", "jax": "0.10.2"},
               "throughput": [{"shape": [2048, 2048], "dtype": "float32", "method": "ssprk3", "cell_updates_per_s": 4e7,
                               "ceiling_cell_updates_per_s": 8e7, "fraction_of_ceiling": 0.5,
                               "reference_cell_updates_per_s": 5e7, "fraction_of_reference": 0.8}],
               "bandwidth": {"source": "stream", "GB_per_s": 10.24},
               "numpy": {"cell_updates_per_s": 2e6}, "speedup_vs_numpy": 12.0, "speedup_vs_numpy_shape": [1024, 1024]},
    "tiles": {"headlines": [{"what": "4096 tile Jacobians", "value": 3.0, "unit": "s", "baseline": 60.0,
                             "baseline_name": "central FD", "ratio": 20.0, "target": 10.0}]},
    "llm": {"error": "module llm_bridge.bench is not installed"},
}


def test_headlines_markdown_and_readme_update(tmp_path):
    rows = report.headlines(RESULTS)
    solver = [r for r in rows if r["suite"] == "solver"]
    assert solver[0]["ratio"] == 0.5 and solver[0]["target"] == 0.15  # fraction of the copy-bandwidth ceiling at 2048²
    assert "STREAM" in solver[0]["baseline_name"]
    assert solver[1]["ratio"] == 0.8 and solver[1]["baseline"] == 5e7 and solver[1]["target"] == 0.7  # vs plain jnp
    assert solver[2]["ratio"] == 12.0 and solver[2]["baseline"] == 2e6 and solver[2]["value"] == 2.4e7
    assert [r["ratio"] for r in rows if r["suite"] == "tiles"] == [20.0]
    assert any(r["suite"] == "llm" and r["what"].startswith("FAILED") for r in rows)
    table = report.markdown(rows, RESULTS)
    assert "| tiles | 4096 tile Jacobians | 3 | s | central FD | 60 | 20 | 10 |" in table and "2 cores" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nintro\n\n{report.BEGIN}\nold table\n{report.END}\n\nafter\n")
    report.update_readme(readme, table)
    text = readme.read_text()
    assert "old table" not in text and table in text and text.startswith("# Benchmarks") and text.endswith("after\n")
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # written atomically: no temporary left


def test_unknown_suite_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["bench", "--only", "solver,nosuch", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nosuch' is not a benchmark suite" in err[0] and "solver" in err[0]
    assert not (tmp_path / "b" / "bench.json").exists()


def test_gpu_section_never_touches_the_cpu_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\n{report.BEGIN}\ncpu table\n{report.END}\n")
    report.update_readme(readme, "gpu table\n", section="gpu", heading="GPU figures")
    report.update_readme(readme, "gpu table 2\n", section="gpu", heading="GPU figures")
    text = readme.read_text()
    assert f"{report.BEGIN}\ncpu table\n{report.END}" in text
    assert text.count(report.GPU_BEGIN) == 1 and "## GPU" in text
    assert f"{report.GPU_BEGIN}\nGPU figures\n\ngpu table 2\n{report.GPU_END}" in text and "gpu table\n" not in text


@pytest.mark.slow
def test_gpu_plan_dry_run_on_cpu(tmp_path):
    """`rsvp bench --device gpu --dry-run`: the GPU plan (suite flags, backend check, its own README
    section) run on this CPU with the solver at 32²; the CPU table is left as it was."""
    import json

    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\n{report.BEGIN}\ncpu table\n{report.END}\n")
    out = tmp_path / "b"
    assert main(["bench", "--device", "gpu", "--dry-run", "--only", "solver", "--out", str(out),
                 "--readme", str(readme)]) == 0
    bench = json.loads((out / "bench.json").read_text())
    assert bench["device"] == "gpu" and bench["dry_run"] and bench["failed"] == []
    solver = bench["suites"]["solver"]
    assert solver["size"] == "tiny" and solver["bandwidth"]["GB_per_s"] > 0
    row = solver["throughput"][0]
    assert row["shape"] == [32, 32] and 0 < row["fraction_of_ceiling"] and 0 < row["fraction_of_reference"]
    text = readme.read_text()
    assert f"{report.BEGIN}\ncpu table\n{report.END}" in text
    gpu = text[text.index(report.GPU_BEGIN):text.index(report.GPU_END)]
    assert "dry run on a CPU" in gpu and "rsvp 32x32 float32 SSP-RK3 throughput" in gpu
    # --from: the same table from the suite files alone (how benchmarks/gpu_run.sh's files are tabulated)
    again = tmp_path / "again"
    assert main(["bench", "--device", "gpu", "--dry-run", "--only", "solver", "--from", str(out),
                 "--out", str(again)]) == 0
    assert (again / "bench.md").read_text() == (out / "bench.md").read_text()
    # ... with the same backend check: CPU results are no GPU figures
    assert main(["bench", "--device", "gpu", "--only", "solver", "--from", str(out), "--out", str(tmp_path / "no")]) == 2
    assert main(["bench", "--from", str(tmp_path / "missing"), "--out", str(tmp_path / "no2")]) == 2


def test_dry_run_needs_the_gpu_plan(tmp_path, capsys):
    assert main(["bench", "--dry-run", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device gpu" in err[0]
    assert not (tmp_path / "b").exists()
