r"""The tangent-linear propagator over a horizon: its leading singular triplets and its spectrum's shape.

The one-step map is I + dt·A: its spectrum sits near 1 and says little. What grows and what
decays is read off the propagator over a horizon T (model time units, `steps = round(T / dt)`),

$$ M(T) = \partial x(T) / \partial x(0), \qquad x(T) = F^{\,steps}(x(0)), $$

as weather forecasting reads the singular vectors of its tangent-linear model over an
optimisation time (Buizza & Palmer 1995, *J. Atmos. Sci.* 52). M is C·Nᴰ × C·Nᴰ — a million
rows at 512² — and is never formed: it is touched only through products, a block of tangents
pushed forward (`jax.jvp`, `vmap`ped, the primal computed once per block) and a block of
cotangents pulled back (`jax.vjp`).

- **Top-k triplets**: Rayleigh–Ritz (`linalg.rayleigh_ritz`) on the span of every vector whose
  image under M is already known. With SLQ (below) that is its Lanczos vectors: each probe's
  run of MᵀM pushes q_j forward before pulling it back, so P probes × m steps leave a block
  Krylov space of dimension P·m, input side, with M q_j kept — the triplets cost no product
  beyond the quadrature's but the 2k of their residuals. Measured on 64², T = 10, top-32 from
  8 × 24: 448 products and 68 s, median residual/σ 0.002 (block Krylov of 40 vectors, depth 3,
  beside the same SLQ: 856 products, 108 s, 0.09). Without SLQ (`probes=0`), or with `depth` > 0,
  randomized block Krylov (Musco & Musco 2015; `linalg.block_krylov_svd`) on blocks of
  k + `oversample` vectors, `depth` applications of MᵀM deep, the space on the input side
  ([Ω, MᵀMΩ, …]: an adjoint vector-step costs more than a tangent one, and this side needs
  p·depth adjoint products against p·(2·depth + 1) on the output side) joins the span. Each
  triplet carries its residual max(‖M v_i − σ_i u_i‖, ‖Mᵀu_i − σ_i v_i‖) (the block Krylov
  space alone makes the first vanish by construction, and only the second is computed).
- **The whole spectrum's shape**, by stochastic Lanczos quadrature (Golub & Meurant 1994;
  Ubaru, Chen & Saad 2017, *SIAM J. Matrix Anal. Appl.* 38) of MᵀM: `probes` Rademacher vectors
  z, `lanczos_steps` Lanczos steps each (`matfree.decomp.tridiag_sym`, full
  reorthogonalisation), giving Gauss quadrature nodes θ_j (eigenvalues of MᵀM, i.e. σ²) and
  weights τ_j with tr f(MᵀM) ≈ n · mean over probes of Σ_j τ_j f(θ_j). From it: ‖M‖²_F = Σσ²
  (Hutchinson's estimator, exact per probe in Lanczos), Σσ and Σσ log σ — hence the effective
  rank exp(−Σ p log p), p = σ/Σσ — and the energy distribution behind k90. The stable rank is
  ‖M‖²_F / σ₁² with σ₁ from the triplets.
- **Error bars**: the probe-to-probe spread (jackknife standard error) combined with the
  quadrature's own error, estimated as the change from half the Lanczos steps to all of them.

Products go through the tangent-linear and adjoint models of the rollout
(`integrate.tangent_rollout`, `adjoint_rollout`): a block of vectors per pass, the primal
recomputed alongside, checkpoints every √steps steps for the adjoint — memory O(√steps) states
plus the block, and one compilation for every horizon.
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..integrate import adjoint_rollout, check_method, checkpoint_layout, tangent_rollout
from ..lattice import Lattice
from ..linalg import SingularTriplets, block_krylov_svd, gauss_nodes, lanczos_quadrature, map_blocks, rayleigh_ritz
from ..state import State, to_array

@dataclasses.dataclass(frozen=True)
class PropagatorSpectrum(SingularTriplets):
    """The spectrum of M(T) = ∂x(T)/∂x(0) (see the module docstring).

    - `sigma` (k,), `U`, `V` (k, C, *N), `residual` (k,): the top-k triplets (`SingularTriplets`).
    - `horizon` T, `steps`, `dt`, `n` = C·Nᴰ (the size of M).
    - `frobenius2` ‖M‖²_F, `stable_rank` ‖M‖²_F/σ₁², `effective_rank`, `k90`, each with `*_error`
      (one standard error, probe spread and quadrature combined); NaN without SLQ (`probes=0`).
    - `density`: the SLQ quadrature of MᵀM, {"nodes": (probes, m), "weights": (probes, m)}
      (nodes are σ², weights sum to 1 per probe); None without SLQ.
    - `products` (vectors pushed through the rollout, forward and adjoint), `seconds`.
    """

    horizon: float = 0.0
    steps: int = 0
    dt: float = 0.0
    n: int = 0
    frobenius2: float = math.nan
    frobenius2_error: float = math.nan
    stable_rank: float = math.nan
    stable_rank_error: float = math.nan
    effective_rank: float = math.nan
    effective_rank_error: float = math.nan
    k90: float = math.nan
    k90_error: float = math.nan
    density: dict | None = None
    products: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        """The scalars, and σ and the residuals as lists (what `summary.json` holds per horizon)."""
        keys = ("horizon", "steps", "dt", "n", "frobenius2", "frobenius2_error", "stable_rank", "stable_rank_error",
                "effective_rank", "effective_rank_error", "k90", "k90_error", "products", "seconds")
        out = {k: getattr(self, k) for k in keys}
        out.update(sigma=np.asarray(self.sigma).tolist(), residual=np.asarray(self.residual).tolist())
        return out


def horizon_steps(horizon, dt) -> int:
    """steps = round(T / dt), at least 1; a horizon that is not a positive number is a `ConfigError`."""
    try:
        T = float(horizon)
    except (TypeError, ValueError):
        raise ConfigError(f"horizon {horizon!r} is not a number of model time units") from None
    if not (math.isfinite(T) and T > 0):
        raise ConfigError(f"horizon {horizon!r} is invalid; it must be a finite time > 0 (model units)")
    return max(1, int(round(T / float(dt))))


def tangent_start(model, lat: Lattice, state, method: str, discrete_hint: str):
    """The state array (C, *N) that a tangent rollout starts from, after checking the method, the
    lattice and that the model is continuous in time (`discrete_hint`: what to use instead)."""
    check_method(method)
    model.check_lattice(lat)
    if model.discrete:
        raise ConfigError(f"preset {model.name!r} is a discrete map: {discrete_hint}")
    x = to_array(state) if isinstance(state, State) else jnp.asarray(state)
    if x.shape != (lat.channels, *lat.shape):
        raise ConfigError(f"state of shape {x.shape} does not match the lattice; expected {(lat.channels, *lat.shape)}")
    return x


def check_count(k, n: int, what: str) -> None:
    """k must be a whole number in 1..n (n = C·N^D, the lattice's dimension)."""
    if int(k) != k or not 1 <= k <= n:
        raise ConfigError(f"k={k!r} is invalid; ask for 1 to {n} {what} (C·N^D) of this lattice")


def propagator_products(model, lat: Lattice, x, dt, steps: int, method: str = "ssprk3", max_steps: int | None = None):
    """(forward, adjoint): block products W (p, C, *N) ↦ M W and U ↦ Mᵀ U of the `steps`-step map
    at the state array x (C, *N), through `integrate.tangent_rollout` / `adjoint_rollout`. Each
    compiles once per block size for every horizon up to `max_steps` (default `steps`)."""
    segment, n_segments = checkpoint_layout(max_steps or steps)
    dt = jnp.asarray(dt, x.dtype)
    n = jnp.asarray(int(steps), jnp.int32)

    def forward(W):
        return tangent_rollout(model, lat, x, dt, n, W, method)[1]

    def adjoint(U):
        return adjoint_rollout(model, lat, x, dt, n, U, method, segment=segment, n_segments=n_segments)

    return forward, adjoint


def propagator_spectrum(model, lat: Lattice, state, dt, horizon, k: int = 16, method: str = "ssprk3", *,
                        oversample: int = 8, depth: int | None = None, probes: int = 8, lanczos_steps: int = 24,
                        seed: int = 0, max_steps: int | None = None) -> PropagatorSpectrum:
    """The top-k singular triplets of the tangent-linear propagator M(T) at `state`, and estimates of
    its whole spectrum's shape with error bars (see the module docstring).

    Args:
      model, lat, dt, method: the dynamics (as in `rollout`); `state` a `State` or its (C, *N) array.
      horizon: T in model time units; steps = round(T / dt).
      k: how many triplets.
      probes, lanczos_steps: SLQ probes and Lanczos steps per probe (`probes=0`: no SLQ); their
        Lanczos vectors also give the triplets (2·probes·lanczos_steps products, + 2k residuals).
      depth, oversample: a block Krylov space of p = k + `oversample` vectors, `depth` deep, added
        to the Rayleigh–Ritz span (products p·(3·depth + 2)); default (None): none when the SLQ
        spans at least 2k vectors, else depth 3.
      seed: the random blocks. max_steps: the longest horizon (in steps) the compiled products should
        serve (a ladder of horizons passes its last one: one compilation for all).
    """
    t0 = time.perf_counter()
    x = tangent_start(model, lat, state, method,
                      "its propagator is the k-step map's Jacobian; use tile_jacobians(..., steps=k) or "
                      "lattice_top_singular(..., steps=k)")
    n = int(x.size)
    steps = horizon_steps(horizon, dt)
    check_count(k, n, "singular triplets")
    if probes < 0 or (probes and not 2 <= lanczos_steps <= n):
        raise ConfigError(f"probes={probes} / lanczos_steps={lanczos_steps} are invalid; need probes >= 0 and "
                          f"2 <= lanczos_steps <= {n}")
    k = int(k)
    if depth is None:  # the SLQ's Lanczos vectors alone, when they span enough
        depth = 0 if probes and probes * lanczos_steps >= 2 * k else 3
    forward, adjoint = propagator_products(model, lat, x, dt, steps, method, max_steps)
    key_omega, key_probes = jax.random.split(jax.random.PRNGKey(seed))
    X, AX, n_products = [], [], 0
    if depth or not probes:
        p = int(min(n, k + max(0, oversample)))
        depth = max(0, min(int(depth), n // p))  # deeper, the blocks would lose rank (the space spans all n)
        omega = jax.random.normal(key_omega, (p, *x.shape), x.dtype)
        bk, first = block_krylov_svd(forward, adjoint, omega, k, depth, side="input")
        X.append(bk.V), AX.append(bk.sigma.reshape((k,) + (1,) * x.ndim) * bk.U)  # A v = σ u, exactly
        n_products += p * (3 * depth + 2)
    density = None
    if probes:
        p = int(probes)
        z = jax.random.rademacher(key_probes, (p, *x.shape), x.dtype)

        def normal(Z):  # MᵀM, keeping each Lanczos vector's image under M for the Rayleigh–Ritz below
            Y = forward(Z)
            X.append(Z), AX.append(Y)
            return adjoint(Y)

        T = lanczos_quadrature(normal, z, int(lanczos_steps))
        n_products += 2 * p * int(lanczos_steps)
        nodes, weights = (np.asarray(a, np.float64) for a in gauss_nodes(T))
        half = [np.asarray(a, np.float64) for a in gauss_nodes(T[:, :lanczos_steps // 2, :lanczos_steps // 2])]
        density = {"nodes": nodes, "weights": weights}
    sig = lambda t: t.sigma.reshape((k,) + (1,) * x.ndim)  # noqa: E731
    if len(X) > 1:  # the Rayleigh–Ritz of every product made: M v = σ u only to about √eps, so check both sides
        t = rayleigh_ritz(jnp.concatenate(X), jnp.concatenate(AX), k)
        resid = jnp.maximum(_norms(map_blocks(forward, t.V, p) - sig(t) * t.U),
                            _norms(map_blocks(adjoint, t.U, p) - sig(t) * t.V))
        n_products += 2 * k
    else:  # the block Krylov space alone: M v = σ u by construction
        t = bk
        resid = _norms(map_blocks(adjoint, t.U, p) - sig(t) * t.V)
        n_products += k
    s = np.asarray(t.sigma, np.float64)
    if probes:
        shape = spectrum_shape(n, s, nodes, weights, *half)
    else:
        hutch = np.asarray(jnp.sum(first.reshape(p, -1) ** 2, axis=1), np.float64)  # E‖Mω‖² = ‖M‖²_F, Gaussian ω
        f2 = float(hutch.mean())
        f2_err = float(hutch.std(ddof=1) / math.sqrt(len(hutch))) if len(hutch) > 1 else math.nan
        shape = {"frobenius2": f2, "frobenius2_error": f2_err, "stable_rank": f2 / s[0] ** 2,
                 "stable_rank_error": f2_err / s[0] ** 2}
    return PropagatorSpectrum(t.sigma, t.U, t.V, resid, horizon=steps * float(dt), steps=steps, dt=float(dt), n=n,
                              density=density, products=n_products, seconds=time.perf_counter() - t0, **shape)


def _norms(R):
    """‖r_i‖ of each row of R (k, *shape)."""
    return jnp.sqrt(jnp.sum(R.reshape(R.shape[0], -1) ** 2, axis=1))


# ---- the spectrum's shape from the quadrature -----------------------------------------------------------


def _functionals(theta, tau, n):
    """Per probe: Σσ², Σσ, Σσ log σ estimated as n Σ_j τ_j f(θ_j), θ = σ²; each (P,)."""
    sig = np.sqrt(theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        slog = np.where(sig > 0, sig * np.log(np.where(sig > 0, sig, 1.0)), 0.0)
    return n * np.sum(tau * theta, -1), n * np.sum(tau * sig, -1), n * np.sum(tau * slog, -1)


def _derived(f2, s1, sl, top, theta, tau, n):
    """(‖M‖²_F, stable rank, effective rank, k90) from probe means and the top-k σ."""
    stable = f2 / top[0] ** 2
    erank = math.exp(math.log(s1) - sl / s1) if s1 > 0 else 0.0
    return f2, stable, min(erank, n), _k90(f2, top, theta, tau, n)


def _k90(f2, top, theta, tau, n) -> float:
    """The fewest modes holding 90 % of Σσ² = f2: from the top-k σ when they hold it, else from
    the quadrature's energy distribution (nodes of every probe, weighted n·τ / P), interpolated."""
    e = np.cumsum(top**2)
    if e[-1] >= 0.9 * f2:
        i = int(np.searchsorted(e, 0.9 * f2))
        below = e[i - 1] if i else 0.0
        return float(i + (0.9 * f2 - below) / (top[i] ** 2))
    order = np.argsort(-theta.reshape(-1))
    th, w = theta.reshape(-1)[order], (n * tau / tau.shape[0]).reshape(-1)[order]
    energy, count = np.cumsum(w * th), np.cumsum(w)
    target = 0.9 * float(np.sum(w * th))
    i = min(int(np.searchsorted(energy, target)), len(th) - 1)
    prev_e, prev_c = (energy[i - 1], count[i - 1]) if i else (0.0, 0.0)
    frac = (target - prev_e) / max(energy[i] - prev_e, 1e-300)
    return float(min(n, prev_c + frac * w[i]))


def spectrum_shape(n, top, theta, tau, theta_half, tau_half) -> dict:
    """Estimates and errors of ‖M‖²_F, the stable and effective ranks and k90 from the SLQ nodes
    `theta` and weights `tau` (P, m) (and those of half the Lanczos steps, for the quadrature
    error), with the top singular values `top` (descending). Error = √(jackknife² + quadrature²)."""
    P = theta.shape[0]
    per = np.stack(_functionals(theta, tau, n), -1)  # (P, 3)
    half = np.stack(_functionals(theta_half, tau_half, n), -1)
    est = _derived(*per.mean(0), top, theta, tau, n)
    est_half = _derived(*half.mean(0), top, theta_half, tau_half, n)
    if P > 1:
        loo = [_derived(*np.delete(per, i, 0).mean(0), top, np.delete(theta, i, 0), np.delete(tau, i, 0), n)
               for i in range(P)]
        loo = np.asarray(loo)
        jack = np.sqrt((P - 1) / P * np.sum((loo - loo.mean(0)) ** 2, axis=0))
    else:
        jack = np.full(4, np.nan)
    err = np.sqrt(jack**2 + (np.asarray(est) - np.asarray(est_half)) ** 2)
    names = ("frobenius2", "stable_rank", "effective_rank", "k90")
    out = {}
    for name, v, e in zip(names, est, err):
        out[name], out[f"{name}_error"] = float(v), float(e)
    return out


__all__ = ["PropagatorSpectrum", "propagator_spectrum", "propagator_products", "horizon_steps", "spectrum_shape"]
