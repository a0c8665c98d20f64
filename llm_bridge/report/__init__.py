"""What a prompt's analysis leaves behind: the figures of a detached Jacobian (its
reconstruction, heatmap, decoded spectra, ranks by layer) and one self-describing NetCDF
`xarray.Dataset` holding the Jacobian, its spectra and decoded modes (`spectra_dataset`, format
`FORMAT`, read back by `rsvp_jax.compare`).
"""

from ._dataset import FORMAT, spectra_dataset
from ._plots import plot_heatmap, plot_layer_ranks, plot_reconstruction, plot_spectra

__all__ = ["FORMAT", "plot_heatmap", "plot_layer_ranks", "plot_reconstruction", "plot_spectra", "spectra_dataset"]
