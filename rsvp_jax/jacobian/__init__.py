"""Tile Jacobians and what they say: the TARTAN view of an RSVP lattice.

```python
import rsvp_jax as rj
J = rj.tile_jacobians(model, lat, x, dt=0.05, tile=8, steps=1)      # (*tile_grid, C·bᴰ, C·bᴰ)
a = rj.jacobian.analyze_tiles(model, lat, x, dt=0.05, tile=8)        # spectra, modes, labels
G = rj.tile_jacobians(model, lat, x, dt=0.05, tile=8, generator=True)   # blocks of A = ∂F/∂Ψ
ps = rj.propagator_spectrum(model, lat, x, dt=0.05, horizon=5.0, k=16) # the propagator over T = 5
ly = rj.lyapunov_spectrum(model, lat, x, dt=0.05, horizon=5.0, k=16)   # finite-time exponents
top = rj.jacobian.lattice_top_singular(model, lat, x, dt=0.05, k=6) # whole lattice, matrix-free
proto = rj.jacobian.seed_prototype()                                # the seed's 4×4 prototype
```

| name                    | what                                                                     |
|-------------------------|--------------------------------------------------------------------------|
| `tile_jacobians`        | every tile's exact Jacobian block (`_tiles`)                             |
| `tile_svd`              | batched SVD of the blocks: all σ, top-k vectors (`_modes`)               |
| `mode_makeup`, `mode_labels` | energy shares Φ / v (drift, compressive, rotational) / S, and labels |
| `analyze_tiles`, `analyze_trajectory` | the whole chain at a state / along a run (`_tile_analysis`) |
| `lattice_top_singular`  | matrix-free top-k of the whole lattice (`_topk`, matfree Lanczos)        |
| `seed_prototype`        | the seed's prototype, exact beside its finite difference                 |
| `tile_dataset`          | an analysis as a self-describing `xarray.Dataset`                        |
| `propagator_spectrum`   | M(T) = ∂x(T)/∂x(0) over a horizon: top-k triplets, SLQ shape with errors |
| `lyapunov_spectrum`     | finite-time Lyapunov exponents by tangent QR, with running estimates     |
| `mode_map`              | where global modes live: energy and make-up per tile (TARTAN at a horizon) |
"""

from __future__ import annotations

from ._analysis import (TileAnalysis, TileEvolution, analyze_blocks, analyze_tiles, analyze_trajectory,
                             label_shares_table, track)
from ._dataset import FLAG_MEANINGS, HORIZON_SCALARS, TILE_AXES, horizon_dataset, tile_centres, tile_dataset
from ._horizons import MAX_STEPS, HorizonLadder, horizon_ladder, parse_horizons, time_scales
from ._lyapunov import LyapunovSpectrum, lyapunov_spectrum
from ._mode_map import ModeMap, mode_map, tile_pieces
from ._modes import LABELS, SHARES, TileSVD, label_names, match_modes, mode_labels, mode_makeup, shares_array, tile_svd
from ._seed import SeedPrototype, seed_prototype
from ._tiles import ALGORITHMS, check_halo, colour_tables, comb_periods, halo_radius, step_map, tile_grid, tile_jacobians, tile_shape
from ._propagator import PropagatorSpectrum, horizon_steps, propagator_products, propagator_spectrum
from ._topk import TopSingular, lattice_top_singular

__all__ = [
    "tile_jacobians", "halo_radius", "check_halo", "tile_shape", "tile_grid", "comb_periods", "colour_tables", "step_map", "ALGORITHMS",
    "TileSVD", "tile_svd", "mode_makeup", "shares_array", "mode_labels", "label_names", "match_modes",
    "SHARES", "LABELS", "TileAnalysis", "TileEvolution", "analyze_tiles", "analyze_blocks", "analyze_trajectory",
    "track", "label_shares_table", "TopSingular", "lattice_top_singular", "SeedPrototype", "seed_prototype",
    "tile_dataset", "tile_centres", "TILE_AXES", "FLAG_MEANINGS",
    "PropagatorSpectrum", "propagator_spectrum", "propagator_products", "horizon_steps",
    "LyapunovSpectrum", "lyapunov_spectrum", "ModeMap", "mode_map", "tile_pieces",
    "horizon_dataset", "HORIZON_SCALARS", "HorizonLadder", "horizon_ladder", "parse_horizons", "time_scales", "MAX_STEPS",
]
