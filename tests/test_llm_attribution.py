"""Spans, per-head Jacobians, exact attribution and linearity certificates, for every family, in float64.

Each tiny random model (tests/llm_helpers.py: GQA, QK-norm, Gemma's sandwich norms and
soft-capping, Phi's fused projections, Qwen2's biases, sliding windows, ...) is analysed once per
module (one fixture: each analysis compiles one program, which is most of the time); the tests
then check what came out:

- the three spans of `layer_jacobians` reconstruct their own points to 1e-13;
- the per-head Jacobians sum to the attention part, biases included;
- the attribution (plain logit, and a logit difference) sums to the model's logit, and equals a
  float64 NumPy reference (no JAX, no PyTorch) term by term;
- the detached map has zero second derivative, and its Jacobian at the frozen gates is the same
  after a move as large as the embeddings themselves.

Then, on a few families: the ordinary Jacobian (`detach=False`) against `jax.jacrev` of the plain
model, ragged batches against one-at-a-time, the detached lens against the layer Jacobians, the
gap, token importance, the singular path and the graph export.
"""

import json

import jax
import numpy as np
import pytest
from llm_helpers import CASES, PROMPTS, make_tiny, numpy_attribution

import llm_bridge as lb

# Each family's analyses compile six programs (~25 s of CPU on 2 cores): the whole module is slow.
pytestmark = pytest.mark.slow

IDS = PROMPTS[2]  # 11 tokens: longer than every sliding window
HEAD_LAYER = 1
F64 = 1e-13


_ANALYSED: dict = {}


def analysed(case: str, tmp_path_factory) -> dict:
    """A family's tiny model in float64 and every analysis of it (computed once per module run)."""
    if case not in _ANALYSED:
        _ANALYSED[case] = _analyse(case, tmp_path_factory.mktemp(case))
    return _ANALYSED[case]


@pytest.fixture(scope="module", params=sorted(CASES))
def family(request, tmp_path_factory):
    """Every family in turn (see `analysed`); the tests after them name the one family they need."""
    return analysed(request.param, tmp_path_factory)


def _analyse(case: str, folder) -> dict:
    make_tiny(case, folder)
    with jax.enable_x64(True):
        m = lb.load(folder, dtype="float64")
        out = {"case": case, "m": m}
        out["spans"] = {span: lb.layer_jacobians(m, IDS, span=span) for span in lb.SPANS}
        out["heads"] = lb.head_jacobians(m, IDS, HEAD_LAYER)
        logits = np.asarray(m.logits(IDS)[-1], np.float64)
        out["logits"] = logits
        out["attribution"] = lb.attribution(m, IDS)
        contrast = int(np.argsort(logits)[-2])  # the runner-up
        out["contrast"] = lb.attribution(m, IDS, contrast=contrast)
        # the control (the ordinary map's second derivative) compiles a large program: on one family
        out["certificate"] = lb.linearity_certificate(m, IDS, controls=case == "gemma3")
    return out


def test_every_span_reconstructs_its_points(family):
    case, m = family["case"], family["m"]
    n, d, t = m.config.num_layers, m.config.hidden_size, len(IDS)
    spans = family["spans"]
    for span, lj in spans.items():
        assert lj.span == span and lj.jacobian.shape == (n, 3, d, t, d) and lj.jacobian.dtype == np.float64
        assert lj.relative_error.max() <= F64, f"{case} {span}: {lj.relative_error.max():.2e}"
        assert lj.inputs.shape == (n, 3, t, d)
    first, single, to_out = spans["from_input"], spans["single"], spans["to_output"]
    # layer 0's input is the embeddings: from the input and on its own, the same map
    np.testing.assert_allclose(single.jacobian[0], first.jacobian[0], atol=1e-12 * np.abs(first.jacobian[0]).max())
    np.testing.assert_array_equal(single.inputs[0, 0], first.embeddings)
    # to the output, every point's value is y, the final output; the last layer's own output is the final
    # norm's input, so its J is the frozen norm (diagonal, on the last position only) and its b is 0
    np.testing.assert_allclose(to_out.output, np.broadcast_to(first.output[-1, 0], to_out.output.shape), rtol=1e-14)
    last = to_out.jacobian[-1, 0]
    assert not last[:, :-1].any() and not to_out.bias[-1, 0].any()
    np.testing.assert_allclose(last[:, -1], np.diag(np.diag(last[:, -1])), atol=1e-15)
    # the MLP part only joins the stream: its J to the output is the layer's
    np.testing.assert_array_equal(to_out.jacobian[:, 2], to_out.jacobian[:, 0])
    c = m.config
    if not (c.qkv_bias or c.o_bias or c.mlp_bias):
        assert not first.bias.any() and not single.bias.any()


