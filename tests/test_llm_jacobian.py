"""The detached Jacobian of every ported family: reconstruction, autograd parity, the output's bits.

For each tiny random model (tests/llm_helpers.py) on a 16-token prompt that outruns every
sliding window:

- float32: ‖y − (Σ J_i x_i + b)‖ / ‖y‖ ≤ 2e-6, and J equals the Jacobian PyTorch autograd gives
  for the transformers model with the same gates detached (`llm_bridge.torch_reference`) to
  1e-4 relative — while the undetached autograd Jacobian is far from it;
- float64: the same reconstruction to 1e-13;
- `output` is the ordinary forward pass's value, bit for bit, and detaching does not change it;
- the bias b is exactly zero without biases and carries the V/O/MLP biases where they exist.

SmolLM2 (real weights, 30 layers) gets the same reconstruction bounds on a short prompt.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from llm_helpers import CASES, PROMPTS, make_tiny

import llm_bridge as lb
from llm_bridge.torch_reference import detached_output, torch_detached_jacobian

IDS = PROMPTS[3]


@pytest.fixture(scope="module", params=sorted(CASES))
def family(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    return request.param, make_tiny(request.param, folder), folder


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


@jax.jit
def _forwards(dec, x):
    return dec.forward(x)[-1], dec.forward(x, detach=True)[-1]


def test_float32_reconstruction_and_autograd_parity(family):
    import torch

    case, reference, folder = family
    m = lb.load(folder)
    dj = lb.detached_jacobian(m, IDS)
    d, t = m.config.hidden_size, len(IDS)
    assert dj.jacobian.shape == (d, t, d) and dj.embeddings.shape == (t, d) and dj.output.shape == (d,)
    assert dj.jacobian.dtype == np.float32
    assert dj.relative_error <= 2e-6, f"{case}: relative error {dj.relative_error:.2e}"
    np.testing.assert_allclose(dj.reconstruction, np.einsum("atb,tb->a", dj.jacobian, dj.embeddings) + dj.bias,
                               rtol=1e-5, atol=1e-6)

    plain, detached = _forwards(m.decoder, jnp.asarray(dj.embeddings))
    np.testing.assert_array_equal(dj.output, plain)  # the model's own output, bit for bit
    np.testing.assert_array_equal(detached, plain)  # detaching changes gradients, not values

    c = m.config
    if c.qkv_bias or c.o_bias or c.mlp_bias:
        assert np.linalg.norm(dj.bias) > 1e-2 * np.linalg.norm(dj.output), f"{case}: biases lost"
    else:
        assert not dj.bias.any(), f"{case}: a bias-free model must have b = 0 exactly"

    ref = torch_detached_jacobian(reference, dj.embeddings)
    assert ref.shape == dj.jacobian.shape
    assert _rel(dj.jacobian, ref) < 1e-4, f"{case}: J differs from autograd's by {_rel(dj.jacobian, ref):.2e}"
    undetached = torch.autograd.functional.jacobian(detached_output(reference), torch.tensor(dj.embeddings),
                                                    vectorize=True).numpy()
    assert _rel(dj.jacobian, undetached) > 1e-2, f"{case}: the gates made no difference"


def test_float64_reconstruction(family, x64):
    case, _, folder = family
    m = lb.load(folder, dtype="float64")
    dj = lb.detached_jacobian(m, IDS)
    assert dj.jacobian.dtype == np.float64
    assert dj.relative_error <= 1e-13, f"{case}: relative error {dj.relative_error:.2e}"


@pytest.mark.slow
@pytest.mark.parametrize("dtype, bound", [("float32", 2e-6), ("float64", 1e-13)])
def test_smollm2_reconstruction(dtype, bound):
    with jax.enable_x64(dtype == "float64"):
        m = lb.load("smollm2", dtype=dtype)
        ids = m.tokenize("The capital of France is")
        dj = lb.detached_jacobian(m, ids)
        assert dj.jacobian.shape == (576, len(ids), 576)
        assert dj.relative_error <= bound, f"SmolLM2 {dtype}: relative error {dj.relative_error:.2e}"
        assert not dj.bias.any()
        assert int(np.argmax(m.decoder.unembed(jnp.asarray(dj.reconstruction, m.dtype)))) == \
            int(np.argmax(m.logits(ids)[-1]))  # the linear map predicts the model's next token


def test_bad_points_are_clear_errors(tmp_path):
    make_tiny("llama", tmp_path)
    m = lb.load(tmp_path)
    for kwargs, words in [({"layer": 3}, "outside 0..2"), ({"layer": 0, "component": "ffn"}, "not one of attn, mlp"),
                          ({"component": "attn"}, "needs a layer"), ({"mode": "sideways"}, "mode")]:
        with pytest.raises(lb.BridgeError, match=words):
            lb.detached_jacobian(m, PROMPTS[1], **kwargs)
    with pytest.raises(lb.PromptError, match="empty"):
        lb.detached_jacobian(m, np.array([], np.int32))
