"""What a prompt's analysis leaves behind: the figures of a detached Jacobian (its
reconstruction, heatmap, decoded spectra, ranks by layer), one self-describing NetCDF
`xarray.Dataset` holding the Jacobian, its spectra and decoded modes (`spectra_dataset`, format
`FORMAT`, read back by `rsvp_jax.compare`), and `jacobian_to_folder`, which runs the analyses of
`llm_bridge.jacobian` for one prompt and writes all of them, with a `summary.json`, into a folder
(the work of `rsvp llm-jacobian`). Files are written through `rsvp_jax.io`, atomically.
"""

from ._dataset import FORMAT, spectra_dataset
from ._folder import AUTO_LAYER_TOKENS, jacobian_to_folder
from ._plots import plot_heatmap, plot_layer_ranks, plot_reconstruction, plot_spectra

__all__ = [
    "AUTO_LAYER_TOKENS", "FORMAT", "jacobian_to_folder", "plot_heatmap", "plot_layer_ranks", "plot_reconstruction",
    "plot_spectra", "spectra_dataset",
]
