r"""Top-k singular triplets of detached Jacobians without `jax.jacrev` of the whole map at once.

The detached map x (T, d) ↦ y (d,) offers two cheap products, each one pass through the network:

- forward, $v \mapsto \sum_i J_i v_i$ (`jax.jvp`, a tangent on every position), and
- reverse, $u \mapsto (J_1^\top u, \ldots, J_T^\top u)$ (`jax.vjp`): **one sweep serves every token**.

A product with one token's block alone, $J_i v$, needs a pass of its own (a tangent on position
i only); per-token forward products do not batch. So:

- the **joint** map $[J_1 \cdots J_T]$ (d × Td) is handled by Golub–Kahan–Lanczos
  bidiagonalisation (`matfree.decomp.bidiag`, full reorthogonalisation): one jvp and one vjp per
  step, whatever T is (`joint_top_k`).
- **per-token** triplets (`token_top_k`) come from one of two methods, picked by their cost in
  network passes:

  * `"sweep"`: pull back the d output basis vectors, `chunk` per batch, streaming the rows
    $J_{a,\cdot,\cdot}$ to host memory — d passes give every token's block exactly — then a dense
    SVD of each d × d block keeps the top k. Cost: d passes (plus T small SVDs); memory:
    the d·T·d result on the host and one chunk's working set on the device.
  * `"lanczos"`: the reference's method, Golub–Kahan–Lanczos on each chosen token's
    $v \mapsto J_i v$ with `num_matvecs` steps: 2 · steps passes *per token*.

  `"auto"` takes the cheaper: Lanczos only for a few tokens (2 · steps · tokens < d).
  For SmolLM2 (d = 576) and every token of a 512-token prompt that is 576 passes against
  ≈ 49 000.

Signs: each pair (u, v) is flipped so that ⟨y, u⟩ ≥ 0 (`rsvp_jax.linalg.align_signs`, the one
sign rule of both packages, with y as the reference).
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from rsvp_jax.linalg import SingularTriplets, align_signs, blas_threads, block_svd, lanczos_svd

from ..errors import BridgeError
from ._detached import check_point, default_chunk, point_map

METHODS = ("auto", "sweep", "lanczos")


@dataclasses.dataclass(frozen=True)
class TopK(SingularTriplets):
    """Top-k singular triplets (`rsvp_jax.linalg.SingularTriplets`: `sigma`, and `U`, `V` as rows).

    Per token: a leading axis over `tokens` (the positions): `sigma` (n, k), `U` (n, k, d), `V`
    (n, k, d). Joint: no leading axis, `U` (k, d), `V` (k, T, d). `output` is y (d,), `method` how
    they were computed, `passes` the network passes it took and `seconds` the wall time. The
    NumPy-SVD names read the same data: `s` = sigma, `u` the left vectors as columns (…, d, k),
    `v` = V.
    """

    tokens: np.ndarray | None = None
    output: np.ndarray | None = None
    method: str = ""
    passes: int = 0
    seconds: float = 0.0

    @property
    def s(self):
        return self.sigma

    @property
    def u(self):
        return np.swapaxes(np.asarray(self.U), -1, -2)

    @property
    def v(self):
        return self.V


def _triplets(u_rows, s, vt, y, **info) -> TopK:
    """A `TopK` from rows, signed by the one sign rule (⟨y, u_i⟩ ≥ 0; `rsvp_jax.linalg.align_signs`)."""
    U, V = align_signs(np.asarray(u_rows), np.asarray(vt), np.asarray(y), np_module=np)
    return TopK(np.asarray(s), U, V, **info)


def default_steps(k: int, n: int) -> int:
    """Lanczos steps for k triplets of an operator of rank ≤ n: 2k + 16, at most n."""
    return min(n, 2 * k + 16)


# ----------------------------------------------------------------------------- the joint map


@partial(jax.jit, static_argnames=("layer", "component", "normed", "k", "steps"))
def _joint(decoder, x, v0, *, layer, component, normed, k, steps):
    f = point_map(decoder, layer=layer, component=component, normed=normed)
    y, push = jax.linearize(f, x)
    top = lanczos_svd(lambda v: push(v.reshape(x.shape)), v0, k, steps)
    return y, top.U, top.sigma, top.V.reshape(k, *x.shape)


def joint_top_k(m, ids, k: int = 16, *, layer=None, component=None, normed: bool = True,
                steps: int | None = None, seed: int = 0) -> TopK:
    r"""Top-k singular triplets of the joint map $[J_1 \cdots J_T]$, matrix-free (GKL, one jvp and
    one vjp per step): `sigma` (k,), `U` (k, d), `V` (k, T, d)."""
    ids = m.check_ids(ids)
    layer = check_point(m.config, layer, component)
    dec = m.decoder
    x = dec.embed(ids)
    d = m.config.hidden_size
    k = _check_k(k, d)
    steps = default_steps(k, d) if steps is None else int(steps)
    v0 = jax.random.normal(jax.random.key(seed), (x.size,), x.dtype)
    start = time.perf_counter()
    with blas_threads(1):
        y, u, s, vt = _joint(dec, x, v0, layer=layer, component=component, normed=bool(normed), k=k, steps=steps)
    return _triplets(u, s, vt, y, tokens=np.arange(len(ids)), output=np.asarray(y), method="lanczos",
                     passes=2 * steps + 1, seconds=time.perf_counter() - start)


# ----------------------------------------------------------------------------- per token: lanczos


@partial(jax.jit, static_argnames=("layer", "component", "normed", "k", "steps"))
def _token_lanczos(decoder, x, tokens, v0, *, layer, component, normed, k, steps):
    f = point_map(decoder, layer=layer, component=component, normed=normed)
    y, push = jax.linearize(f, x)

    def one(i):
        top = lanczos_svd(lambda v: push(jnp.zeros_like(x).at[i].set(v)), v0, k, steps)
        return top.U, top.sigma, top.V

    u, s, vt = jax.lax.map(one, tokens)
    return y, u, s, vt


# ----------------------------------------------------------------------------- per token: sweep


@partial(jax.jit, static_argnames=("layer", "component", "normed"))
def _linearized(decoder, x, *, layer, component, normed):
    return jax.vjp(point_map(decoder, layer=layer, component=component, normed=normed), x)


@jax.jit
def _pull(pullback, basis):
    return jax.vmap(lambda u: pullback(u)[0])(basis)


def sweep_rows(m, ids, *, layer=None, component=None, normed=True, chunk=None,
               progress: Callable[[int, int], None] | None = None):
    """(y, J) with J (d, T, d) as a host NumPy array, built by reverse sweeps `chunk` rows at a time.

    The forward pass runs once (`jax.vjp` inside `jit` returns the pullback); each batch of
    output basis vectors is pulled back by a vmapped call of it and copied to the host.
    `progress(done, total)` is called after each batch.
    """
    dec = m.decoder
    x = dec.embed(ids)
    d = m.config.hidden_size
    if chunk is None:
        chunk = default_chunk(m.config, len(ids), np.dtype(m.dtype).itemsize)
    batches = -(-d // int(min(max(1, chunk), d)))
    chunk = -(-d // batches)  # equal batches: the last one is not padded with wasted sweeps
    y, pullback = _linearized(dec, x, layer=layer, component=component, normed=bool(normed))
    rows = np.empty((d, *x.shape), np.dtype(m.dtype))
    eye = jnp.eye(d, dtype=x.dtype)
    for start in range(0, d, chunk):
        stop = min(start + chunk, d)
        basis = eye[start:stop] if stop - start == chunk else jnp.zeros((chunk, d), x.dtype).at[: stop - start].set(eye[start:stop])
        rows[start:stop] = np.asarray(_pull(pullback, basis))[: stop - start]
        if progress is not None:
            progress(stop, d)
    return np.asarray(y), rows


def _check_k(k, d):
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
        raise BridgeError(f"k={k!r} singular triplets: need an integer in 1..{d}")
    return int(k)


def choose_method(method: str, n_tokens: int, d: int, steps: int) -> str:
    """"sweep" costs d passes for every token; "lanczos" 2 · steps passes per token."""
    if method not in METHODS:
        raise BridgeError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    return "lanczos" if 2 * steps * n_tokens < d else "sweep"


def token_top_k(m, ids, k: int = 16, *, tokens=None, method: str = "auto", layer=None, component=None,
                normed: bool = True, steps: int | None = None, chunk: int | None = None, token_chunk: int = 64,
                seed: int = 0, progress: Callable[[int, int], None] | None = None) -> TopK:
    r"""Top-k singular triplets of each token's block $J_i$ (d × d) of the detached Jacobian.

    `tokens`: the positions (default all); `method`: "sweep", "lanczos" or "auto" (see the
    module docstring); `steps`: Lanczos steps (default `default_steps`); `chunk`: output rows
    per reverse batch; `token_chunk`: blocks per dense SVD batch. Returns `TopK` with `sigma`
    (n, k), `U`, `V` (n, k, d) for the n chosen tokens (and `u` (n, d, k) as columns).
    """
    ids = m.check_ids(ids)
    layer = check_point(m.config, layer, component)
    d, t = m.config.hidden_size, len(ids)
    k = _check_k(k, d)
    tokens = np.arange(t) if tokens is None else np.asarray(tokens, int).reshape(-1) % t
    steps = default_steps(k, d) if steps is None else int(steps)
    method = choose_method(method, len(tokens), d, steps)
    point = dict(layer=layer, component=component, normed=bool(normed))
    start = time.perf_counter()
    if method == "lanczos":
        dec = m.decoder
        x = dec.embed(ids)
        v0 = jax.random.normal(jax.random.key(seed), (d,), x.dtype)
        with blas_threads(1):
            y, u, s, vt = _token_lanczos(dec, x, jnp.asarray(tokens), v0, k=k, steps=steps, **point)
        passes = 2 * steps * len(tokens) + 1
    else:
        y, rows = sweep_rows(m, ids, chunk=chunk, progress=progress, **point)
        blocks = block_svd(np.moveaxis(rows, 1, 0)[tokens], k=k, chunk=token_chunk, method="svd")  # (n, d, d) blocks
        u, s, vt = blocks.U, blocks.sigma[..., :k], blocks.V
        passes = d + 1
    return _triplets(u, s, vt, y, tokens=tokens, output=np.asarray(y), method=method, passes=passes,
                     seconds=time.perf_counter() - start)
