"""GGUF files: real quantized models against transformers' own GGUF loading, and the name tables
of every family on tiny GGUF files written the way llama.cpp's converter writes them.

The references are transformers' `from_pretrained(folder, gguf_file=...)` of the very same
file (dequantized by transformers, Q/K un-permuted by transformers). Each real model is loaded
once per module.
"""

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from llm_helpers import GGUF_ARCH, make_tiny, tiny_config, write_gguf

import llm_bridge as lb

TOL = 2e-3


def _reference(path):
    path = Path(path)
    os.environ["HF_HUB_OFFLINE"] = "1"
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    )
    return model.eval()


def _reference_logits(model, ids, last=None):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(np.asarray(ids))[None], logits_to_keep=last or 0)
    return out.logits[0].double().numpy()


def _reference_greedy(model, ids, steps):
    with torch.no_grad():
        out = model.generate(torch.tensor(np.asarray(ids))[None], max_new_tokens=steps,
                             min_new_tokens=steps, do_sample=False)
    return out[0].numpy()


# ----------------------------------------------------------------------------- SmolLM2


@pytest.fixture(scope="module")
def smol():
    m = lb.load("smollm2")
    return m, _reference(m.source)


def test_smollm2_tokenizer_matches_transformers(smol):
    m, _ = smol
    reference = transformers.AutoTokenizer.from_pretrained(
        os.path.dirname(m.source), gguf_file=os.path.basename(m.source)
    )
    for text in ["The capital of France is", "  two  spaces\n\nand lines", "ünïcödé 😀 日本語 1234567",
                 "<|im_start|>user\nHi<|im_end|>"]:
        assert np.asarray(m.tokenize(text)).tolist() == reference(text)["input_ids"], text
    chat = reference.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    chat = chat["input_ids"] if hasattr(chat, "keys") else chat
    assert np.asarray(m.tokenize("Hi", chat=True)).tolist() == list(chat)


def test_tokenizer_from_a_model_folder(smol, tmp_path):
    """A Hugging Face folder brings its own tokenizer files; `tokenize` goes through them."""
    m, _ = smol
    make_tiny("llama", tmp_path)
    m.tokenizer.save_pretrained(tmp_path)
    folder_model = lb.load(tmp_path)
    text = "The capital of France is"
    np.testing.assert_array_equal(folder_model.tokenize(text), m.tokenize(text))
    assert folder_model.detokenize(folder_model.tokenize(text)) == text


def test_smollm2_logits_match_transformers(smol):
    m, reference = smol
    for ids in (m.tokenize("The capital of France is"),
                m.tokenize("What is the capital of France? Answer in one word.", chat=True)):
        ours = np.asarray(m.logits(ids), np.float64)
        ref = _reference_logits(reference, ids)
        assert ours.shape == ref.shape == (len(ids), 49152)
        err = np.abs(ours - ref).max()
        assert err < TOL, f"max |Δ logits| = {err:.2e} ({len(ids)} tokens)"


def test_smollm2_greedy_matches_transformers_and_says_paris(smol):
    m, reference = smol
    ids = m.tokenize("The capital of France is")
    assert np.asarray(ids).tolist() == [504, 3575, 282, 4649, 314]  # no BOS: SmolLM2's GGUF says add_bos_token=False
    ours = m.generate(ids, 10, stop_at_eos=False)
    np.testing.assert_array_equal(ours, _reference_greedy(reference, ids, 10))
    # Plain continuation (the model is instruction-tuned, but completes a bare prompt too).
    assert m.detokenize(ours[len(ids) : len(ids) + 1]) == " Paris"
    # As a chat it answers in a full sentence, then ends its turn.
    chat = m.tokenize("What is the capital of France?", chat=True)
    answer = m.generate(chat, 12)
    assert m.detokenize(answer[len(chat):]) == "The capital of France is Paris.<|im_end|>"


def test_smollm2_detach_leaves_values_bit_identical(smol):
    m, _ = smol
    x = m.embed(m.tokenize("The capital of France is"))
    forward = jax.jit(lambda dec, x, detach: dec.forward(x, detach=detach), static_argnums=2)
    np.testing.assert_array_equal(forward(m.decoder, x, True), forward(m.decoder, x, False))
    np.testing.assert_allclose(m.decoder.unembed(forward(m.decoder, x, False)), m.logits(m.tokenize(
        "The capital of France is")), rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- Gemma 3 270M


@pytest.fixture(scope="module")
def gemma():
    m = lb.load("gemma3-270m")
    return m, _reference(m.source)


@pytest.mark.slow
def test_gemma3_matches_transformers(gemma):
    m, reference = gemma
    ids = m.tokenize("The capital of France is")
    # transformers' AutoTokenizer on this file gives the same ids (checked once; it takes ~20 s).
    assert np.asarray(ids).tolist() == [2, 818, 5279, 529, 7001, 563]
    err = np.abs(np.asarray(m.logits(ids), np.float64) - _reference_logits(reference, ids)).max()
    assert err < TOL, f"max |Δ logits| = {err:.2e}"
    np.testing.assert_array_equal(m.generate(ids, 10, stop_at_eos=False), _reference_greedy(reference, ids, 10))


@pytest.mark.slow
def test_gemma3_beyond_its_sliding_window(gemma):
    """A 600-token prompt: the local layers see 512 positions, the global ones all of them."""
    m, reference = gemma
    assert 512 in m.config.layer_windows and None in m.config.layer_windows
    ids = np.random.default_rng(0).integers(3, 200_000, 600)
    ids[0] = 2  # <bos>
    last = 4
    x = m.embed(ids)  # unpadded: 600 positions, not the 1024 of m.logits' bucket
    ours = jax.jit(lambda dec, x: dec.unembed(dec.forward(x)[-last:]))(m.decoder, x)
    err = np.abs(np.asarray(ours, np.float64) - _reference_logits(reference, ids, last)).max()
    assert err < TOL, f"max |Δ logits| = {err:.2e} at positions 596..599"


# ----------------------------------------------------------------------------- tiny GGUFs, all families


@pytest.mark.parametrize("case", sorted(c for c in ("llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "olmo2")))
def test_gguf_tables_match_safetensors(case, tmp_path):
    """A tiny model written as llama.cpp would write it loads to the same weights as its safetensors."""
    assert tiny_config(case).model_type in GGUF_ARCH
    reference = make_tiny(case, tmp_path)
    write_gguf(reference, tmp_path / "model.gguf")
    a = lb.load(tmp_path).decoder
    b = lb.load(tmp_path / "model.gguf").decoder
    for field in ("family", "hidden_size", "num_heads", "num_kv_heads", "head_dim", "norm_offset", "pre_norms",
                  "post_norms", "qk_norm", "qkv_bias", "embed_scale", "tie_embeddings", "activation"):
        assert getattr(a.config, field) == getattr(b.config, field), field
    leaves_a = jax.tree_util.tree_leaves_with_path(a)
    leaves_b = jax.tree_util.tree_leaves_with_path(b)
    assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
    for (path, x), (_, y) in zip(leaves_a, leaves_b):
        # Gemma norms went through 1 + w and back: equal to float32 round-off.
        np.testing.assert_allclose(y, x, rtol=0, atol=1.2e-7, err_msg=jax.tree_util.keystr(path))
    if case in ("qwen3", "gemma", "olmo2"):  # tiny configs a GGUF states in full (no RoPE scaling, no windows)
        ids = jnp.arange(11)
        np.testing.assert_allclose(b(ids), a(ids), atol=1e-4)
