"""SmolLM2 (real weights, 30 layers, 9 heads, float32): the spans, per-head sums and exact attribution.

The same identities as tests/test_llm_attribution.py checks on every family's tiny model in
float64, here at the float32 bounds of the detached Jacobian on the real model.
"""

import numpy as np
import pytest

import llm_bridge as lb

PROMPT = "The capital of France is"
LAYERS = [0, 14, 29]


@pytest.fixture(scope="module")
def smol():
    m = lb.load("smollm2")
    return m, m.tokenize(PROMPT)


@pytest.mark.slow
def test_smollm2_spans_reconstruct(smol):
    m, ids = smol
    for span in lb.SPANS:
        lj = lb.layer_jacobians(m, ids, layers=LAYERS, span=span)
        assert lj.jacobian.shape == (3, 3, 576, len(ids), 576)
        assert lj.relative_error.max() <= 2e-6, f"{span}: {lj.relative_error.max():.2e}"


@pytest.mark.slow
def test_smollm2_heads_and_attribution(smol):
    m, ids = smol
    layer = 14
    hj = lb.head_jacobians(m, ids, layer)
    attn = lb.layer_jacobians(m, ids, layers=[layer], parts=("attn",)).jacobian[0, 0]
    assert hj.jacobian.shape == (9, 576, len(ids), 576)
    np.testing.assert_allclose(hj.jacobian.sum(0), attn, atol=1e-5 * np.abs(attn).max())
    assert hj.relative_error.max() <= 2e-5  # a head's share is a fraction of the part: its own error is larger
    att = lb.attribution(m, ids)
    assert att.target_text == " Paris" and att.contributions.shape == (30, 10, len(ids))
    assert att.bias_part == 0.0 and att.error <= 2e-6, att.error
    assert abs(att.total - att.logit) <= 1e-5 * abs(att.logit)
    diff = lb.attribution(m, ids, contrast=" London")
    assert diff.contrast_text == " London" and diff.logit > 0 and diff.error <= 2e-6
    graph = att.to_graph(share=0.9)
    assert graph["summary"]["kept_share"] >= 0.9 and graph["summary"]["kept_edges"] < graph["summary"]["all_edges"]
