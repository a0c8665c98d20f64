"""Summaries of singular spectra, shared by the RSVP tiles and the LLM side.

For singular values σ_1 ≥ σ_2 ≥ … ≥ σ_n ≥ 0 (any leading batch axes):

| key                   | definition                                                        |
|-----------------------|-------------------------------------------------------------------|
| `sigma_max`           | σ_1                                                               |
| `normalized`          | σ_i / σ_1                                                         |
| `cumulative_energy`   | Σ_{j≤i} σ_j² / Σ_j σ_j²                                           |
| `stable_rank`         | ‖J‖_F² / ‖J‖_2² = Σσ² / σ_1²                                      |
| `effective_rank`      | exp(−Σ p_i log p_i), p_i = σ_i / Σσ (Roy & Vetterli 2007)          |
| `participation_ratio` | (Σσ²)² / Σσ⁴                                                      |
| `k90`, `k99`          | the fewest modes holding 90 % / 99 % of Σσ²                        |

A zero spectrum has every rank 0. Each of `stable_rank`, `effective_rank` and
`participation_ratio` is 1 for a rank-one matrix and n for n equal singular values.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

KEYS = ("sigma_max", "normalized", "cumulative_energy", "stable_rank", "effective_rank",
        "participation_ratio", "k90", "k99")
SCALAR_KEYS = ("sigma_max", "stable_rank", "effective_rank", "participation_ratio", "k90", "k99")


def summarize(singular_values) -> dict:
    """The summaries of the module table, batched over leading axes (sorted descending first)."""
    s = jnp.asarray(singular_values)
    if s.ndim == 0 or s.shape[-1] == 0:
        raise ValueError(f"summarize needs at least one singular value, got shape {s.shape}")
    s = -jnp.sort(-jnp.abs(s), axis=-1)
    s1 = s[..., 0]
    safe = lambda a: jnp.where(a > 0, a, 1.0)  # noqa: E731
    e = s**2
    total = jnp.sum(e, axis=-1)
    cumulative = jnp.cumsum(e, axis=-1) / safe(total)[..., None]
    p = s / safe(jnp.sum(s, axis=-1))[..., None]
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)
    nonzero = total > 0
    # k: the first index whose cumulative energy reaches the level (with a little round-off slack).
    k = lambda level: jnp.where(nonzero, 1 + jnp.sum(cumulative < level - 1e-6, axis=-1), 0)  # noqa: E731
    return {
        "sigma_max": s1,
        "normalized": s / safe(s1)[..., None],
        "cumulative_energy": cumulative,
        "stable_rank": jnp.where(nonzero, total / safe(s1**2), 0.0),
        "effective_rank": jnp.where(nonzero, jnp.exp(entropy), 0.0),
        "participation_ratio": jnp.where(nonzero, total**2 / safe(jnp.sum(e**2, axis=-1)), 0.0),
        "k90": k(0.90),
        "k99": k(0.99),
    }


def to_json(summary: dict, spectra: bool = True) -> dict:
    """A summary as plain Python (lists and floats), for `summary.json`."""
    out = {}
    for key, value in summary.items():
        if not spectra and key in ("normalized", "cumulative_energy"):
            continue
        arr = np.asarray(value)
        out[key] = arr.item() if arr.ndim == 0 else arr.tolist()
    return out
