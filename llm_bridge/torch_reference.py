"""The reference method: a transformers PyTorch model with its gates detached, and autograd's Jacobian.

Golden's code edits copies of transformers' model files to put `.detach()` at the gates. Here the
same three places are detached on one loaded model, for the duration of a `with` block, and
everything is put back on exit — nothing installed is modified:

1. every `*RMSNorm` module's forward: the rsqrt normalizer is detached (the weight is not);
2. the family's `eager_attention_forward` (looked up by the attention module at call time):
   called with detached queries and keys, so the softmax weights carry no gradient;
3. every MLP's activation (`act_fn`, or Phi-3's `activation_fn`): its output is detached.

Used by the tests (the bridge's J against autograd's) and by `llm_bridge.bench` (speed against
`torch.autograd.functional.jacobian(vectorize=True)`). Needs torch and transformers, imported here
only; the model must use `attn_implementation="eager"`.
"""

from __future__ import annotations

import contextlib
import sys
import types

import numpy as np
import torch


class _DetachedActivation(torch.nn.Module):
    def __init__(self, act):
        super().__init__()
        self.act = act

    def forward(self, x):
        return self.act(x).detach()


def _detached_rms_forward(module, hidden_states):
    eps = getattr(module, "variance_epsilon", getattr(module, "eps", None))
    x = hidden_states.to(torch.float32)
    inv = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps).detach()
    weight = module.weight.float()
    if hasattr(module, "_norm"):  # Gemma's (1 + w) convention
        weight = 1.0 + weight
    return (x * inv * weight).to(hidden_states.dtype)


def _detached_attention(eager):
    def attention(module, query, key, value, *args, **kwargs):
        return eager(module, query.detach(), key.detach(), value, *args, **kwargs)

    return attention


@contextlib.contextmanager
def detached_gates(model: torch.nn.Module):
    """Within the block, `model`'s norms, attention weights and MLP gates pass no gradient."""
    undo = []
    try:
        for module in model.modules():
            name = type(module).__name__
            if name.endswith("RMSNorm"):
                module.forward = types.MethodType(_detached_rms_forward, module)
                undo.append(lambda m=module: delattr(m, "forward"))
            for attr in ("act_fn", "activation_fn"):
                act = getattr(module, attr, None)
                if isinstance(act, torch.nn.Module) and not isinstance(act, _DetachedActivation):
                    setattr(module, attr, _DetachedActivation(act))
                    undo.append(lambda m=module, a=attr, f=act: setattr(m, a, f))
            if name.endswith("Attention"):
                family = sys.modules[type(module).__module__]
                eager = getattr(family, "eager_attention_forward", None)
                if eager is not None and not getattr(eager, "_detached", False):
                    patched = _detached_attention(eager)
                    patched._detached = True
                    family.eager_attention_forward = patched
                    undo.append(lambda f=family, e=eager: setattr(f, "eager_attention_forward", e))
        yield model
    finally:
        for fn in reversed(undo):
            fn()


def detached_output(model: torch.nn.Module):
    """y(x): the last token's final-normed hidden state (d,) from input embeddings x (T, d)."""
    base = model.get_decoder() if hasattr(model, "get_decoder") else model.model

    def f(x):
        return base(inputs_embeds=x[None]).last_hidden_state[0, -1]

    return f


def torch_detached_jacobian(model: torch.nn.Module, x, *, vectorize: bool = True) -> np.ndarray:
    """autograd's detached Jacobian (d, T, d) of `model` at input embeddings x (T, d), as NumPy."""
    xt = torch.tensor(np.array(x)).to(next(model.parameters()).dtype)
    with detached_gates(model), torch.enable_grad():
        jac = torch.autograd.functional.jacobian(detached_output(model), xt, vectorize=vectorize)
    return jac.detach().numpy()
