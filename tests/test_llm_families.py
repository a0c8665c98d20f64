"""Every ported family against the transformers PyTorch model it ports, on tiny random weights.

Each case builds a random model with transformers (no download), saves it as safetensors, loads
it with `lb.load`, and compares logits and per-layer hidden states on several prompts —
including ones longer than every sliding window — in float32, max |Δ| < 1e-4.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from llm_helpers import CASES, PROMPTS, make_tiny, torch_logits
from safetensors import safe_open

import llm_bridge as lb

TOL = 1e-4


@pytest.fixture(scope="module", params=sorted(CASES))
def tiny(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    reference = make_tiny(request.param, folder)
    return request.param, reference, lb.load(folder), folder


def test_logits_match_pytorch(tiny):
    case, reference, m, _ = tiny
    windows = [w for w in m.config.layer_windows if w is not None]
    assert max(len(p) for p in PROMPTS) > max(windows, default=0), "a prompt must outrun every sliding window"
    for ids in PROMPTS:
        ours = np.asarray(m.logits(ids), np.float64)
        ref = torch_logits(reference, ids)
        assert ours.shape == ref.shape == (len(ids), m.config.vocab_size)
        err = np.abs(ours - ref).max()
        assert err < TOL, f"{case}: max |Δ logits| = {err:.2e} on a {len(ids)}-token prompt"


def test_hidden_states_match_pytorch(tiny):
    case, reference, m, _ = tiny
    ids = PROMPTS[-1]
    with torch.no_grad():
        ref = reference(input_ids=torch.tensor(ids)[None], output_hidden_states=True).hidden_states
    ours = np.asarray(m.hidden_states(ids))
    layers = m.config.num_layers
    assert ours.shape == (layers + 1, len(ids), m.config.hidden_size)
    # transformers: the embeddings, the outputs of layers 1..L-1, then the final-normed output of layer L.
    for i in range(layers):
        assert np.abs(ours[i] - ref[i][0].numpy()).max() < TOL, f"{case}: residual stream {i}"
    final = m.decoder.final_norm(ours[layers])
    assert np.abs(np.asarray(final) - ref[layers][0].numpy()).max() < TOL


def _detach_checks(dec, x):
    """Each map's value and derivative along x itself (jvp): plain, then detached, in one program."""
    plain, jx_plain = jax.jvp(lambda x: dec.forward(x), (x,), (x,))
    detached, jx = jax.jvp(lambda x: dec.forward(x, detach=True), (x,), (x,))
    return plain, detached, jx_plain, jx


def _forward(dec, x, detach):
    return dec.forward(x, detach=detach)


def test_detach_changes_gradients_not_values(tiny):
    """Detached: forward bit-identical; the map x ↦ y becomes linear, so J·x reproduces y."""
    case, _, m, _ = tiny
    dec = m.decoder
    x = dec.embed(jnp.asarray(PROMPTS[2]))
    # stop_gradient leaves no trace in the compiled program: the same program, so the same bits
    # (bit-equality of the outputs themselves is checked on SmolLM2 in test_llm_gguf.py).
    forward = jax.jit(_forward, static_argnames="detach")
    assert forward.lower(dec, x, detach=True).as_text() == forward.lower(dec, x, detach=False).as_text()
    _, y, jx_plain, jx = (np.asarray(a) for a in jax.jit(_detach_checks)(dec, x))
    if dec.config.qkv_bias or dec.config.o_bias or dec.config.mlp_bias:
        return  # affine, not linear: the bias term is issue 5's business
    scale = np.abs(y).max()
    assert np.abs(jx - y).max() < 1e-4 * scale, f"{case}: detached map is not linear"
    assert np.abs(jx_plain - y).max() > 1e-2 * scale, f"{case}: gates had no effect on the gradient"


def _trace_checks(dec, x):
    h, trace = dec.run_layers(x, trace=True)
    rest = dec.run_layers(dec.run_layers(x, stop=1), start=1)
    return h, trace, rest, dec.forward(x, layers=1), dec.final_norm(trace.hidden[0])


