"""Convergence study: the orders of accuracy of the integrators, the face fluxes and the operators.

```
python -m rsvp_jax.bench.convergence --out benchmarks/results/convergence.json --markdown benchmarks/results/convergence.md
```

Everything in float64, on CPU in a few minutes. Each table of `docs/numerics.md` is printed
by this script (`--markdown`); the JSON holds the raw errors.

1. **time**: the default `"rsvp"` model on 32² `blobs` (seed 3; its weak random flow
   changes sign everywhere), T = 1, each integrator at dt = 0.1 … 0.0125, against RK4 at
   the smallest dt / 32; max-norm errors and observed orders, for each face flux.
2. **space, analytic**: the model reduced to linear advection–diffusion of Φ (c_Φ = c_S =
   γ = ν = χ = 0, so v = u stays constant): Φ = 1 + ½e^{−Dk²t} sin(k(x − ut)) on
   [0, 2π), u = 1, D = 0.05, T = 1, compared as exact cell averages, 16 … 512 cells, RK4
   at a dt small enough that the temporal error is negligible.
3. **space, nonlinear**: the full default model in 2D from smooth fields with exact cell
   averages (v changes sign), self-convergence ‖x_N − R x_{2N}‖∞ (R: block average).
4. **numerical diffusion**: the effective diffusivity of a long Fourier mode under a
   constant flow u (h = 1, the default lattice spacing), D_eff − D, measured from the
   mode's decay, against the cell Péclet number uh/D.
5. **Jacobian continuity**: ‖∂F/∂x(v = +ε) − ∂F/∂x(v = −ε)‖ for the right-hand side F.
6. **positivity**: the strong flow into a near-vacuum region of the tests, at the largest
   dt that `check_timestep` allows.
7. **operators**: gradient, Laplacian, ∇⁴, face average and face difference on sin.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

SCHEMES = ("smooth", "upwind", "rusanov", "central")
TWO_PI = 2 * math.pi


def _orders(errors, ratio=2.0):
    e = np.asarray(errors, float)
    return [float(v) for v in np.log(e[:-1] / e[1:]) / math.log(ratio)]


def _max(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ---- 1. time --------------------------------------------------------------------------------
def temporal(n=32, T=1.0, dts=(0.1, 0.05, 0.025, 0.0125), schemes=SCHEMES) -> list[dict]:
    import jax

    import rsvp_jax as rj

    lat = rj.Lattice((n, n))
    x0 = rj.initial_state(lat, "blobs", seed=3, dtype="float64")
    rows = []
    for adv in schemes:
        model = rj.preset("rsvp", advection=adv)
        run = jax.jit(lambda x, dt, steps, m: rj.rollout(model, lat, x, dt, steps, m), static_argnums=(2, 3))
        fine = dts[-1] / 32
        ref = np.asarray(rj.to_array(run(x0, fine, int(round(T / fine)), "rk4")))
        for method in rj.METHODS:
            errs = [_max(rj.to_array(run(x0, dt, int(round(T / dt)), method)), ref) for dt in dts]
            rows.append({"advection": adv, "method": method, "dt": list(dts), "errors": errs, "orders": _orders(errs)})
    return rows


# ---- 2. space: linear advection–diffusion against its exact solution ------------------------
def _advection_diffusion(n, adv, order, U=1.0, Dphi=0.05, T=1.0, k=1.0):
    import jax
    import jax.numpy as jnp

    import rsvp_jax as rj

    lat = rj.Lattice((n,), TWO_PI / n)
    h = lat.spacing
    x = lat.coords()[0]

    def exact(t):  # cell averages: the sine's amplitude times sinc(kh/2)
        return 1 + 0.5 * math.exp(-Dphi * k * k * t) * np.sin(k * (x - U * t)) * np.sinc(k * h / 2 / math.pi)

    model = rj.preset("rsvp", c_phi=0.0, c_S=0.0, gamma=0.0, nu=0.0, chi=0.0, D_phi=Dphi, D_S=Dphi,
                      advection=adv, order=order)
    x0 = rj.State(jnp.asarray(exact(0.0)), jnp.full((1, n), U), jnp.ones(n))
    dt_max = min(0.5 * rj.max_stable_dt(model, lat, x0), 0.1 * h / max(U, 1e-12))
    steps = math.ceil(T / dt_max)
    out = jax.jit(lambda x: rj.rollout(model, lat, x, T / steps, steps, "rk4"))(x0)
    return _max(out.phi, exact(T))


def spatial_analytic(sizes=(16, 32, 64, 128, 256, 512), schemes=SCHEMES) -> list[dict]:
    rows = []
    for D_phi in (0.05, 0.0):
        for adv in schemes:
            for order in (2, 4):
                errs = [_advection_diffusion(n, adv, order, Dphi=D_phi) for n in sizes]
                rows.append({"advection": adv, "order": order, "D": D_phi, "n": list(sizes), "errors": errs,
                             "orders": _orders(errs)})
    return rows


# ---- 3. space: the nonlinear default model, self-convergence --------------------------------
def _smooth_state(lat):
    """Trigonometric Φ, v, S as exact cell averages (each factor sin/cos(m x) times sinc(mh/2))."""
    import jax.numpy as jnp

    import rsvp_jax as rj

    h = lat.spacing
    X, Y = lat.mesh()

    def avg(m):
        return np.sinc(m * h / 2 / math.pi)

    phi = 1 + 0.3 * np.sin(X) * np.cos(Y) * avg(1) ** 2
    S = 1 + 0.2 * np.cos(X) * np.sin(2 * Y) * avg(1) * avg(2)
    v = 0.5 * np.stack([np.sin(Y) * avg(1), np.sin(X + 1) * avg(1)])
    return rj.State(jnp.asarray(phi), jnp.asarray(v), jnp.asarray(S))


def _restrict(a, factor, ndim):
    """Block averages over factor^ndim fine cells (the cell average on the coarse lattice)."""
    a = np.asarray(a)
    lead = a.shape[: a.ndim - ndim]
    shape = list(lead)
    for n in a.shape[a.ndim - ndim:]:
        shape += [n // factor, factor]
    a = a.reshape(shape)
    return a.mean(axis=tuple(len(lead) + 2 * i + 1 for i in range(ndim)))


def spatial_nonlinear(sizes=(16, 32, 64, 128, 256), T=0.5, schemes=SCHEMES) -> list[dict]:
    import jax

    import rsvp_jax as rj

    rows = []
    for adv in schemes:
        for order in (2, 4):
            model = rj.preset("rsvp", advection=adv, order=order)
            sols = []
            for n in sizes:
                lat = rj.Lattice((n, n), TWO_PI / n)
                x0 = _smooth_state(lat)
                steps = math.ceil(T / (0.5 * rj.max_stable_dt(model, lat, x0)))
                sols.append(np.asarray(rj.to_array(jax.jit(lambda x: rj.rollout(model, lat, x, T / steps, steps, "rk4"))(x0))))
            errs = [_max(c, _restrict(f, 2, 2)) for c, f in zip(sols[:-1], sols[1:])]
            rows.append({"advection": adv, "order": order, "n": list(sizes[:-1]), "errors": errs, "orders": _orders(errs)})
    return rows


# ---- 4. numerical diffusion --------------------------------------------------------------------
def numerical_diffusion(speeds=(0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0), n=64, mode=2, T=4.0,
                        schemes=SCHEMES, delta=None) -> list[dict]:
    """D_eff − D from the decay of mode `mode` of ∂_t q = −∇·F(q) on n cells (h = 1), constant u.

    F is `transport_fluxes` with the default model's δ (`delta=None`: 0.01·(c_Φ + c_S) = 0.015).
    D_eff is the decay rate over the mode's eigenvalue of the discrete ∇², so D_eff = D
    means exactly D∇² and the central flux measures 0 (up to RK4's amplitude error).
    """
    import jax
    import jax.numpy as jnp

    import rsvp_jax as rj
    from rsvp_jax import lattice as L

    delta = float(rj.preset("rsvp").dissipation_floor()) if delta is None else delta
    lat = rj.Lattice((n,))
    k = TWO_PI * mode / n
    x = lat.coords()[0]
    lap = 4 * math.sin(k / 2) ** 2
    q0 = jnp.asarray(1 + 0.1 * np.sin(k * x))
    rows = []
    for D_phi in (0.05, 0.0):
        for adv in schemes:
            for u in speeds:
                v = jnp.full((1, n), u)

                def f(q, adv=adv, v=v, D_phi=D_phi):
                    return -L.flux_divergence(L.transport_fluxes(q, v, D_phi, lat, 2, adv, delta), lat)

                dt = 0.05
                steps = math.ceil(T / dt)

                def body(q, _, f=f, dt=T / steps):
                    k1 = f(q)
                    k2 = f(q + 0.5 * dt * k1)
                    k3 = f(q + 0.5 * dt * k2)
                    k4 = f(q + dt * k3)
                    return q + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

                q = np.asarray(jax.jit(lambda q: jax.lax.scan(body, q, None, length=steps)[0])(q0))
                amp = abs(np.fft.rfft(q)[mode]) / abs(np.fft.rfft(np.asarray(q0))[mode])
                d_eff = -math.log(amp) / (lap * T)
                if adv in ("smooth", "rusanov"):
                    formula = float(L.numerical_diffusivity(jnp.asarray(u), D_phi, 1.0, delta, adv))
                elif adv == "upwind":
                    formula = 0.5 * abs(u)
                else:
                    formula = 0.0
                rows.append({"advection": adv, "D": D_phi, "u": u, "delta": delta,
                             "peclet": u / D_phi if D_phi else math.inf,
                             "numerical_diffusivity": d_eff - D_phi, "formula": formula})
    return rows


# ---- 5. Jacobian continuity ------------------------------------------------------------------
def jacobian_jump(eps=(1e-2, 1e-3, 1e-4), schemes=SCHEMES, D_phi=0.05) -> list[dict]:
    """‖J(v = +ε·w) − J(v = −ε·w)‖_F / ‖J‖_F for the rhs on 16 cells in 1D (w > 0 a smooth profile)."""
    import jax
    import jax.numpy as jnp

    import rsvp_jax as rj

    lat = rj.Lattice((16,))
    x = lat.coords()[0]
    phi = jnp.asarray(1 + 0.5 * np.sin(TWO_PI * x / 16))
    S = jnp.asarray(1 + 0.3 * np.cos(TWO_PI * x / 8))
    w = jnp.asarray((1.2 + np.sin(TWO_PI * x / 16))[None])
    rows = []
    for adv in schemes:
        model = rj.preset("rsvp", advection=adv, D_phi=D_phi, D_S=D_phi)

        def J(v):
            f = lambda a: rj.to_array(model.rhs(lat, rj.from_array(a, lat)))  # noqa: E731
            return jax.jacfwd(f)(rj.to_array(rj.State(phi, v, S)))

        jumps = []
        for e in eps:
            jp, jm = J(e * w), J(-e * w)
            jumps.append(float(jnp.linalg.norm(jp - jm) / jnp.linalg.norm(jp)))
        rows.append({"advection": adv, "D": D_phi, "eps": list(eps), "relative_jump": jumps})
    return rows


# ---- 6. positivity -----------------------------------------------------------------------------
def vacuum_problem():
    """Strong flow out of (and back into) a near-vacuum region, 1D: Φ, S ≥ 1e-6 there."""
    import jax.numpy as jnp

    import rsvp_jax as rj

    lat = rj.Lattice((64,))
    x = lat.coords()[0]
    phi = 1e-6 + np.exp(-((x - 20) ** 2) / 18.0)
    S = 1e-6 + 0.5 * np.exp(-((x - 44) ** 2) / 18.0)
    v = 2.0 * np.sin(TWO_PI * x / 64)[None]  # empties x = 0 and drives both bumps into the vacuum at x = 32
    # weak waves, strong sink −λσ: the positivity limit is the tightest one
    model = rj.preset("rsvp", D_phi=0.02, D_S=0.02, c_phi=0.1, c_S=0.05, nu=0.02, gamma=0.2, chi=2.0)
    return model, lat, rj.State(jnp.asarray(phi), jnp.asarray(v), jnp.asarray(S))


def positivity(steps=400, schemes=SCHEMES) -> list[dict]:
    import rsvp_jax as rj

    base, lat, x0 = vacuum_problem()
    rows = []
    for adv in schemes:
        model = base.replace(advection=adv)
        limits = rj.stability_limits(model, lat, x0)
        dt = rj.max_stable_dt(model, lat, x0)
        for method in rj.METHODS:
            traj = rj.simulate(model, lat, x0, dt, steps=steps, save_every=1, method=method)
            inv = np.asarray(traj.diagnostics["invariant"])
            S_tot = np.asarray(traj.diagnostics["S_total"])
            rows.append({"advection": adv, "method": method, "dt": dt, "tightest": min(limits, key=limits.get),
                         "min_phi": float(np.min(np.asarray(traj.states.phi))),
                         "min_S": float(np.min(np.asarray(traj.states.S))),
                         "invariant_drift": float(np.max(np.abs(inv - inv[0])) / abs(inv[0])),
                         "min_dS_total": float(np.min(np.diff(S_tot)))})
    return rows


# ---- 7. operators ------------------------------------------------------------------------------
def operators(sizes=(16, 32, 64, 128)) -> list[dict]:
    import jax.numpy as jnp

    import rsvp_jax as rj
    from rsvp_jax import lattice as L

    rows = []
    for order in (2, 4):
        errs = {k: [] for k in ("gradient", "laplacian", "biharmonic", "face_average", "face_difference")}
        for n in sizes:
            lat = rj.Lattice((n, n), TWO_PI / n)
            X, Y = lat.mesh()
            f = np.sin(X) * np.cos(2 * Y)
            fj = jnp.asarray(f)
            errs["gradient"].append(_max(L.gradient(fj, lat, order), np.stack([np.cos(X) * np.cos(2 * Y),
                                                                              -2 * np.sin(X) * np.sin(2 * Y)])))
            errs["laplacian"].append(_max(L.laplacian(fj, lat, order), -5 * f))
            errs["biharmonic"].append(_max(L.biharmonic(fj, lat, order), 25 * f))
            # face operators act on cell averages: those of sin(x)cos(2y) along x, then evaluated at faces
            h = lat.spacing
            avg = jnp.asarray(np.sin(X) * np.sinc(h / 2 / math.pi) * np.cos(2 * Y))
            errs["face_average"].append(_max(L.face_average(avg, lat, 0, order), np.sin(X + h / 2) * np.cos(2 * Y)))
            errs["face_difference"].append(_max(L.face_difference(avg, lat, 0, order), np.cos(X + h / 2) * np.cos(2 * Y)))
        for name, e in errs.items():
            rows.append({"operator": name, "order": order, "n": list(sizes), "errors": e, "orders": _orders(e)})
    return rows


# ---- report ------------------------------------------------------------------------------------
def _fmt_orders(p):
    return " ".join(f"{v:.2f}" for v in p)


def markdown(res: dict) -> str:
    out = []
    t = res["temporal"]
    out.append(f"### Time (32² blobs seed 3, T = 1, dt = {', '.join(f'{d:g}' for d in t[0]['dt'])}; "
               "max error vs RK4 at dt/32; observed orders between successive dt)\n")
    out.append("| advection | euler | heun | ssprk3 | rk4 |")
    out.append("|---|---|---|---|---|")
    for adv in dict.fromkeys(r["advection"] for r in t):
        cells = [_fmt_orders(r["orders"]) for r in t if r["advection"] == adv]
        out.append(f"| `{adv}` | " + " | ".join(cells) + " |")
    out.append("\nErrors (max over fields), default flux:\n")
    out.append("| method | " + " | ".join(f"dt={d:g}" for d in t[0]["dt"]) + " |")
    out.append("|---|" + "---|" * len(t[0]["dt"]))
    for r in t:
        if r["advection"] == "smooth":
            out.append(f"| {r['method']} | " + " | ".join(f"{e:.2e}" for e in r["errors"]) + " |")

    for D in (0.05, 0.0):
        rows = [r for r in res["spatial_analytic"] if r["D"] == D]
        out.append(f"\n### Space, analytic (1D advection–diffusion, u = 1, D = {D:g}, n = "
                   f"{', '.join(map(str, rows[0]['n']))})\n")
        out.append("| advection | order | max errors | observed orders |")
        out.append("|---|---|---|---|")
        for r in rows:
            out.append(f"| `{r['advection']}` | {r['order']} | " + " ".join(f"{e:.2e}" for e in r["errors"])
                       + f" | {_fmt_orders(r['orders'])} |")

    rows = res["spatial_nonlinear"]
    out.append(f"\n### Space, nonlinear default model (2D, T = 0.5, self-convergence, n = "
               f"{', '.join(map(str, rows[0]['n']))} vs 2n)\n")
    out.append("| advection | order | ‖x_n − R x_2n‖∞ | observed orders |")
    out.append("|---|---|---|---|")
    for r in rows:
        out.append(f"| `{r['advection']}` | {r['order']} | " + " ".join(f"{e:.2e}" for e in r["errors"])
                   + f" | {_fmt_orders(r['orders'])} |")

    nd = res["numerical_diffusion"]
    speeds = list(dict.fromkeys(r["u"] for r in nd))
    for D in (0.05, 0.0):
        out.append(f"\n### Numerical diffusivity D_eff − D (h = 1, D = {D:g}, δ = {nd[0]['delta']:g}; "
                   "measured, formula in brackets)\n")
        out.append("| advection | " + " | ".join(f"u={u:g}" for u in speeds) + " |")
        out.append("|---|" + "---|" * len(speeds))
        for adv in dict.fromkeys(r["advection"] for r in nd):
            cells = [f"{r['numerical_diffusivity']:.2e} ({r['formula']:.2e})" for r in nd
                     if r["advection"] == adv and r["D"] == D]
            out.append(f"| `{adv}` | " + " | ".join(cells) + " |")

    jj = res["jacobian_jump"]
    out.append("\n### Jacobian jump ‖J(+ε) − J(−ε)‖_F / ‖J‖_F across v = 0\n")
    out.append("| advection | " + " | ".join(f"ε={e:g}" for e in jj[0]["eps"]) + " |")
    out.append("|---|" + "---|" * len(jj[0]["eps"]))
    for r in jj:
        out.append(f"| `{r['advection']}` | " + " | ".join(f"{j:.2e}" for j in r["relative_jump"]) + " |")

    pos = res["positivity"]
    out.append("\n### Positivity: flow into a near-vacuum region (1D, 64 cells, 400 steps at the largest allowed dt)\n")
    out.append("| advection | method | dt (tightest limit) | min Φ | min S | ∫(Φ+λS) drift | min Δ∫S |")
    out.append("|---|---|---|---|---|---|---|")
    for r in pos:
        out.append(f"| `{r['advection']}` | {r['method']} | {r['dt']:.4g} ({r['tightest']}) | {r['min_phi']:.2e} | "
                   f"{r['min_S']:.2e} | {r['invariant_drift']:.1e} | {r['min_dS_total']:.1e} |")

    ops = res["operators"]
    out.append(f"\n### Operators (2D, sin x cos 2y, n = {', '.join(map(str, ops[0]['n']))}; observed orders)\n")
    out.append("| operator | order 2 | order 4 |")
    out.append("|---|---|---|")
    for name in dict.fromkeys(r["operator"] for r in ops):
        cells = [_fmt_orders(r["orders"]) for r in ops if r["operator"] == name]
        out.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


SECTIONS = {"temporal": temporal, "spatial_analytic": spatial_analytic, "spatial_nonlinear": spatial_nonlinear,
            "numerical_diffusion": numerical_diffusion, "jacobian_jump": jacobian_jump, "positivity": positivity,
            "operators": operators}


def run(sections=tuple(SECTIONS)) -> dict:
    import jax

    with jax.enable_x64(True):
        return {name: SECTIONS[name]() for name in sections}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/convergence.json")
    p.add_argument("--markdown", default=None, help="also write the tables of docs/numerics.md here")
    p.add_argument("--only", default=None, help="comma-separated sections: " + ", ".join(SECTIONS))
    args = p.parse_args(argv)
    result = run(tuple(args.only.split(",")) if args.only else tuple(SECTIONS))
    from ..io import write_json

    write_json(args.out, result)
    text = markdown(result) if not args.only else json.dumps(result, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
