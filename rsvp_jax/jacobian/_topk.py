"""Matrix-free top-k singular values and vectors of the whole lattice's k-step map.

J = ∂F(x)/∂x is (C·Nᴰ × C·Nᴰ): for 512² in 2D a million rows, far beyond any dense
block. Both algorithms here touch J only through products: J·w = `jax.linearize` (one JVP,
the primal computed once) and Jᵀ·u = `jax.linear_transpose` of it (one VJP).

- `"lanczos"` (default): Golub–Kahan–Lanczos bidiagonalisation with full
  reorthogonalisation (`matfree.decomp.bidiag`, Golub & Kahan 1965), m = `krylov` steps:
  J V_m = U_m B_m; the SVD of the small bidiagonal B_m gives the Ritz values.
- `"randomized"`: randomized SVD with `power_iters` subspace iterations (Halko, Martinsson &
  Tropp 2011): Y = (J Jᵀ)^q J Ω, Q = qr(Y), SVD of Qᵀ J.

Each returned triple carries its residual max(‖J v_i − σ_i u_i‖, ‖Jᵀu_i − σ_i v_i‖) (one of
the two vanishes by construction), so convergence is visible: a tightly clustered spectrum (a small dt makes
J ≈ I) converges slowly, and a residual near the gap to the next value says so.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..lattice import Lattice
from ..linalg import SingularTriplets, lanczos_svd, randomized_svd, residual_norms
from ..state import State, to_array
from ._tiles import step_map

ALGORITHMS = ("lanczos", "randomized")


@dataclasses.dataclass(frozen=True)
class TopSingular(SingularTriplets):
    """The k largest singular values of the whole-lattice Jacobian, descending, with vectors.

    `sigma` (k,); `U`, `V` (k, C, *N) unit output / input directions; `residual` (k,) =
    max(‖J v_i − σ_i u_i‖, ‖Jᵀu_i − σ_i v_i‖); `matvecs`: products with J and Jᵀ used.
    """

    matvecs: int = 0
    algorithm: str = ""


def _operators(model, lat, x, dt, steps, method):
    F = step_map(model, lat, dt, steps, method)
    _, J = jax.linearize(F, x)
    JT = jax.linear_transpose(J, x)
    return J, lambda u: JT(u)[0]


@functools.partial(jax.jit, static_argnames=("lat", "steps", "method", "k", "krylov"))
def _lanczos(model, lat, x, dt, steps, method, k, krylov, key):
    J, JT = _operators(model, lat, x, dt, steps, method)
    t = lanczos_svd(J, jax.random.normal(key, x.shape, x.dtype), k, krylov)
    return t.sigma, t.U, t.V, residual_norms(J, JT, t)


@functools.partial(jax.jit, static_argnames=("lat", "steps", "method", "k", "oversample", "power_iters"))
def _randomized(model, lat, x, dt, steps, method, k, oversample, power_iters, key):
    J, JT = _operators(model, lat, x, dt, steps, method)
    omega = jax.random.normal(key, (k + oversample, *x.shape), x.dtype)
    t = randomized_svd(lambda W: jax.lax.map(J, W), lambda W: jax.lax.map(JT, W), omega, k, power_iters)
    return t.sigma, t.U, t.V, residual_norms(J, JT, t)


def lattice_top_singular(model, lat: Lattice, state, dt, steps: int = 1, method: str = "ssprk3", k: int = 6, *,
                         algorithm: str = "lanczos", krylov: int | None = None, oversample: int = 10,
                         power_iters: int = 3, seed: int = 0) -> TopSingular:
    """The top-k singular triples of the whole-lattice Jacobian of the `steps`-step map at `state`.

    Args:
      k: how many triples; `krylov` (Lanczos steps, default 4k + 16, at most C·Nᴰ).
      algorithm: `"lanczos"` (matfree GKL bidiagonalisation) or `"randomized"`
        (`oversample` extra columns, `power_iters` subspace iterations).
      seed: the random start vector / test matrix.

    Memory: about 2·krylov (or 2·(k + oversample)) lattice-sized vectors.
    """
    x = to_array(state) if isinstance(state, State) else jnp.asarray(state)
    n = x.size
    if x.shape != (lat.channels, *lat.shape):
        raise ConfigError(f"state of shape {x.shape} does not match the lattice; expected {(lat.channels, *lat.shape)}")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm {algorithm!r} is unknown; valid algorithms are {', '.join(ALGORITHMS)}")
    if int(k) != k or not 1 <= k <= n:
        raise ConfigError(f"k={k!r} is invalid; ask for 1 to {n} singular values (C·N^D) of this lattice")
    model.check_lattice(lat)
    model = model.astype(x.dtype)
    key = jax.random.PRNGKey(seed)
    if algorithm == "lanczos":
        krylov = int(min(n, krylov or 4 * k + 16))
        if krylov < k:
            raise ConfigError(f"krylov={krylov} must be >= k={k}")
        s, U, V, res = _lanczos(model, lat, x, dt, int(steps), method, int(k), krylov, key)
        matvecs = 2 * krylov + 2 * k
    else:
        oversample = int(min(oversample, n - k))
        s, U, V, res = _randomized(model, lat, x, dt, int(steps), method, int(k), oversample, int(power_iters), key)
        matvecs = (k + oversample) * (2 + 2 * power_iters) + 2 * k
    return TopSingular(s, U, V, res, matvecs=int(matvecs), algorithm=algorithm)


__all__ = ["TopSingular", "lattice_top_singular", "ALGORITHMS"]
