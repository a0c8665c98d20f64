"""Figures (matplotlib, Agg): fields, diagnostics, tile maps, sweeps, fits, comparisons, animations.

Every `plot_*` returns a matplotlib figure and writes nothing; `rsvp_jax.io.write_figure` saves
one atomically. `animate` (a submodule) writes GIF / MP4 animations of runs and label maps.

Imports: the analysis layers below it (state, diagnostics, jacobian labels, sweep's names, io).
"""

from . import animate
from ._compare import FIGURES as COMPARE_FIGURES
from ._compare import pixel_size, plot_depth_time, plot_distributions, plot_energy, plot_profiles, plot_spectra
from ._fields import field_panels, plot_diagnostics, plot_fields
from ._fit import plot_fit, plot_sensitivity
from ._horizons import plot_horizon_spectra, plot_lyapunov, plot_mode_maps
from ._jacobian import (LABEL_COLOURS, pick_tiles, plot_label_map, plot_lattice_topk, plot_seed_prototype,
                        plot_tile_evolution, plot_tile_map, plot_tile_spectra)
from ._pyplot import pyplot
from ._sweep import plot_sweep, plot_sweep_diagnostic

__all__ = [
    "pyplot", "animate", "field_panels", "plot_fields", "plot_diagnostics", "plot_tile_map", "plot_label_map",
    "plot_tile_spectra", "plot_lattice_topk", "plot_tile_evolution", "plot_seed_prototype", "pick_tiles",
    "LABEL_COLOURS", "plot_sweep", "plot_sweep_diagnostic", "plot_fit", "plot_sensitivity", "plot_spectra",
    "plot_energy", "plot_distributions", "plot_profiles", "plot_depth_time", "pixel_size", "COMPARE_FIGURES",
    "plot_horizon_spectra", "plot_lyapunov", "plot_mode_maps",
]
