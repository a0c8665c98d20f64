"""Collect loaded tensors into a `Decoder`: shapes checked, layers stacked, dtype converted.

Both loaders hand every tensor they map to a `ParamCollector` under this port's parameter name
(and layer index), or, for a fused tensor, under the tuple of parameters whose rows it stacks
(see `_names`). The collector knows from the config which parameters the model must have and
their shapes, so a checkpoint that does not match its config — a missing layer, a wrong shape, an
extra tensor — is an error rather than a silently wrong model; and it knows each parameter's row
count, so it is the one place where a fused tensor is cut into its parts.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..errors import WeightFileError
from ..model import Decoder, ModelConfig


def expected_shapes(c: ModelConfig) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """(global parameters, per-layer parameters) → shape, for the parameters this config needs."""
    d, f, k = c.hidden_size, c.intermediate_size, c.head_dim
    hk, gk = c.num_heads * k, c.num_kv_heads * k
    top = {"embed": (c.vocab_size, d), "final_norm": (d,)}
    if not c.tie_embeddings:
        top["unembed"] = (c.vocab_size, d)
    layer = {"q": (hk, d), "k": (gk, d), "v": (gk, d), "o": (d, hk), "gate": (f, d), "up": (f, d), "down": (d, f)}
    if c.pre_norms:
        layer |= {"attn_norm": (d,), "mlp_norm": (d,)}
    if c.post_norms:
        layer |= {"post_attn_norm": (d,), "post_mlp_norm": (d,)}
    if c.qk_norm == "head":
        layer |= {"q_norm": (k,), "k_norm": (k,)}
    elif c.qk_norm == "projection":
        layer |= {"q_norm": (hk,), "k_norm": (gk,)}
    if c.qkv_bias:
        layer |= {"q_bias": (hk,), "k_bias": (gk,), "v_bias": (gk,)}
    if c.o_bias:
        layer |= {"o_bias": (d,)}
    if c.mlp_bias:
        layer |= {"gate_bias": (f,), "up_bias": (f,), "down_bias": (d,)}
    return top, layer


class ParamCollector:
    """Receives tensors one by one and writes them into preallocated, stacked buffers.

    `put(name, array, layer=i)` converts to the target dtype while copying (one pass, no
    intermediate arrays); `decoder()` checks that nothing is missing and builds the model.
    """

    def __init__(self, config: ModelConfig, dtype, source: str):
        self.config, self.dtype, self.source = config, np.dtype(dtype), source
        self.top_shapes, self.layer_shapes = expected_shapes(config)
        self.top: dict[str, np.ndarray] = {}
        self.layers = {n: np.empty((config.num_layers, *s), self.dtype) for n, s in self.layer_shapes.items()}
        self.filled = {n: np.zeros(config.num_layers, bool) for n in self.layer_shapes}

    def put(self, name: str | tuple[str, ...], array: np.ndarray, layer: int | None = None, *, tensor: str = ""):
        """Store `array` as parameter `name` (of `layer`, for per-layer ones), converted to the dtype.

        A tuple `name` is a fused tensor: its rows are those parameters' rows, stacked in order.
        """
        if isinstance(name, tuple):
            self._put_fused(name, array, layer, tensor=tensor)
            return
        what = tensor or name
        if layer is None:
            shape = self.top_shapes.get(name)
        else:
            shape = self.layer_shapes.get(name)
            if not 0 <= layer < self.config.num_layers:
                raise WeightFileError(f"{self.source}: tensor {what} is for layer {layer}, but the config has {self.config.num_layers} layers")
        if shape is None:
            raise WeightFileError(f"{self.source}: unexpected tensor {what} for a {self.config.family} model with this config")
        if tuple(array.shape) != shape:
            raise WeightFileError(f"{self.source}: tensor {what} has shape {tuple(array.shape)}, the config implies {shape}")
        if layer is None:
            self.top[name] = np.asarray(array, self.dtype)
        else:
            np.copyto(self.layers[name][layer], array, casting="unsafe")
            self.filled[name][layer] = True

    def _put_fused(self, parts: tuple[str, ...], array: np.ndarray, layer: int | None, *, tensor: str):
        what = tensor or "+".join(parts)
        shapes = [self.layer_shapes.get(p) for p in parts]
        if layer is None or None in shapes:
            raise WeightFileError(f"{self.source}: unexpected fused tensor {what} for a {self.config.family} model")
        bounds = np.cumsum([0] + [shape[0] for shape in shapes])
        if bounds[-1] != array.shape[0]:
            raise WeightFileError(f"{self.source}: fused tensor {what} has {array.shape[0]} rows, expected {bounds[-1]}")
        for part, start, stop in zip(parts, bounds[:-1], bounds[1:]):
            self.put(part, array[start:stop], layer, tensor=what)

    def decoder(self) -> Decoder:
        missing = [n for n in self.top_shapes if n not in self.top]
        missing += [f"{n} (layer {int(np.argmin(done))})" for n, done in self.filled.items() if not done.all()]
        if missing:
            raise WeightFileError(f"{self.source}: missing weights: {', '.join(missing[:5])}")
        # Hand each buffer to JAX and drop it at once, so that the peak memory is the model plus
        # one buffer rather than two copies of the model.
        def move(store, name):
            return jnp.asarray(store.pop(name), self.dtype)

        layers = {n: move(self.layers, n) for n in list(self.layers)}
        top = {n: move(self.top, n) for n in list(self.top)}
        return Decoder(self.config, embed=top["embed"], final_norm=top["final_norm"],
                       unembed=top.get("unembed"), layers=layers)
