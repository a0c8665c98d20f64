r"""Singular triplets — one type and one sign rule for every SVD the project computes.

A linear map A with $A v_i = \sigma_i u_i$, $A^\top u_i = \sigma_i v_i$, $\sigma_1 \ge \sigma_2 \ge \dots$:
the tile blocks, the whole lattice's k-step map, the propagator over a horizon, the LLM's
detached Jacobian. Vectors are stored as **rows**, shaped like the map's output and input
(a lattice vector is (C, *N), a token direction (d,)).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class SingularTriplets:
    """The leading singular triplets of a (batch of) linear map(s).

    - `sigma` (..., p): singular values, descending; p ≥ k (a dense SVD may keep every value and
      the vectors of the top k only).
    - `U` (..., k, *out), `V` (..., k, *in): unit left / right singular vectors, signed by
      `align_signs`.
    - `residual` (..., k) or None: max(‖A v_i − σ_i u_i‖, ‖Aᵀu_i − σ_i v_i‖) where computed
      (matrix-free methods), so convergence is visible.
    """

    sigma: jax.Array
    U: jax.Array
    V: jax.Array
    residual: jax.Array | None = None

    @property
    def k(self) -> int:
        """How many triplets carry vectors."""
        return int(self.U.shape[len(self.sigma.shape) - 1])


jax.tree_util.register_dataclass(SingularTriplets, data_fields=["sigma", "U", "V", "residual"], meta_fields=[])


def align_signs(U, V, reference=None, *, vector_ndim: int = 1, np_module=jnp):
    """Fix the sign of each pair (u_i, v_i), flipping both together (the SVD is unchanged).

    The rule: with a `reference` output (e.g. the LLM's final state y, shaped like one u_i),
    ⟨reference, u_i⟩ ≥ 0, so a mode points along what the map produced; otherwise the
    largest-magnitude entry of v_i is positive. `U`, `V` are stacks of rows (..., k, *vec) whose
    last `vector_ndim` axes (of U; V may differ in rank) are one vector; `np_module` is `jnp` or
    `numpy`.
    """
    xp = np_module
    lead = U.ndim - vector_ndim  # axes of U before its vectors: (..., k)
    if reference is not None:
        ref = xp.asarray(reference).reshape((1,) * (lead - 1) + (1,) + U.shape[lead:])
        score = xp.sum(U * ref, axis=tuple(range(lead, U.ndim)))
    else:
        flat = V.reshape(V.shape[:lead] + (-1,))
        idx = xp.argmax(xp.abs(flat), axis=-1)
        score = xp.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    sign = xp.where(score < 0, -1.0, 1.0).astype(U.dtype)
    return U * sign.reshape(sign.shape + (1,) * (U.ndim - lead)), V * sign.reshape(sign.shape + (1,) * (V.ndim - lead))


__all__ = ["SingularTriplets", "align_signs"]
