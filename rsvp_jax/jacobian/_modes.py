"""What a tile's dominant modes are made of: SVD of tile blocks, energy shares, labels, tracking.

A singular vector w of a tile Jacobian is a field on the tile's cells (Q = b, or b + 2r for
the halo columns): w = (Φ, v_1..v_D, S), ‖w‖ = 1. Its energy splits into

```
e_Φ = Σ Φ²,   e_S = Σ S²,   e_v = Σ |v|² = e_drift + e_compressive + e_rotational
e_drift       = Qᴰ |v̄|²                               (the tile-mean flow: a uniform drift)
e_compressive = (e_v − e_drift) · a / (a + c),   a = Σ (∇·v)²
e_rotational  = (e_v − e_drift) · c / (a + c),   c = Σ |∇×v|²
```

with ∇·v and ∇×v the lattice's central differences (`lattice.divergence` / `curl`) taken on
the tile's interior cells only, so the tile is never wrapped onto itself (no periodicity is
assumed inside a tile). A flow whose divergence and curl both vanish there (a → 0, c → 0)
is split evenly. In 1D there is no rotation (c = 0). The shares sum to 1.

The label is the largest of e_Φ ("scalar sink/source"), e_drift + e_compressive
("compressive drift": potential flow, converging, diverging or translating), e_rotational
("vortex") and e_S ("entropy wave").
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..linalg import SingularTriplets, block_svd

SHARES = ("phi", "v_drift", "v_compressive", "v_rotational", "S")
LABELS = ("scalar sink/source", "compressive drift", "vortex", "entropy wave")


#: The blocks' SVD: one `SingularTriplets` per tile (vectors as rows), from `linalg.block_svd`.
TileSVD = SingularTriplets


def tile_svd(J, k: int = 1, chunk: int = 256, method: str = "auto") -> SingularTriplets:
    """SVD of every tile block J (*G, m, n): all singular values, the top-k vectors as rows
    `U` (*G, k, m), `V` (*G, k, n). See `rsvp_jax.linalg.block_svd` for the routes."""
    return block_svd(J, k=k, chunk=chunk, method=method)


# ---- make-up ---------------------------------------------------------------------------------


def _interior_derivative(f, d: int, D: int):
    """(f_{i+1} − f_{i−1}) / 2 along cell axis d, on the cells interior in every axis (h = 1)."""
    inner = [slice(1, -1)] * D
    plus, minus = list(inner), list(inner)
    plus[d], minus[d] = slice(2, None), slice(None, -2)
    return 0.5 * (f[(Ellipsis, *plus)] - f[(Ellipsis, *minus)])


def mode_makeup(w, cells) -> dict:
    """The energy shares (module docstring) of mode vectors w (..., C·Πcells), C = D + 2.

    Returns a dict with one array (...,) per name in `SHARES`; they sum to ‖w‖².
    """
    cells = tuple(int(q) for q in cells)
    D = len(cells)
    w = jnp.asarray(w)
    fields = w.reshape(w.shape[:-1] + (D + 2,) + cells)
    axes = tuple(range(-D, 0))
    comp = -D - 1
    phi, S = jnp.take(fields, 0, axis=comp), jnp.take(fields, D + 1, axis=comp)
    v = jax.lax.slice_in_dim(fields, 1, 1 + D, axis=fields.ndim + comp)
    e_phi, e_S = jnp.sum(phi**2, axis=axes), jnp.sum(S**2, axis=axes)
    e_v = jnp.sum(v**2, axis=(comp, *axes))
    mean = jnp.mean(v, axis=axes)  # (..., D)
    e_drift = math.prod(cells) * jnp.sum(mean**2, axis=-1)
    e_fluct = jnp.maximum(e_v - e_drift, 0.0)
    if min(cells) >= 3:
        dv = [[_interior_derivative(jnp.take(v, i, axis=comp), d, D) for d in range(D)] for i in range(D)]
        div = sum(dv[d][d] for d in range(D))
        a = jnp.sum(div**2, axis=axes)
        if D == 1:
            c = jnp.zeros_like(a)
        elif D == 2:
            c = jnp.sum((dv[1][0] - dv[0][1]) ** 2, axis=axes)
        else:
            c = sum(jnp.sum((dv[i][j] - dv[j][i]) ** 2, axis=axes) for i, j in ((2, 1), (0, 2), (1, 0)))
        total = a + c
        frac = jnp.where(total > 0, a / jnp.where(total > 0, total, 1.0), 0.5)
    else:  # a tile too small to have interior cells: no derivative to split by
        frac = jnp.full_like(e_v, 0.5)
    return {
        "phi": e_phi,
        "v_drift": e_drift,
        "v_compressive": e_fluct * frac,
        "v_rotational": e_fluct * (1.0 - frac),
        "S": e_S,
    }


def shares_array(makeup: dict):
    """The shares as one array (..., len(SHARES)), normalised to sum to 1."""
    arr = jnp.stack([makeup[k] for k in SHARES], axis=-1)
    total = jnp.sum(arr, axis=-1, keepdims=True)
    return arr / jnp.where(total > 0, total, 1.0)


def mode_labels(shares):
    """Label codes (indices into `LABELS`) from shares (..., len(SHARES))."""
    shares = jnp.asarray(shares)
    scores = jnp.stack([shares[..., 0], shares[..., 1] + shares[..., 2], shares[..., 3], shares[..., 4]], axis=-1)
    return jnp.argmax(scores, axis=-1)


def label_names(codes) -> np.ndarray:
    """Label codes → their names, as a NumPy array of strings."""
    return np.asarray(LABELS, dtype=object)[np.asarray(codes)]


# ---- tracking modes between times ------------------------------------------------------------


def match_modes(V_prev, V_next):
    """Greedy matching of the top-k modes of two times by overlap |⟨v_i(t), v_j(t′)⟩|.

    V_prev, V_next: (..., k, n) orthonormal rows. Returns `(match, overlap)`, both (..., k):
    mode i at the earlier time continues as mode `match[i]`, with overlap `overlap[i]` ∈ [0, 1].
    Pairs are taken in order of decreasing overlap, each mode used once.
    """
    M = np.abs(np.einsum("...in,...jn->...ij", np.asarray(V_prev), np.asarray(V_next)))
    batch, k = M.shape[:-2], M.shape[-1]
    M = M.reshape((-1, k, k)).copy()
    match = np.zeros((M.shape[0], k), int)
    overlap = np.zeros((M.shape[0], k), M.dtype)
    rows = np.arange(M.shape[0])
    work = M.copy()
    for _ in range(k):
        flat = work.reshape(work.shape[0], -1).argmax(axis=1)
        i, j = np.divmod(flat, k)
        match[rows, i] = j
        overlap[rows, i] = M[rows, i, j]
        work[rows, i, :] = -1.0
        work[rows, :, j] = -1.0
    return match.reshape(batch + (k,)), overlap.reshape(batch + (k,))


__all__ = ["TileSVD", "tile_svd", "mode_makeup", "shares_array", "mode_labels", "label_names", "match_modes",
           "SHARES", "LABELS"]