def test_layer_trace_adds_up(tiny):
    """run_layers(trace=True): each layer's residual = previous + attention part + MLP part."""
    _, _, m, _ = tiny
    dec = m.decoder
    x = dec.embed(jnp.asarray(PROMPTS[1]))
    h, trace, rest, first_normed, first_normed_again = jax.jit(_trace_checks)(dec, x)
    previous = jnp.concatenate([x[None], trace.hidden[:-1]])
    np.testing.assert_allclose(trace.hidden, previous + trace.attn + trace.mlp, atol=1e-5)
    np.testing.assert_array_equal(h, trace.hidden[-1])
    # a span of layers continues where the previous span stopped
    np.testing.assert_allclose(rest, h, atol=1e-5)
    np.testing.assert_allclose(first_normed, first_normed_again, atol=1e-6)


def test_float64(x64, tmp_path):
    """float64 end to end (jax_enable_x64): every weight float64, logits as PyTorch's float32
    ones (transformers computes RoPE angles in float32 even for a double model, so it is no
    float64 reference), and the detached map linear to float64 round-off."""
    reference = make_tiny("gemma3", tmp_path)
    m = lb.load(tmp_path, dtype="float64")
    assert {a.dtype for a in jax.tree.leaves(m.decoder)} == {np.dtype(np.float64)}
    ids = PROMPTS[2]
    assert np.abs(np.asarray(m.logits(ids)) - torch_logits(reference, ids)).max() < TOL
    x = m.embed(ids)
    _, y, _, jx = (np.asarray(a) for a in jax.jit(_detach_checks)(m.decoder, x))
    assert y.dtype == np.float64
    assert np.abs(jx - y).max() < 1e-12 * np.abs(y).max()


def test_bfloat16_is_close_to_float32(tmp_path):
    make_tiny("llama", tmp_path)
    m32, m16 = lb.load(tmp_path), lb.load(tmp_path, dtype="bfloat16")
    assert m16.dtype.name == "bfloat16"
    a = np.asarray(m32.logits(PROMPTS[2]))
    b = np.asarray(m16.logits(PROMPTS[2]), np.float32)
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()


def test_bfloat16_checkpoint_reads_exactly(tmp_path):
    """A checkpoint stored in bfloat16 (as most on the Hub are) reads bit for bit, in either load dtype."""
    reference = make_tiny("phi3", tmp_path / "f32").to(torch.bfloat16)  # fused qkv / gate_up, cut on load
    reference.save_pretrained(tmp_path / "bf16")
    with safe_open(tmp_path / "bf16" / "model.safetensors", framework="numpy") as f:
        assert {f.get_slice(name).get_dtype() for name in f.keys()} == {"BF16"}
    layer = reference.model.layers[1]
    for dtype in ("bfloat16", "float32"):
        m = lb.load(tmp_path / "bf16", dtype=dtype)
        layers, c = m.decoder.layers, m.config
        expected = {
            "embed": (m.decoder.embed_tokens, reference.model.embed_tokens.weight),
            "q": (layers.q[...][1], layer.self_attn.qkv_proj.weight[: c.num_heads * c.head_dim]),
            "up": (layers.up[...][1], layer.mlp.gate_up_proj.weight[c.intermediate_size :]),
            "mlp_norm": (layers.mlp_norm[...][1], layer.post_attention_layernorm.weight),
        }
        for name, (ours, theirs) in expected.items():
            np.testing.assert_array_equal(np.asarray(ours[...], np.float32), theirs.detach().float().numpy(), err_msg=name)
        assert m.dtype.name == dtype


def test_sharded_folder_loads(tmp_path):
    reference = make_tiny("qwen3", tmp_path / "one")
    reference.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert len(list((tmp_path / "sharded").glob("*.safetensors"))) > 1
    a = lb.load(tmp_path / "one").logits(PROMPTS[1])
    b = lb.load(tmp_path / "sharded").logits(PROMPTS[1])
    np.testing.assert_array_equal(a, b)


def test_greedy_generation_matches_pytorch(tmp_path):
    reference = make_tiny("mistral", tmp_path)
    m = lb.load(tmp_path)
    prompt = PROMPTS[1]
    ours = m.generate(prompt, 8, stop_at_eos=False)
    with torch.no_grad():
        ref = reference.generate(torch.tensor(prompt)[None], max_new_tokens=8, do_sample=False,
                                 min_new_tokens=8, pad_token_id=0)[0].numpy()
    np.testing.assert_array_equal(ours, ref)
