"""Linear algebra both packages share: one singular-triplet type and sign rule, matrix-free
and batched SVDs, and the BLAS thread control.

| name                           | what                                                           |
|--------------------------------|----------------------------------------------------------------|
| `SingularTriplets`, `align_signs` | σ_i, u_i, v_i with vectors as rows; the one sign rule        |
| `lanczos_svd`, `randomized_svd`, `block_krylov_svd`, `residual_norms` | top-k of a map known by its products |
| `rayleigh_ritz`                | top-k on the span of vectors whose images are already known   |
| `lanczos_quadrature`, `gauss_nodes` | stochastic Lanczos quadrature: the spectral density of AᵀA |
| `block_svd`, `block_eigenvalues` | all σ and the top-k pairs of many small blocks; eigenvalues |
| `blas_threads`                 | BLAS / LAPACK thread count for a block of code (threadpoolctl) |

Imports: nothing of `rsvp_jax`; `llm_bridge` uses it as well.
"""

from ._blocks import block_eigenvalues, block_svd
from ._krylov import (block_krylov_svd, gauss_nodes, lanczos_quadrature, lanczos_svd, map_blocks, orthonormal_rows,
                      randomized_svd, rayleigh_ritz, residual_norms)
from ._lapacke import lapacke
from ._threads import blas_threads, openblas_libraries
from ._triplets import SingularTriplets, align_signs

__all__ = [
    "SingularTriplets", "align_signs", "lanczos_svd", "randomized_svd", "block_krylov_svd", "residual_norms",
    "orthonormal_rows", "map_blocks", "rayleigh_ritz", "lanczos_quadrature", "gauss_nodes", "block_svd", "block_eigenvalues",
    "blas_threads", "openblas_libraries", "lapacke",
]
