"""What a prompt's analysis leaves behind: the figures of a detached Jacobian (its
reconstruction, heatmap, decoded spectra, ranks by layer, the top singular vector across layers,
token importance, the exact attribution, the detached lens, the detachment gap), one self-describing NetCDF
`xarray.Dataset` holding the Jacobian, its spectra and decoded modes (`spectra_dataset`, format
`FORMAT`, read back by `rsvp_jax.compare`), and `jacobian_to_folder`, which runs the analyses of
`llm_bridge.jacobian` for one prompt and writes all of them, with a `summary.json`, into a folder
(the work of `rsvp llm-jacobian`). Files are written through `rsvp_jax.io`, atomically.
"""

from ._dataset import FORMAT, spectra_dataset
from ._folder import AUTO_LAYER_TOKENS, jacobian_to_folder
from ._plots import (
    plot_attribution,
    plot_gap,
    plot_heatmap,
    plot_layer_ranks,
    plot_lens,
    plot_reconstruction,
    plot_singular_path,
    plot_spectra,
    plot_token_importance,
)

__all__ = [
    "AUTO_LAYER_TOKENS", "FORMAT", "jacobian_to_folder", "plot_attribution", "plot_gap", "plot_heatmap",
    "plot_layer_ranks", "plot_lens", "plot_reconstruction", "plot_singular_path", "plot_spectra",
    "plot_token_importance", "spectra_dataset",
]
