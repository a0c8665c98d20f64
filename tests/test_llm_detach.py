"""Where `detach=True` stops gradients — exactly the places DESIGN.md names, and nowhere else."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import llm_bridge as lb
from llm_bridge.model._layers import gated_mlp, rms_norm
from llm_bridge.weights._params import expected_shapes


def random_decoder(config: lb.ModelConfig, seed=0) -> lb.Decoder:
    """A Decoder with random weights of the shapes `config` implies."""
    top, layer = expected_shapes(config)
    rng = np.random.default_rng(seed)

    def draw(shape):  # numpy, not jax.random: no compilation per shape
        w = rng.standard_normal(shape, np.float32) / np.sqrt(shape[-1]) + (1.0 if len(shape) == 1 else 0.0)
        return jnp.asarray(w)

    layers = {n: draw((config.num_layers, *s)) for n, s in layer.items()}
    return lb.Decoder(config, embed=draw(top["embed"]), final_norm=draw(top["final_norm"]),
                      unembed=draw(top["unembed"]) if "unembed" in top else None, layers=layers)


def make_config(**changes):
    base = dict(
        family="test", vocab_size=32, hidden_size=16, intermediate_size=24, num_layers=2, num_heads=4,
        num_kv_heads=2, head_dim=8, max_position_embeddings=32, norm_eps=1e-6, query_scale=8**-0.5,
        ropes=(lb.RopeSpec(theta=100.0, rotary_dim=8),), layer_ropes=(0, 0), layer_windows=(3, None),
    )
    return lb.ModelConfig(**(base | changes))


CONFIGS = {
    "llama-like": make_config(qkv_bias=True),
    "gemma3-like": make_config(post_norms=True, qk_norm="head", norm_offset=1.0, activation="gelu_tanh",
                               attn_softcap=5.0, embed_scale=4.0, tie_embeddings=True),
    "olmo2-like": make_config(pre_norms=False, post_norms=True, qk_norm="projection"),
}


def test_rms_norm_detaches_the_normalizer_not_the_weight():
    rng = np.random.default_rng(1)
    x, w = (jnp.asarray(rng.standard_normal(5, np.float32)) for _ in range(2))
    scale = jax.lax.rsqrt(jnp.mean(x * x) + 1e-6)
    detached = jax.jacfwd(lambda x: rms_norm(x, w, eps=1e-6, detach=True))(x)
    np.testing.assert_allclose(detached, jnp.diag(scale * w), rtol=1e-6)  # a diagonal scaling
    full = jax.jacfwd(lambda x: rms_norm(x, w, eps=1e-6))(x)
    assert np.abs(full - detached).max() > 1e-2
    dw = jax.grad(lambda w: rms_norm(x, w, eps=1e-6, detach=True).sum())(w)
    np.testing.assert_allclose(dw, x * scale, rtol=1e-6)  # the weight keeps its gradient


def test_mlp_detaches_the_whole_gate_activation():
    rng = np.random.default_rng(3)
    x, gate, up, down = (jnp.asarray(rng.standard_normal(s, np.float32)) for s in [(6,), (9, 6), (9, 6), (6, 9)])
    act_gate = jax.nn.silu(gate @ x)
    jac = jax.jacfwd(lambda x: gated_mlp(x, gate, up, down, act="silu", detach=True))(x)
    np.testing.assert_allclose(jac, down @ (act_gate[:, None] * up), rtol=1e-5, atol=1e-6)
    dgate = jax.grad(lambda g: gated_mlp(x, g, up, down, act="silu", detach=True).sum())(gate)
    assert np.all(dgate == 0)
    dup = jax.grad(lambda u: gated_mlp(x, gate, u, down, act="silu", detach=True).sum())(up)
    assert np.abs(dup).max() > 0


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gradients_stop_at_the_gates_only(name):
    """∂y/∂θ in detached mode: zero for exactly the weights that only feed the gates and the
    attention weights (W_q, W_k, their biases and norms, W_gate); non-zero for all others."""
    config = CONFIGS[name]
    dec = random_decoder(config)
    ids = jnp.arange(7) % config.vocab_size
    x = dec.embed(ids)

    def loss(dec, detach):
        return jnp.sum(dec.forward(x, detach=detach) ** 2)

    detached = jax.jit(jax.grad(loss), static_argnums=1)(dec, True).layers
    gate_only = {"q", "k", "q_bias", "k_bias", "q_norm", "k_norm", "gate"}
    for pname in dec.layers.arrays():
        g = np.asarray(getattr(detached, pname)[...])
        if pname in gate_only:
            assert np.all(g == 0), f"{name}: {pname} should get no gradient when detached"
        else:
            assert np.abs(g).max() > 0, f"{name}: {pname} should keep its gradient"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_detached_map_is_affine_in_the_embeddings(name):
    """With the gates frozen, y(x) = J x + b exactly: y(2x) - y(x) = J x, for every family shape."""
    config = CONFIGS[name]
    dec = random_decoder(config)
    x = dec.embed(jnp.arange(9) % config.vocab_size)
    dx = jnp.asarray(1e-3 * np.random.default_rng(5).standard_normal(x.shape, np.float32))

    @jax.jit
    def jacobian_and_products(x, dx):
        def f(x):
            return dec.forward(x, detach=True)[-1]
        return f(x), jax.jacrev(f)(x), jax.jvp(f, (x,), (dx,))[1]

    y, jac, jvp = jacobian_and_products(x, dx)  # jac: (d, T, d)
    bias = y - jnp.einsum("itj,tj->i", jac, x)
    if not (config.qkv_bias or config.o_bias or config.mlp_bias):
        np.testing.assert_allclose(bias, 0, atol=1e-5 * float(jnp.abs(y).max()))
    else:
        assert float(jnp.abs(bias).max()) > 1e-3  # the biases do reach the output
    # the gates are fixed at x, so the linear part must predict a perturbed input too
    np.testing.assert_allclose(jvp, jnp.einsum("itj,tj->i", jac, dx), rtol=1e-4, atol=1e-7)
