"""`rsvp llm-jacobian` end to end: a tiny model folder made here, SmolLM2, and the bad inputs."""

import json

import numpy as np
import pytest
from llm_helpers import TINY, make_tiny

from rsvp_jax.cli import main
from rsvp_jax.io import open_dataset

FILES = {"reconstruction.png", "jacobian.png", "spectra.png", "importance.png", "layers.png", "path.png", "llm_jacobian.nc",
         "summary.json"}
LAYER_FILES = {"layers.png", "path.png"}


def _char_tokenizer(folder):
    """A character-level byte-BPE tokenizer (no merges) over the tiny vocabulary, saved beside the weights.

    transformers rebuilds a folder's tokenizer as the model family's own class (here Qwen2's
    byte-level BPE); a byte-level vocabulary without merges survives that unchanged."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    first = "Ġabcdefghijklmnopqrstuvwxyz.,"
    chars = list(first) + sorted(set(pre_tokenizers.ByteLevel.alphabet()) - set(first))
    tok = Tokenizer(models.BPE({c: i for i, c in enumerate(chars[: TINY["vocab_size"]])}, []))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_llm")
    make_tiny("qwen2", folder)
    _char_tokenizer(folder)
    return folder


def test_tiny_model_folder(tiny_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["llm-jacobian", "--model", str(tiny_folder), "--prompt", "a cab", "--out", str(out),
                 "--modes", "3"]) == 0
    assert {p.name for p in out.iterdir()} == FILES
    summary = json.loads((out / "summary.json").read_text())
    assert summary["relative_error"] <= 2e-6 and summary["tokens"] == ["a", " ", "c", "a", "b"]
    assert summary["family"] == "qwen2" and summary["bias_norm"] > 0  # Qwen2's V biases reach the output
    assert len(summary["top_modes"]) == 3 and all(len(m["output_tokens"]) == 5 for m in summary["top_modes"])
    assert len(summary["layer_ranks"]["stable_rank"]) == 3 and max(map(max, summary["layer_ranks"]["relative_error"])) <= 2e-6
    ds = open_dataset(out / "llm_jacobian.nc")
    assert ds["jacobian"].dims == ("out", "token", "in") and ds["jacobian"].shape == (64, 5, 64)
    assert ds.attrs["format"] == "rsvp-jax llm-jacobian 1" and ds.attrs["relative_error"] == summary["relative_error"]
    assert list(ds["token_text"].values) == summary["tokens"]
    np.testing.assert_allclose(ds["sigma_joint"].values[0], summary["top_modes"][0]["sigma"], rtol=1e-6)
    assert ds["sigma_layer"].dims == ("layer", "part", "mode") and list(ds["part"].values) == ["layer", "attn", "mlp"]
    assert "relative reconstruction error" in capsys.readouterr().out


def test_the_library_function_behind_the_command(tiny_folder, tmp_path):
    """`lb.jacobian_to_folder` is the command's work without the command: a loaded model, ids, a folder."""
    import llm_bridge as lb

    m = lb.load(tiny_folder)
    ids = m.tokenize("a cab")
    lines = []
    summary = lb.jacobian_to_folder(m, ids, tmp_path / "lib", prompt="a cab", layers=(), modes=2, progress=lines.append)
    assert {p.name for p in (tmp_path / "lib").iterdir()} == FILES - LAYER_FILES
    assert summary["relative_error"] <= 2e-6 and summary["prompt"] == "a cab" and "layer_ranks" not in summary
    assert len(summary["top_modes"]) == 2 and any("relative reconstruction error" in line for line in lines)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(lb.BridgeError, match="not a folder"):
        lb.jacobian_to_folder(m, ids, tmp_path / "a_file")
    with pytest.raises(lb.BridgeError, match="layers"):
        lb.jacobian_to_folder(m, ids, tmp_path / "never", layers="all")
    assert not (tmp_path / "never").exists()


