"""The TARTAN view: every tile's Jacobian, its spectrum, its dominant modes and their labels.

`analyze_tiles` runs the whole chain at one state:

```
J_T = ∂F(x)|_T / ∂x|_T  →  σ(J_T), u_1..u_k, v_1..v_k  →  spectra.summarize(σ)  →  make-up, label
```

and `analyze_trajectory` repeats it at every snapshot of a run, following each tile's top k
modes from one snapshot to the next by their overlap (`_modes.match_modes`). The label of
a tile is that of its top *input* direction v_1 (the perturbation the tile amplifies most,
the seed's "most effective perturbation"); the make-up of the top *output* direction u_1
(what that perturbation becomes) is kept beside it.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

from .. import spectra
from ..progress import Progress
from ..linalg import block_eigenvalues
from ._modes import LABELS, SHARES, TileSVD, match_modes, mode_labels, mode_makeup, shares_array, tile_svd
from ._tiles import halo_radius, tile_jacobians, tile_shape


@dataclasses.dataclass(frozen=True)
class TileAnalysis:
    """The per-tile results at one state; every array has the tile grid (*G) as leading axes.

    - `sigma` (*G, n): all singular values of each tile Jacobian, descending.
    - `summary`: `spectra.summarize(sigma)` (scalars per tile: `sigma_max`, `stable_rank`,
      `effective_rank`, `participation_ratio`, `k90`, `k99`; and the normalised spectra).
    - `svd`: the top-k singular vectors (`TileSVD`; `V` on the tile or, with a halo, the padded tile).
    - `input_shares`, `output_shares` (*G, 5): make-up of v_1 and u_1 in the order of `SHARES`.
    - `labels`, `output_labels` (*G): indices into `LABELS` (from v_1 and from u_1).
    - `jacobians`: the blocks themselves (*G, m, n) if asked for, else None.
    - `eigenvalues` (*G, n) complex, by descending real part, for square blocks of the generator
      (`generator=True`): growth (Re λ > 0) and decay rates, oscillation frequencies (Im λ); else None.
    - `generator`: whether the blocks are of the rate map A = ∂F/∂Ψ rather than of the k-step map.
    """

    tile: tuple
    halo: bool
    radius: int
    sigma: jax.Array
    summary: dict
    svd: TileSVD
    input_shares: jax.Array
    output_shares: jax.Array
    labels: jax.Array
    output_labels: jax.Array
    jacobians: jax.Array | None = None
    eigenvalues: np.ndarray | None = None
    generator: bool = False

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(self.labels.shape)

    @property
    def effective_rank(self):
        return self.summary["effective_rank"]

    @property
    def sigma_max(self):
        return self.summary["sigma_max"]

    def label_counts(self) -> dict[str, int]:
        codes = np.asarray(self.labels).reshape(-1)
        return {name: int(np.sum(codes == i)) for i, name in enumerate(LABELS)}


def analyze_blocks(J, tile, halo: bool = False, radius: int = 0, k: int = 1, keep_jacobians: bool = False,
                   chunk: int = 256, generator: bool = False) -> TileAnalysis:
    """Spectra, top-k modes, make-up and labels of given tile Jacobians J (*G, C·bᴰ, C·Qᴰ); with
    `generator=True` (blocks of the rate map) also their eigenvalues (square blocks only)."""
    tile = tuple(tile)
    cols = tuple(b + 2 * radius for b in tile) if halo else tile
    svd = tile_svd(J, k=max(1, k), chunk=chunk)
    summary, inp, out, labels, output_labels = _describe(svd.sigma, svd.U[..., 0, :], svd.V[..., 0, :], tile, cols)
    eig = None
    if generator and not halo:
        eig = block_eigenvalues(J)
        summary = {**summary, **rate_summary(eig)}
    return TileAnalysis(tile, bool(halo), int(radius), svd.sigma, summary, svd, inp, out, labels, output_labels,
                        J if keep_jacobians else None, eig, bool(generator))


def rate_summary(eigenvalues) -> dict:
    """Per block of the generator: `growth_rate` max Re λ (> 0: a perturbation grows), `decay_rate`
    −min Re λ (the fastest decay) and `frequency` max |Im λ| (the fastest oscillation)."""
    lam = np.asarray(eigenvalues)
    return {"growth_rate": lam.real.max(-1), "decay_rate": -lam.real.min(-1), "frequency": np.abs(lam.imag).max(-1)}


@functools.partial(jax.jit, static_argnames=("rows", "cols"))
def _describe(sigma, u1, v1, rows, cols):
    """Summaries of the spectra, make-up and labels of the top input / output directions."""
    inp = shares_array(mode_makeup(v1, cols))
    out = shares_array(mode_makeup(u1, rows))
    return spectra.summarize(sigma), inp, out, mode_labels(inp), mode_labels(out)


def analyze_tiles(model, lat, state, dt, tile=8, steps: int = 1, halo: bool = False, method: str = "ssprk3", *,
                  k: int = 1, keep_jacobians: bool = False, algorithm: str = "coloured",
                  generator: bool = False) -> TileAnalysis:
    """`tile_jacobians` at `state`, then `analyze_blocks` (see the module docstring); `generator=True`
    analyses the blocks of the rate map A = ∂F/∂Ψ, eigenvalues included."""
    J = tile_jacobians(model, lat, state, dt, tile=tile, steps=steps, halo=halo, method=method, algorithm=algorithm,
                       generator=generator)
    r = halo_radius(model, steps, method, generator)
    return analyze_blocks(J, tile_shape(lat, tile), halo, r, k, keep_jacobians, generator=generator)


@dataclasses.dataclass(frozen=True)
class TileEvolution:
    """`analyze_trajectory`'s result: maps over T snapshots and the tracked top modes.

    - `times` (T,); `sigma_max`, `effective_rank`, `labels` (T, *G).
    - `tracked_sigma` (T, *G, k): σ of each of the k top modes of the first snapshot, followed
      from snapshot to snapshot by best overlap (so a mode keeps its column when it changes rank).
    - `overlap` (T − 1, *G, k): |⟨v(t), v(t′)⟩| of each tracked mode between neighbouring snapshots.
    - `rank_order` (T, *G, k): where each tracked mode sits in its snapshot's ordering (0 = top).
    - `sigma` (T, *G, n): every singular value of every tile at every snapshot, descending (so that
      any summary over time, e.g. the stable rank, can be recomputed with `spectra.summarize`).
    """

    times: np.ndarray
    sigma_max: np.ndarray
    effective_rank: np.ndarray
    labels: np.ndarray
    tracked_sigma: np.ndarray
    overlap: np.ndarray
    rank_order: np.ndarray
    sigma: np.ndarray | None = None


def track(analyses: list[TileAnalysis], times) -> TileEvolution:
    """Follow the top-k input modes of each tile through a list of analyses (one per time)."""
    first = analyses[0]
    k = first.svd.V.shape[-2]
    order = np.broadcast_to(np.arange(k), first.grid + (k,)).copy()
    orders, overlaps = [order.copy()], []
    tracked = [np.take_along_axis(np.asarray(first.sigma)[..., :k], order, axis=-1)]
    for prev, nxt in zip(analyses[:-1], analyses[1:]):
        match, ov = match_modes(prev.svd.V, nxt.svd.V)  # mode i of prev → match[i] of nxt
        overlaps.append(np.take_along_axis(ov, order, axis=-1))
        order = np.take_along_axis(match, order, axis=-1)
        orders.append(order.copy())
        tracked.append(np.take_along_axis(np.asarray(nxt.sigma)[..., :k], order, axis=-1))
    stack = lambda key: np.stack([np.asarray(getattr(a, key)) for a in analyses])  # noqa: E731
    return TileEvolution(
        times=np.asarray(times),
        sigma_max=stack("sigma_max"),
        effective_rank=stack("effective_rank"),
        labels=stack("labels"),
        tracked_sigma=np.stack(tracked),
        overlap=np.stack(overlaps) if overlaps else np.zeros((0,) + first.grid + (k,)),
        rank_order=np.stack(orders),
        sigma=stack("sigma"),
    )


def analyze_trajectory(model, lat, states, dt, tile=8, steps: int = 1, halo: bool = False, method: str = "ssprk3", *,
                       k: int = 3, times=None, progress=None, keep_jacobians: bool = False,
                       algorithm: str = "coloured") -> tuple[list[TileAnalysis], TileEvolution]:
    """`analyze_tiles` at every snapshot of `states` (a `State` with a leading time axis, e.g.
    `traj.states`), then `track`. `progress` (see `rsvp_jax.progress`) counts snapshots."""
    T = int(states.phi.shape[0])
    analyses = []
    with Progress(progress, T, unit="snapshot") as bar:
        for i in range(T):
            x = jax.tree.map(lambda a: a[i], states)  # noqa: B023
            analyses.append(analyze_tiles(model, lat, x, dt, tile, steps, halo, method, k=k,
                                          keep_jacobians=keep_jacobians, algorithm=algorithm))
            bar.update(i + 1)
    return analyses, track(analyses, np.arange(T) if times is None else times)


def label_shares_table(analysis: TileAnalysis) -> dict:
    """Mean input and output make-up over all tiles, by share name (for summaries)."""
    return {
        "input": {n: float(v) for n, v in zip(SHARES, np.mean(np.asarray(analysis.input_shares).reshape(-1, len(SHARES)), 0))},
        "output": {n: float(v) for n, v in zip(SHARES, np.mean(np.asarray(analysis.output_shares).reshape(-1, len(SHARES)), 0))},
    }


__all__ = ["TileAnalysis", "TileEvolution", "analyze_tiles", "analyze_blocks", "analyze_trajectory", "track",
           "label_shares_table"]
