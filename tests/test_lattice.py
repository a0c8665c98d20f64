"""Lattice operators against analytic derivatives, with their convergence orders."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax import lattice as L

TWO_PI = 2 * np.pi


def lattice(n, D):
    return rj.Lattice((n,) * D, spacing=TWO_PI / n)


def field(lat):
    """f = sin(x)·cos(2y)·sin(z + 1) (as many factors as axes) and its derivatives."""
    X = lat.mesh()
    parts = [(np.sin(X[0]), np.cos(X[0]), -np.sin(X[0]))]
    if lat.ndim > 1:
        parts.append((np.cos(2 * X[1]), -2 * np.sin(2 * X[1]), -4 * np.cos(2 * X[1])))
    if lat.ndim > 2:
        parts.append((np.sin(X[2] + 1), np.cos(X[2] + 1), -np.sin(X[2] + 1)))
    f = np.prod([p[0] for p in parts], axis=0)
    grad = [np.prod([p[1] if i == d else p[0] for i, p in enumerate(parts)], axis=0) for d in range(lat.ndim)]
    lap = sum(np.prod([p[2] if i == d else p[0] for i, p in enumerate(parts)], axis=0) for d in range(lat.ndim))
    return f, np.stack(grad), lap


def observed_order(errors):
    return np.log2(errors[:-1] / errors[1:])


def max_err(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)))


@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("order", [2, 4])
def test_gradient_and_laplacian_converge_at_their_order(x64, D, order):
    sizes = [8, 16, 32] if D < 3 else [8, 16, 24]
    eg, el, eb = [], [], []
    for n in sizes:
        lat = lattice(n, D)
        f, grad, lap = field(lat)
        fj = jnp.asarray(f)
        eg.append(max_err(L.gradient(fj, lat, order), grad))
        el.append(max_err(L.laplacian(fj, lat, order), lap))
        # ∇⁴ of a product of Fourier modes: (Σ k_d²)² f
        k2 = 1 + (4 if D > 1 else 0) + (1 if D > 2 else 0)
        eb.append(max_err(L.biharmonic(fj, lat, order), k2**2 * f))
    ratios = np.asarray(sizes[1:]) / np.asarray(sizes[:-1])
    for errs in (eg, el, eb):
        p = np.log(np.asarray(errs[:-1]) / np.asarray(errs[1:])) / np.log(ratios)
        assert p[-1] == pytest.approx(order, abs=0.25), (errs, p)


@pytest.mark.parametrize("order", [2, 4])
def test_face_operators_on_cell_averages(x64, order):
    """From cell averages of sin(x), face values and face derivatives converge at `order`."""
    errs_avg, errs_diff = [], []
    for n in (16, 32, 64):
        lat = lattice(n, 1)
        h = lat.spacing
        x = lat.coords()[0]
        # the exact cell average of sin over [x - h/2, x + h/2]
        avg = np.sin(x) * np.sin(h / 2) / (h / 2)
        faces = x + h / 2
        errs_avg.append(max_err(L.face_average(jnp.asarray(avg), lat, 0, order), np.sin(faces)))
        errs_diff.append(max_err(L.face_difference(jnp.asarray(avg), lat, 0, order), np.cos(faces)))
    for errs in (errs_avg, errs_diff):
        assert observed_order(np.asarray(errs))[-1] == pytest.approx(order, abs=0.2), errs


def test_divergence_curl_and_flux_form(x64):
    lat = lattice(32, 3)
    X = lat.mesh()
    # v = (sin y, sin z, sin x): ∇·v = 0, ∇×v = (−cos z, −cos x, −cos y)
    v = jnp.asarray(np.stack([np.sin(X[1]), np.sin(X[2]), np.sin(X[0])]))
    assert max_err(L.divergence(v, lat, 4), 0.0) < 1e-12
    curl = np.stack([-np.cos(X[2]), -np.cos(X[0]), -np.cos(X[1])])
    assert max_err(L.curl(v, lat, 4), curl) < 2e-4
    # 2D vorticity of solid-body-like v = (−sin y, sin x): ω = cos x + cos y
    lat2 = lattice(32, 2)
    X2 = lat2.mesh()
    v2 = jnp.asarray(np.stack([-np.sin(X2[1]), np.sin(X2[0])]))
    assert max_err(L.curl(v2, lat2, 4), np.cos(X2[0]) + np.cos(X2[1])) < 2e-4
    assert max_err(L.curl(v2[:1, :, 0], lattice(32, 1)), 0.0) == 0.0
    # a flux divergence sums to zero exactly (conservation), whatever the flux
    rng = np.random.default_rng(0)
    fluxes = [jnp.asarray(rng.standard_normal(lat.shape)) for _ in range(3)]
    assert abs(float(jnp.sum(L.flux_divergence(fluxes, lat)))) < 1e-11


def test_velocity_gradient_squared_is_the_viscous_dissipation(x64):
    """Σ v·∇²v = −Σ |∇v|² on the lattice (summation by parts), and |∇v|² ≥ 0."""
    lat = rj.Lattice((12, 10), spacing=0.7)
    v = jnp.asarray(np.random.default_rng(1).standard_normal((2, 12, 10)))
    g2 = L.velocity_gradient_squared(v, lat)
    assert float(jnp.min(g2)) >= 0
    assert float(jnp.sum(v * L.laplacian(v, lat))) == pytest.approx(-float(jnp.sum(g2)), rel=1e-12)


def test_upwind_flux_picks_the_donor_cell():
    lat = rj.Lattice((4,))
    q = jnp.asarray([1.0, 2.0, 3.0, 4.0])
    u = jnp.asarray([1.0, -1.0, 0.5, -2.0])  # faces 1/2, 3/2, 5/2, 7/2 (the last wraps to cell 0)
    np.testing.assert_allclose(L.upwind_flux(q, u, lat, 0), [1.0, -3.0, 1.5, -2.0])


def test_operators_pass_leading_axes_through():
    lat = rj.Lattice((8, 8))
    f = jnp.asarray(np.random.default_rng(0).standard_normal((3, 8, 8)))
    np.testing.assert_allclose(L.laplacian(f, lat)[1], L.laplacian(f[1], lat), rtol=1e-6)
    assert L.gradient(f, lat).shape == (3, 2, 8, 8)


@pytest.mark.parametrize(
    "shape, spacing",
    [((), 1.0), ((8, 8, 8, 8), 1.0), ((0, 8), 1.0), ((8.5,), 1.0), ((8,), 0.0), ((8,), float("nan")), ("ab", 1.0)],
)
def test_bad_lattices_are_clear_errors(shape, spacing):
    with pytest.raises(rj.ConfigError, match="lattice"):
        rj.Lattice(shape, spacing)


def test_bad_order_is_an_error():
    with pytest.raises(rj.ConfigError, match="order 3"):
        L.laplacian(jnp.zeros(8), rj.Lattice((8,)), order=3)


@pytest.mark.parametrize("order", [2, 4])
def test_divergence_and_curl_converge_at_their_order(x64, order):
    """∇·v and ∇×v of trigonometric fields, in 2D (scalar vorticity) and 3D, halving h."""
    errs = {"div2": [], "vort2": [], "div3": [], "curl3": []}
    for n in (8, 16, 32):
        X = lattice(n, 2).mesh()
        # v = (sin x cos 2y, cos x sin y): ∇·v = cos x cos 2y + cos x cos y, ω = −sin x sin y + 2 sin x sin 2y
        v = np.stack([np.sin(X[0]) * np.cos(2 * X[1]), np.cos(X[0]) * np.sin(X[1])])
        div = np.cos(X[0]) * np.cos(2 * X[1]) + np.cos(X[0]) * np.cos(X[1])
        vort = -np.sin(X[0]) * np.sin(X[1]) + 2 * np.sin(X[0]) * np.sin(2 * X[1])
        errs["div2"].append(max_err(L.divergence(jnp.asarray(v), lattice(n, 2), order), div))
        errs["vort2"].append(max_err(L.curl(jnp.asarray(v), lattice(n, 2), order), vort))
        lat3 = lattice(n, 3)
        X = lat3.mesh()
        # v = (sin y cos z + sin x, sin z + cos x, sin x sin y): ∇·v = cos x
        v = np.stack([np.sin(X[1]) * np.cos(X[2]) + np.sin(X[0]), np.sin(X[2]) + np.cos(X[0]), np.sin(X[0]) * np.sin(X[1])])
        div = np.cos(X[0])
        curl = np.stack([np.sin(X[0]) * np.cos(X[1]) - np.cos(X[2]),
                         -np.sin(X[1]) * np.sin(X[2]) - np.cos(X[0]) * np.sin(X[1]),
                         -np.sin(X[0]) - np.cos(X[1]) * np.cos(X[2])])
        errs["div3"].append(max_err(L.divergence(jnp.asarray(v), lat3, order), div))
        errs["curl3"].append(max_err(L.curl(jnp.asarray(v), lat3, order), curl))
    for name, e in errs.items():
        assert observed_order(np.asarray(e))[-1] == pytest.approx(order, abs=0.25), (name, e)


@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("order", [2, 4])
def test_the_transposable_form_computes_the_same_numbers(x64, D, order):
    """`transposable_form` shifts face quantities instead of fields: the same numbers to the bit,
    for every advection scheme, and the models' right-hand sides with them."""
    lat = rj.Lattice((8, 6, 5)[:D], spacing=0.3)
    rng = np.random.default_rng(D + order)
    q = jnp.asarray(1.0 + 0.5 * rng.random(lat.shape))
    v = jnp.asarray(rng.standard_normal((D, *lat.shape)))

    def both(fn):
        plain = fn()
        with L.transposable_form():
            other = fn()
        return plain, other

    def equal(pair):
        return all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(*map(jax.tree.leaves, pair)))

    for advection in L.ADVECTION_SCHEMES:
        assert equal(both(lambda: L.transport_divergence(q, v, 0.05, lat, order, advection, 0.02))), advection
    assert equal(both(lambda: L.velocity_gradient_squared(v, lat, order)))
    assert equal(both(lambda: L.gradient_of(lambda a, b: 2.0 * a - b, (q, q * q), lat, order)))
    # and the two are different programs (the context is not a no-op)
    td = lambda: jax.make_jaxpr(lambda q: L.transport_divergence(q, v, 0.05, lat, order))(q)  # noqa: E731
    assert str(td()) != str(both(td)[1])
    x = rj.initial_state(lat, "blobs", seed=1)
    for name in ("rsvp", "tartan"):
        model = rj.preset(name, order=order)
        assert equal(both(lambda: model.rhs(lat, x))), name