def test_heads_sum_to_the_attention_part(family):
    case, m = family["case"], family["m"]
    hj, lj = family["heads"], family["spans"]["from_input"]
    h, d, t = m.config.num_heads, m.config.hidden_size, len(IDS)
    assert hj.jacobian.shape == (h, d, t, d) and hj.layer == HEAD_LAYER
    attn = lj.jacobian[HEAD_LAYER, 1]
    np.testing.assert_allclose(hj.jacobian.sum(0), attn, atol=F64 * np.abs(attn).max(), err_msg=case)
    np.testing.assert_allclose(hj.bias.sum(0) + hj.o_bias, lj.bias[HEAD_LAYER, 1], atol=F64 * np.abs(attn).max())
    np.testing.assert_allclose(hj.output.sum(0) + hj.o_bias, lj.output[HEAD_LAYER, 1], rtol=1e-12, atol=1e-14)
    assert hj.relative_error.max() <= F64, f"{case}: per-head reconstruction {hj.relative_error.max():.2e}"
    if m.config.o_bias:
        assert np.abs(hj.o_bias).max() > 0
    else:
        assert not hj.o_bias.any()


def test_attribution_sums_to_the_logit_and_matches_numpy(family):
    case, m = family["case"], family["m"]
    at, logits = family["attribution"], family["logits"]
    n, h, t = m.config.num_layers, m.config.num_heads, len(IDS)
    assert at.contributions.shape == (n, h + 1, t) and at.bias.shape == (n, h + 1) and at.embedding.shape == (t,)
    assert at.target == int(np.argmax(logits)) and at.contrast is None
    assert abs(at.logit - logits[at.target]) <= 1e-12 * abs(logits[at.target])
    assert at.error <= F64, f"{case}: attribution error {at.error:.2e}"
    assert not at.embedding[:-1].any()  # only the last embedding has a direct path
    # causality per component: nothing after the last position, and every position reaches the logit
    c = m.config
    if not (c.qkv_bias or c.o_bias or c.mlp_bias):
        assert at.bias_part == 0.0
    contrast = family["contrast"]
    assert contrast.contrast is not None and contrast.error <= F64
    assert abs(contrast.logit - (logits[contrast.target] - logits[contrast.contrast])) <= 1e-12 * np.abs(logits).max()
    with jax.enable_x64(True):
        for got in (at, contrast):
            ref, emb, bias, logit = numpy_attribution(m.decoder, IDS, got.target, got.contrast)
            scale = np.abs(ref).max()
            np.testing.assert_allclose(got.contributions, ref, atol=1e-11 * scale, err_msg=case)
            np.testing.assert_allclose(got.embedding, emb, atol=1e-11 * scale)
            assert abs(got.bias_part - bias) <= 1e-11 * scale and abs(got.logit - logit) <= 1e-10 * abs(logit)


def test_linearity_certificates(family):
    case, cert = family["case"], family["certificate"]
    assert cert["second_derivative"] == 0.0, case  # no second-order path is left for autodiff to find
    assert cert["jacobian_change"] <= 1e-13, f"{case}: {cert}"  # J at the frozen gates, after a move of |x|
    assert cert["jacobian_change_gates_recomputed"] > 1e-3, case  # ... which is no small move
    assert cert["step_residual"] <= 1e-13 and cert["replay_output_difference"] <= 1e-14, f"{case}: {cert}"


# ----------------------------------------------------------------------------- on a few families


def test_certificate_controls(tmp_path_factory):
    """The control the certificates are measured against: the ordinary map is far from linear."""
    family = analysed("gemma3", tmp_path_factory)  # on one family (its program is the costly one)
    cert = family["certificate"]
    assert cert["second_derivative"] == 0.0 and cert["second_derivative_ordinary"] > 1e-2


def test_ordinary_jacobian_is_jacrev_of_the_plain_model(tmp_path_factory):
    family = analysed("qwen2", tmp_path_factory)  # on one family (the ordinary Jacobian's program is large)
    m = family["m"]
    with jax.enable_x64(True):
        ordinary = lb.detached_jacobian(m, IDS, detach=False)
        x = m.embed(IDS)
        ref, y = jax.jit(lambda x: (jax.jacrev(lambda x: m.decoder.forward(x)[-1])(x), m.decoder.forward(x)[-1]))(x)
    assert not ordinary.detached and not ordinary.bias.any()
    np.testing.assert_allclose(ordinary.jacobian, ref, atol=1e-13 * np.abs(ref).max())
    np.testing.assert_array_equal(ordinary.output, y)
    assert ordinary.relative_error > 1e-3  # the ordinary Jacobian does not rebuild y


