"""Analyses on detached Jacobians: layers and parts, SVD decoding, matrix-free top-k, batching, steering.

All on tiny random models (tests/llm_helpers.py): a biased one (Qwen2: V biases, sliding window)
and a sandwich-norm one (Gemma 3: post-norms, QK-norm, embedding scale).
"""

import numpy as np
import pytest
from llm_helpers import PROMPTS, make_tiny

import llm_bridge as lb
from llm_bridge.jacobian import _decode
from llm_bridge.jacobian._topk import choose_method, joint_top_k, token_top_k
from llm_bridge.jacobian._steer import steer, steered_logits, steering_vector

IDS = PROMPTS[3]


@pytest.fixture(scope="module", params=["qwen2", "gemma3"])
def tiny(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    make_tiny(request.param, folder)
    return lb.load(folder)


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama")
    make_tiny("llama", folder)
    return lb.load(folder)


def test_layer_and_part_jacobians_reconstruct_their_outputs(tiny):
    lj = lb.layer_jacobians(tiny, IDS)
    n, d, t = tiny.config.num_layers, tiny.config.hidden_size, len(IDS)
    assert lj.jacobian.shape == (n, 3, d, t, d) and lj.parts == lb.PARTS
    assert lj.relative_error.max() <= 2e-6, lj.relative_error
    # the last layer's output is the final point: the same J as detached_jacobian(layer=None)
    final = lb.detached_jacobian(tiny, IDS)
    np.testing.assert_allclose(lj.jacobian[-1, 0], final.jacobian, atol=1e-6 * np.abs(final.jacobian).max())
    np.testing.assert_array_equal(lj.output[-1, 0], final.output)
    if tiny.config.family == "gemma3":
        return  # one family is enough for the single-point check below (it compiles a map of its own)
    # one point on its own (its own compiled map) agrees with the all-layers pass
    one = lb.detached_jacobian(tiny, IDS, layer=1, component="mlp")
    assert one.relative_error <= 2e-6
    np.testing.assert_allclose(one.jacobian, lj.jacobian[1, 2], atol=1e-6 * np.abs(one.jacobian).max())


def test_raw_parts_add_up_to_the_layer(tiny):
    """Before the norm, h⁽ˡ⁾ = h⁽ˡ⁻¹⁾ + a⁽ˡ⁾ + m⁽ˡ⁾, so their detached Jacobians and biases add up too."""
    lj = lb.layer_jacobians(tiny, IDS, normed=False, mode="rev")
    assert lj.relative_error.max() <= 2e-6
    d, t = tiny.config.hidden_size, len(IDS)
    previous = np.zeros((d, t, d), np.float32)
    previous[:, -1, :] = np.eye(d)  # h⁽⁻¹⁾ = x: the identity on the last token
    for layer in range(tiny.config.num_layers):
        total = previous + lj.jacobian[layer, 1] + lj.jacobian[layer, 2]
        np.testing.assert_allclose(lj.jacobian[layer, 0], total, atol=2e-5 * np.abs(total).max())
        previous = lj.jacobian[layer, 0]


def test_forward_and_reverse_modes_agree(llama):
    fwd = lb.layer_jacobians(llama, PROMPTS[1], layers=[0, -1], parts=("layer", "attn"), mode="fwd")
    rev = lb.layer_jacobians(llama, PROMPTS[1], layers=[0, -1], parts=("layer", "attn"), mode="rev")
    assert fwd.layers == (0, 2) and fwd.jacobian.shape[:2] == (2, 2)
    np.testing.assert_allclose(fwd.jacobian, rev.jacobian, atol=1e-5 * np.abs(rev.jacobian).max())
    one = lb.detached_jacobian(llama, PROMPTS[0], mode="fwd")  # T = 1
    assert one.relative_error <= 2e-6


def test_svd_decoding_and_prediction_share(llama):
    dj = lb.detached_jacobian(llama, IDS)
    spec = lb.decompose(llama, dj, modes=4, top=3)
    s_tok, s_joint = spec["token"]["sigma"], spec["joint"]["sigma"]
    assert np.all(np.diff(s_tok, axis=-1) <= 0) and np.all(np.diff(s_joint) <= 0)
    # the singular values are those of the blocks and of the joint map
    np.testing.assert_allclose(np.sqrt((s_tok**2).sum(-1)), np.linalg.norm(dj.blocks, axis=(1, 2)), rtol=1e-4)
    np.testing.assert_allclose(np.sqrt((s_joint**2).sum()), np.linalg.norm(dj.jacobian), rtol=1e-4)
    assert spec["joint"]["summary"]["stable_rank"] >= 1
    # signs: every kept left vector points along the prediction, and (u, v) stay a singular pair
    y = dj.output
    assert np.all(y @ spec["u_joint"] >= 0) and np.all(np.einsum("d,tdk->tk", y, spec["u_token"]) >= 0)
    flat = dj.jacobian.reshape(dj.jacobian.shape[0], -1)
    v0 = spec["v_joint"][0].reshape(-1)
    np.testing.assert_allclose(flat @ v0, s_joint[0] * spec["u_joint"][:, 0], atol=1e-4 * s_joint[0])
    # the prediction: all modes keep it (no bias), and the energy share grows to 1
    share = spec["prediction"]
    assert share["predicted"] == int(np.argmax(llama.logits(IDS)[-1]))
    assert share["keeps"][-1] and np.all(np.diff(share["energy"]) >= -1e-6) and abs(share["energy"][-1] - 1) < 1e-4
    assert 1 <= share["smallest_k"] <= 64
    assert share["keeps"] == [tok == share["predicted"] for tok in share["token"]]
    assert len(spec["decoded"]["joint"]) == 4 and len(spec["decoded"]["tokens"]) == len(IDS)
    # decoding: an input embedding's own direction is nearest to its own token
    emb = np.asarray(llama.decoder.embed_tokens[...])
    _, ids = _decode.decode_input(llama.decoder, emb[[3, 40]], top=2)
    assert ids[:, 0].tolist() == [3, 40]


def test_llm_spectra_layers(llama):
    spec = lb.llm_spectra(llama, IDS, layers=[0, 2], parts=("layer", "mlp"))
    lay = spec["layer"]
    assert lay["sigma"].shape == (2, 2, 64) and lay["sigma_last"].shape == (2, 2, 64)
    assert lay["summary"]["stable_rank"].shape == (2, 2) and lay["relative_error"].max() <= 2e-6
    assert spec["tokens"] == [f"[{i}]" for i in IDS]  # no tokenizer in the folder: ids stand in
    np.testing.assert_allclose(lay["sigma"][1, 0], spec["joint"]["sigma"], rtol=1e-4, atol=1e-6)


def test_matrix_free_top_k_matches_dense_svd(llama):
    ids, k = IDS, 6
    dj = lb.detached_jacobian(llama, ids)
    u, s, vt = (np.asarray(a) for a in _decode.token_svd(dj.blocks))
    sweep = token_top_k(llama, ids, k, method="sweep", chunk=24)  # 3 batches of output rows
    assert sweep.method == "sweep" and sweep.passes == 65
    np.testing.assert_allclose(sweep.s, s[:, :k], rtol=1e-5)
    np.testing.assert_allclose(np.abs(np.einsum("tdk,tdk->tk", sweep.u, u[..., :k])), 1, atol=1e-4)
    lanczos = token_top_k(llama, ids, k, tokens=[0, -1], method="lanczos", steps=48)
    assert lanczos.method == "lanczos" and lanczos.tokens.tolist() == [0, len(ids) - 1]
    np.testing.assert_allclose(lanczos.s, s[[0, -1], :k], rtol=1e-4)
    np.testing.assert_allclose(np.abs(np.einsum("tdk,tdk->tk", lanczos.u, u[[0, -1], :, :k])), 1, atol=1e-3)
    np.testing.assert_allclose(np.abs(np.einsum("tkd,tkd->tk", lanczos.v, vt[[0, -1], :k])), 1, atol=1e-3)
    assert choose_method("auto", 1, 64, 16) == "lanczos" and choose_method("auto", 16, 64, 16) == "sweep"
    uj, sj, _ = (np.asarray(a) for a in _decode.joint_svd(dj.jacobian))
    joint = joint_top_k(llama, ids, k, steps=48)
    np.testing.assert_allclose(joint.s, sj[:k], rtol=1e-4)
    np.testing.assert_allclose(np.abs(np.sum(joint.u * uj[:, :k], axis=0)), 1, atol=1e-3)
    assert joint.v.shape == (k, len(ids), 64)


def test_batched_prompts_match_one_by_one(llama):
    batch = np.stack([PROMPTS[3], PROMPTS[3][::-1], (PROMPTS[3] * 7) % 128])
    many = lb.detached_jacobians(llama, batch)
    assert many.jacobian.shape == (3, 64, 16, 64) and many.relative_error.shape == (3,)
    assert many.relative_error.max() <= 2e-6
    for b in (0, 2):
        one = lb.detached_jacobian(llama, batch[b])
        np.testing.assert_allclose(many.jacobian[b], one.jacobian, atol=1e-6 * np.abs(one.jacobian).max())
    with pytest.raises(lb.BridgeError, match=r"\(B, T\)"):
        lb.detached_jacobians(llama, PROMPTS[3])


def test_steering_moves_generation_toward_the_source(llama):
    """J·x of a source prompt added mid-network pulls the target's next token toward the source's."""
    source, target, layer = PROMPTS[1], PROMPTS[2], 1
    a = int(np.argmax(llama.logits(source)[-1]))
    b = int(np.argmax(llama.logits(target)[-1]))
    assert a != b
    s = steering_vector(llama, source, layer)
    hidden = np.asarray(llama.hidden_states(source))[layer + 1, -1]
    np.testing.assert_allclose(s, hidden, rtol=1e-5, atol=1e-5 * np.abs(hidden).max())  # J·x rebuilds h (no bias)
    margins = [float(np.diff(steered_logits(llama, target, s, layer, scale)[[b, a]])[0]) for scale in (0, 1, 2, 4)]
    assert all(np.diff(margins) > 0), margins  # the source's token gains on the target's, steadily
    unsteered = steer(llama, target, s, layer, 0.0, 4, stop_at_eos=False)
    np.testing.assert_array_equal(unsteered, llama.generate(target, 4, stop_at_eos=False))
    steered = steer(llama, target, s, layer, 8.0, 4, stop_at_eos=False)
    assert steered[len(target)] == a  # strong enough, the target continues like the source
    low_rank = steering_vector(llama, source, layer, rank=2)
    assert np.linalg.norm(low_rank) < np.linalg.norm(s)
    with pytest.raises(lb.BridgeError, match="layer"):
        steering_vector(llama, source, 7)


def test_flop_count():
    class C:
        hidden_size, intermediate_size, num_layers, num_heads, num_kv_heads, head_dim = 576, 1536, 30, 9, 3, 64

    assert abs(lb.jacobian_flops(C, 16) - 1.2229e12) / 1.2229e12 < 1e-3  # the issue's ≈ 1.2 TFLOP
