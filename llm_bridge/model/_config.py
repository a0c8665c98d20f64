"""`ModelConfig`: everything static about a ported decoder, in one frozen, hashable dataclass.

Both loaders (a Hugging Face folder and a GGUF file) translate their own configuration into this
one. It names what the forward pass does, not where the numbers came from: a Gemma model is a
Llama-shaped decoder with `norm_offset=1`, `embed_scale=√d`, GeGLU and sandwich norms; an OLMo-2
model has post-norms only and a QK-norm over the whole projection. Being hashable, it rides along
as static data through `jax.jit`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

#: Gate activations of the gated MLPs, by the name this port uses for them.
ACTIVATIONS = ("silu", "gelu", "gelu_tanh")


@dataclasses.dataclass(frozen=True)
class RopeSpec:
    r"""Rotary position embedding of one kind of layer.

    The inverse frequencies are $\omega_i = \theta^{-2i/r}$ for $i < r/2$, with $r$ =
    `rotary_dim` (the first `rotary_dim` dimensions of each head rotate; Phi-4-mini rotates
    three quarters of them), then rescaled by `scaling`:

    - `"default"`: unchanged;
    - `"linear"`: $\omega_i / \text{factor}$ (position interpolation);
    - `"llama3"`: Llama 3.1's band-wise rule: long wavelengths divided by `factor`, short ones
      kept, a smooth blend between (`low_freq_factor`, `high_freq_factor`,
      `original_max_position_embeddings`);
    - `"factors"`: $\omega_i / f_i$ with `freq_factors` given per frequency (llama.cpp stores
      Llama 3.1's rule this way, as a `rope_freqs` tensor).

    Rotation pairs dimension `j` with `j + r/2` ("rotate half", the Hugging Face layout).
    """

    theta: float
    rotary_dim: int
    scaling: str = "default"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192
    freq_factors: tuple[float, ...] | None = None

    def inv_freq(self, dtype=np.float32) -> np.ndarray:
        """The `rotary_dim / 2` inverse frequencies, computed in float64 and rounded to `dtype`."""
        r = self.rotary_dim
        inv = 1.0 / (self.theta ** (np.arange(0, r, 2, dtype=np.float64) / r))
        if self.scaling == "linear":
            inv = inv / self.factor
        elif self.scaling == "llama3":
            old = self.original_max_position_embeddings
            low_wavelen = old / self.low_freq_factor
            high_wavelen = old / self.high_freq_factor
            wavelen = 2 * math.pi / inv
            scaled = np.where(wavelen > low_wavelen, inv / self.factor, inv)
            smooth = (old / wavelen - self.low_freq_factor) / (self.high_freq_factor - self.low_freq_factor)
            blended = (1 - smooth) * scaled / self.factor + smooth * scaled
            medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
            inv = np.where(medium, blended, scaled)
        elif self.scaling == "factors":
            inv = inv / np.asarray(self.freq_factors, dtype=np.float64)
        elif self.scaling != "default":
            raise AssertionError(f"unknown RoPE scaling {self.scaling!r}")  # validated by the loaders
        return inv.astype(dtype)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The static description of a decoder. Built by the loaders; every field is validated there.

    Shapes: `d = hidden_size`, `f = intermediate_size`, `h = num_heads`, `g = num_kv_heads`
    (grouped-query attention when `g < h`), `k = head_dim`.

    Per-layer fields (`layer_windows`, `layer_ropes`) have one entry per layer: the sliding
    window of that layer's attention (`None` for global attention; a query at position `i` sees
    keys `j` with `i - window < j ≤ i`), and the index into `ropes` of its rotary embedding
    (Gemma 3's sliding layers use their own base frequency).
    """

    family: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    max_position_embeddings: int
    norm_eps: float
    activation: str = "silu"
    #: Gemma's RMSNorm multiplies by `(1 + w)`: the stored weight is an offset from one.
    norm_offset: float = 0.0
    #: RMSNorm before attention and before the MLP (all but OLMo-2).
    pre_norms: bool = True
    #: RMSNorm on the attention and MLP outputs before they join the residual (Gemma 2/3, OLMo-2).
    post_norms: bool = False
    #: None, "head" (per head, Qwen3 / Gemma 3) or "projection" (whole projection, OLMo-2).
    qk_norm: str | None = None
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    #: Multiplies q·k: head_dim**-0.5, or query_pre_attn_scalar**-0.5 for Gemma 2/3.
    query_scale: float = 1.0
    attn_softcap: float | None = None
    final_softcap: float | None = None
    #: Multiplies the token embeddings (√d for Gemma); None for none.
    embed_scale: float | None = None
    tie_embeddings: bool = False
    ropes: tuple[RopeSpec, ...] = ()
    layer_ropes: tuple[int, ...] = ()
    layer_windows: tuple[int | None, ...] = ()
    bos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = ()

    def __post_init__(self):
        if len(self.layer_ropes) != self.num_layers or len(self.layer_windows) != self.num_layers:
            raise AssertionError("layer_ropes and layer_windows need one entry per layer")
        if self.activation not in ACTIVATIONS:
            raise AssertionError(f"unknown activation {self.activation!r}")

    @property
    def kv_groups(self) -> int:
        """How many query heads share one key/value head."""
        return self.num_heads // self.num_kv_heads
