r"""Finite-time Lyapunov exponents by tangent propagation and QR re-orthonormalisation.

k orthonormal tangent vectors W_0 ride along the run (`integrate.tangent_rollout`, one block);
every `qr_every` steps they are re-orthonormalised, W ← Q with M_j W = Q R, and the logarithms
of |R_ii| are accumulated (Benettin, Galgani, Giorgilli & Strelcyn 1980, *Meccanica* 15;
Shimada & Nagashima 1979):

$$ \lambda_i(T) = \frac{1}{T} \sum_j \log |R^{(j)}_{ii}|, \qquad
   \sum_{i \le k} \lambda_i(T)\, T = \log \mathrm{vol}_k(M(T) W_0), $$

so with k = C·Nᴰ (all directions) Σλ_i·T = log|det M(T)| exactly, and for long horizons the
λ_i converge to the Lyapunov exponents, largest first. The running estimates λ_i(t_j) after
each re-orthonormalisation show the convergence.
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..integrate import tangent_rollout
from ..lattice import Lattice
from ._propagator import check_count, horizon_steps, tangent_start


@dataclasses.dataclass(frozen=True)
class LyapunovSpectrum:
    """The k leading finite-time Lyapunov exponents over a horizon.

    - `exponents` (k,): λ_i(T), per unit of model time, in the order the QR produced them
      (largest first once converged).
    - `running` (n_qr, k): λ_i(t_j) after each re-orthonormalisation, at `times` (n_qr,).
    - `vectors` (k, C, *N): the orthonormal tangent basis at the end (Gram–Schmidt vectors).
    - `horizon`, `steps`, `dt`, `qr_every`, `seconds`.
    """

    exponents: np.ndarray
    running: np.ndarray
    times: np.ndarray
    vectors: jax.Array
    horizon: float
    steps: int
    dt: float
    qr_every: int
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"exponents": self.exponents.tolist(), "horizon": self.horizon, "steps": self.steps, "dt": self.dt,
                "qr_every": self.qr_every, "sum": float(np.sum(self.exponents)), "seconds": self.seconds,
                "running_last_change": (np.abs(self.running[-1] - self.running[len(self.running) // 2]).tolist()
                                        if len(self.running) > 1 else None)}


def default_qr_every(steps: int, count: int = 64) -> int:
    """Steps between re-orthonormalisations: about `count` of them over the run, at least 1 step."""
    return max(1, math.ceil(int(steps) / count))


def lyapunov_spectrum(model, lat: Lattice, state, dt, horizon, k: int = 16, method: str = "ssprk3", *,
                      qr_every: int | None = None, seed: int = 0) -> LyapunovSpectrum:
    """The k leading finite-time Lyapunov exponents of the run from `state` over `horizon` (model
    time; steps = round(horizon / dt)), by tangent QR (see the module docstring).

    `qr_every`: steps between re-orthonormalisations (default: ~64 of them over the run).
    `seed`: the random orthonormal start W_0.
    """
    t0 = time.perf_counter()
    x = tangent_start(model, lat, state, method,
                      "its exponents are the logarithms of the k-step map's singular values over k steps "
                      "(tile_jacobians(..., steps=k))")
    n = int(x.size)
    check_count(k, n, "exponents")
    steps = horizon_steps(horizon, dt)
    every = default_qr_every(steps) if qr_every is None else int(qr_every)
    if every < 1:
        raise ConfigError(f"qr_every={qr_every!r} must be a whole number of steps >= 1")
    k = int(k)
    W = jax.random.normal(jax.random.PRNGKey(seed), (k, *x.shape), x.dtype)
    W = _orthonormal(W)[0]
    dt_ = jnp.asarray(dt, x.dtype)
    logs, running, times, done = np.zeros(k), [], [], 0
    while done < steps:
        m = min(every, steps - done)
        x, W = tangent_rollout(model, lat, x, dt_, jnp.asarray(m, jnp.int32), W, method)
        W, r = _orthonormal(W)
        logs += np.log(np.abs(np.asarray(r, np.float64)))
        done += m
        times.append(done * float(dt))
        running.append(logs / times[-1])
    return LyapunovSpectrum(exponents=running[-1].copy(), running=np.asarray(running), times=np.asarray(times),
                            vectors=W, horizon=steps * float(dt), steps=steps, dt=float(dt), qr_every=every,
                            seconds=time.perf_counter() - t0)


@jax.jit
def _orthonormal(W):
    """QR of the block W (k, *shape) as columns: (Q as rows, diag R)."""
    Q, R = jnp.linalg.qr(W.reshape(W.shape[0], -1).T)
    return Q.T.reshape(W.shape), jnp.diagonal(R)


__all__ = ["LyapunovSpectrum", "lyapunov_spectrum", "default_qr_every"]