def test_attribution_and_span(tiny_folder, tmp_path, capsys):
    """--attribution --contrast TOKEN --span single: the attribution's figure, graph and arrays, the span's layers."""
    out = tmp_path / "attr"
    assert main(["llm-jacobian", "--model", str(tiny_folder), "--prompt", "a cab", "--out", str(out), "--modes", "2",
                 "--attribution", "--contrast", "b", "--span", "single", "--share", "0.8"]) == 0
    assert {p.name for p in out.iterdir()} == FILES | {"attribution.png", "attribution.json"}
    summary = json.loads((out / "summary.json").read_text())
    att = summary["attribution"]
    assert att["contrast"] == "b" and att["error"] <= 1e-6 and att["graph"]["kept_share"] >= 0.8
    assert abs(att["total"] - att["logit"]) <= 1e-5 * max(1.0, abs(att["logit"]))
    assert summary["layer_ranks"]["span"] == "single" and max(map(max, summary["layer_ranks"]["relative_error"])) <= 2e-6
    graph = json.loads((out / "attribution.json").read_text())
    assert graph["summary"]["contrast"] == "b" and any(n["kind"] == "logit" for n in graph["nodes"])
    ds = open_dataset(out / "llm_jacobian.nc")
    assert ds["attribution"].dims == ("attribution_layer", "component", "token") and ds["attribution"].shape == (3, 5, 5)
    assert ds.attrs["layer_span"] == "single" and ds.attrs["attribution_contrast"] == "b"
    np.testing.assert_allclose(float(ds["attribution"].sum() + ds["attribution_embedding"].sum()
                                     + ds["attribution_bias"].sum()) + ds.attrs["attribution_o_bias"],
                               ds.attrs["attribution_logit"], rtol=1e-5, atol=1e-5)
    assert "attribution" in capsys.readouterr().out
    assert main(["llm-jacobian", "--model", str(tiny_folder), "--prompt", "a cab", "--out", str(tmp_path / "no"),
                 "--attribution", "--contrast", "abc"]) == 2
    assert "not one" in capsys.readouterr().err and not (tmp_path / "no").exists()


@pytest.mark.slow
def test_smollm2_default_model_and_prompt(tmp_path, capsys):
    """No --model, no --prompt: the embedded default (SmolLM2, "The capital of France is"), with progress.
    (Its layer spectra, the default's other half, are checked on SmolLM2 by test_demo's quick run.)"""
    out = tmp_path / "smol"
    assert main(["llm-jacobian", "--layers", "none", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "loading smollm2" in said and "detached Jacobian (576 x 5 x 576)" in said and "layer spectra" not in said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prompt"] == "The capital of France is" and summary["model"].endswith(".gguf")
    assert summary["relative_error"] <= 2e-6 and summary["hidden_size"] == 576 and summary["layers"] == 30
    assert summary["prediction"]["predicted_token"] == " Paris"
    assert summary["top_modes"][0]["output_tokens"][0] == " Paris"  # the top joint mode decodes to the prediction
    assert "layer_ranks" not in summary
    assert {p.name for p in out.iterdir()} == FILES - LAYER_FILES


@pytest.mark.parametrize("argv, words", [
    (["--model", "/no/such/model.gguf"], "no such file"),
    (["--model", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    (["--prompt", "   "], "--prompt is empty"),
    (["--prompt", "abcd", "--max-tokens", "3"], "more than --max-tokens 3"),
    (["--layers", "0,x"], "--layers"),
    (["--modes", "0"], "--modes 0"),
    (["--contrast", "a"], "go with --attribution"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, tiny_folder, tmp_path, capsys):
    if "--model" not in argv:
        argv = ["--model", str(tiny_folder), *argv]
    out = tmp_path / "never"
    assert main(["llm-jacobian", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err
    assert not out.exists()  # nothing written


def test_prompt_beyond_the_context(tiny_folder, tmp_path, capsys):
    prompt = "ab" * TINY["max_position_embeddings"]
    assert main(["llm-jacobian", "--model", str(tiny_folder), "--prompt", prompt, "--out", str(tmp_path / "o")]) == 2
    assert "longer than the model's context" in capsys.readouterr().err


def test_a_jacobian_too_large_for_memory_is_refused_before_it_is_formed(tiny_folder, tmp_path, capsys, monkeypatch):
    """The size is the model's and the prompt's (d·T·d), so it is checked once the model is loaded."""
    monkeypatch.setenv("RSVP_MEMORY_LIMIT", "1000")
    out = tmp_path / "out"
    assert main(["llm-jacobian", "--model", str(tiny_folder), "--prompt", "a cab", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "of 5 tokens (d = 64) needs about" in err and "more than the" in err, err
    assert not out.exists()
