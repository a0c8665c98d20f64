r"""Certificates that the detached map is linear, and that it is the map at the frozen gates.

Two checks, each with the ordinary map beside it as the control (circuit-tracer tests its
freezing the same way):

1. **Zero second derivative.** $D^2 f[u, v]$ of the detached map $f$ (input embeddings → the
   last token's final-normed state), a JVP of a JVP along random directions u, v, is zero: no
   nonlinearity is left on any path the gradient takes. The ordinary map's is not.
2. **The Jacobian at the frozen gates.** The gates of the prompt are recorded and replayed
   (`Decoder.record`, `forward(gates=...)`), and the embeddings moved, $x \to x + \delta$, by a
   step as large as x itself: along that move every gate keeps its value, and the Jacobian
   there equals the detached Jacobian at x. Recomputing the gates at $x + \delta$ instead
   changes the detached Jacobian (the move is not trivial), and the replayed map's step is
   exactly linear: $f(x+\delta) - f(x) = J\delta$.

Every number is relative (to ‖y‖ or ‖J‖); in float64 the certificates are at round-off, ~1e-15.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._detached import point_map


def _rel(a, b):
    return jnp.linalg.norm(a) / jnp.maximum(jnp.linalg.norm(b), jnp.finfo(b.dtype).tiny)


@partial(jax.jit, static_argnames="controls")
def _certificate(decoder, x, u, v, w, delta, *, controls):
    detached = point_map(decoder, detach=True)
    ordinary = point_map(decoder, detach=False)
    _, rec = decoder.record(x)

    def replayed(x):
        return decoder.forward(x, gates=rec)[-1]

    def second(f):
        return jax.jvp(lambda x: jax.jvp(f, (x,), (u,))[1], (x,), (v,))[1]

    def jvps(f, points, tangents):  # (f(point), J(point) tangent) for each pair, vmapped
        return jax.vmap(lambda p, t: jax.jvp(f, (p,), (t,)))(points, tangents)

    moved = x + delta
    (y, _, _), (j_w, j_delta, j_free) = jvps(detached, jnp.stack([x, x, moved]), jnp.stack([w, delta, w]))
    (at_moved, at_x), (j_kept, _) = jvps(replayed, jnp.stack([moved, x]), jnp.stack([w, w]))
    step = at_moved - at_x
    out = {
        "second_derivative": _rel(second(detached), y),
        "jacobian_change": _rel(j_kept - j_w, j_w),
        "jacobian_change_gates_recomputed": _rel(j_free - j_w, j_w),
        "step_residual": _rel(step - j_delta, step),
        "replay_output_difference": _rel(at_x - y, y),
    }
    if controls:
        out["second_derivative_ordinary"] = _rel(second(ordinary), y)
    return out


def linearity_certificate(m, ids, *, seed: int = 0, step: float = 1.0, controls: bool = True) -> dict:
    r"""Both certificates of the module docstring for the prompt `ids`, as floats:

    `second_derivative` ‖D²f[u, v]‖/‖y‖ of the detached map (0: JAX finds no second-order path
    at all; `second_derivative_ordinary`, the ordinary map's, with `controls=True`, is not — it
    is the costly one to compile); `jacobian_change` ‖(J(x + δ) − J(x)) w‖/‖J(x) w‖ with the gates kept
    (0 to round-off), and `jacobian_change_gates_recomputed` with them recomputed at x + δ (not
    0); `step_residual` ‖f(x+δ) − f(x) − Jδ‖/‖f(x+δ) − f(x)‖ of the replayed map;
    `replay_output_difference` ‖f_replayed(x) − y‖/‖y‖. The Jacobians are compared through their
    products with a random direction w (a random probe tells two matrices apart with probability
    one). u, v, w, δ are random (`seed`), each with the norm of x (δ times `step`).
    """
    ids = m.check_ids(ids)
    x = m.decoder.embed(ids)
    rng = np.random.default_rng(seed)
    scale = float(np.linalg.norm(np.asarray(x, np.float64)))

    def direction(s):
        r = rng.standard_normal(x.shape)
        return jnp.asarray(s * scale * r / np.linalg.norm(r), x.dtype)

    out = _certificate(m.decoder, x, direction(1.0), direction(1.0), direction(1.0), direction(float(step)),
                       controls=bool(controls))
    return {k: float(v) for k, v in out.items()}