def test_ragged_batches_match_one_at_a_time(tmp_path_factory):
    """Prompts of 5, 11 and 16 tokens padded into one vmapped batch (keys masked): each prompt's J is
    the prompt's own; the padding's columns are exactly zero."""
    family = analysed("mistral", tmp_path_factory)  # on one family, with a sliding window shorter than the prompts
    m = family["m"]
    prompts = [PROMPTS[1], IDS, PROMPTS[3]]
    with jax.enable_x64(True):
        many = lb.detached_jacobians(m, prompts)
        short = lb.detached_jacobian(m, PROMPTS[1])
    assert many.jacobian.shape == (3, 64, 16, 64) and many.lengths.tolist() == [5, 11, 16]
    assert many.relative_error.max() <= F64
    for b, ids in enumerate(prompts):
        assert not many.jacobian[b, :, len(ids):].any() and not many.embeddings[b, len(ids):].any()
        assert many.prompt(b).jacobian.shape == (64, len(ids), 64)
    final = family["spans"]["from_input"]  # its last layer's output is the final point, one at a time
    for one, mine in ((short.jacobian, many.prompt(0).jacobian), (final.jacobian[-1, 0], many.prompt(1).jacobian)):
        np.testing.assert_allclose(mine, one, atol=1e-13 * np.abs(one).max())
    np.testing.assert_allclose(many.prompt(1).output, final.output[-1, 0], rtol=1e-14)


def test_detached_lens(tmp_path_factory):
    """The lens is the mean of the prompts' last-token blocks; one prompt alone is its layer Jacobians' block,
    from the input and to the output; prompts of different lengths batch like one at a time."""
    family = analysed("qwen2", tmp_path_factory)  # one family (each lens shape compiles a program)
    m = family["m"]
    with jax.enable_x64(True):
        for span in ("from_input", "to_output"):
            lens = lb.detached_lens(m, [IDS], span=span)
            block = family["spans"][span].jacobian[:, 0, :, -1, :]
            np.testing.assert_allclose(lens.maps, block, atol=1e-12 * np.abs(block).max(), err_msg=span)
            assert not lens.spread.any() and lens.count == 1 and np.all(lens.relative_spread == 0)
        prompts = [IDS, PROMPTS[3]]
        ragged = lb.detached_lens(m, prompts, batch=2)
        single = [lb.detached_lens(m, [p]) for p in prompts]
        decoded = lb.lens_decode(m, ragged, IDS, top=3)
    mean = (single[0].maps + single[1].maps) / 2
    np.testing.assert_allclose(ragged.maps, mean, atol=1e-12 * np.abs(mean).max())
    np.testing.assert_allclose(ragged.spread, np.abs(single[0].maps - single[1].maps) / 2, atol=1e-12)
    assert ragged.lengths.tolist() == [11, 16] and ragged.agreement.shape == (3,)
    assert np.all((0 <= ragged.agreement) & (ragged.agreement <= 1))
    assert len(decoded["lens_tokens"]) == 3 and all(len(row) == 3 for row in decoded["logit_lens_tokens"])


def test_gap_importance_path_and_graph(tmp_path_factory):
    family = analysed("gemma2", tmp_path_factory)  # one family
    m = family["m"]
    with jax.enable_x64(True):
        gap = lb.detachment_gap(m, IDS)
        lj = family["spans"]["from_input"]
        path = lb.singular_path(m, lj, top=4)
    assert gap["gap"].shape == (3, 3) and np.all(gap["relative"] > 1e-3)  # the gates do hide derivatives
    assert gap["detached_error"].max() <= F64 and gap["ordinary_error"].min() > 1e-6
    imp = lb.token_importance(lj)
    assert imp["jacobian_norm"].shape == (3, 3, len(IDS))
    np.testing.assert_allclose(imp["contribution_share"].sum(-1), 1.0)
    np.testing.assert_allclose(imp["jacobian_norm"][1, 0], np.linalg.norm(lj.jacobian[1, 0], axis=(0, 2)))
    assert path["u"].shape == (3, 64) and len(path["tokens"]) == 3 and abs(path["overlap_last"][-1] - 1) < 1e-12
    assert np.all(path["sigma"] > 0)
    np.testing.assert_allclose(path["sigma"][-1], np.linalg.svd(lj.jacobian[-1, 0].reshape(64, -1), compute_uv=False)[0])
    at = family["attribution"]
    graph = at.to_graph(share=0.9)
    text = json.dumps(graph)
    assert json.loads(text)["summary"]["kept_share"] >= 0.9
    kinds = {n["kind"] for n in graph["nodes"]}
    assert {"logit", "embedding", "head", "mlp"} <= kinds
    smaller = at.to_graph(share=0.3)
    assert smaller["summary"]["kept_edges"] < graph["summary"]["kept_edges"] < graph["summary"]["all_edges"]
    full = at.to_graph(share=1.0)  # every edge that carries anything (the zero ones are never needed)
    nonzero = np.count_nonzero(at.contributions) + np.count_nonzero(at.embedding)
    assert full["summary"]["kept_edges"] == nonzero and abs(full["summary"]["kept_share"] - 1) < 1e-12
    np.testing.assert_allclose(sum(e["weight"] for e in full["edges"] if e["kind"] != "component"),
                               at.contributions.sum() + at.embedding.sum())
    with pytest.raises(lb.BridgeError, match="share"):
        at.to_graph(share=0)
    with pytest.raises(lb.BridgeError, match="outside"), jax.enable_x64(True):
        lb.attribution(m, IDS, target=10**6)
