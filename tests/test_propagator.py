"""Spectra of the dynamics over a horizon: the propagator M(T) = ∂x(T)/∂x(0) and Lyapunov exponents.

Checked against what is known without the matrix-free machinery: the Fourier symbol of the
linearisation about a uniform rest state (a constant-coefficient system), dense `jax.jacfwd` of
the k-step map on small lattices, and log|det M(T)| for the sum of all exponents.
"""

import math

import jax
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax import spectra
from rsvp_jax.errors import ConfigError
from rsvp_jax.jacobian import step_map

POLY = {"euler": 1, "heun": 2, "ssprk3": 3, "rk4": 4}  # the degree of each method's stability polynomial
# One lattice and one block size for the blobs cases, so that their tangent and adjoint rollouts
# compile once (steps is traced; `max_steps` fixes the checkpoint layout): K + OVER vectors a
# block, and as many SLQ probes.
LAT, K, OVER, MAX_STEPS = rj.Lattice((10, 10)), 6, 8, 160
BLOCK = dict(k=K, oversample=OVER, probes=K + OVER, max_steps=MAX_STEPS)


def rest_diffusivity(model, D, h):
    """The face diffusivity of Φ and S at u = 0: D itself for central fluxes; for the smooth default
    (κ⁴ + b⁴)^¼ with b = δh/2 (`lattice.face_diffusivity`'s formula, written out here)."""
    if model.advection == "central":
        return D
    delta = 0.01 * (abs(model.c_phi) + abs(model.c_S))
    return (D**4 + (0.25 * h * h * delta * delta) ** 2) ** 0.25


def fourier_singular_values(model, lat, dt, steps, method, phi0=1.0, S0=1.0):
    """Every singular value of M(T) about the rest state (Φ₀, 0, S₀) of `"rsvp"`, from its discrete
    symbol: per wavenumber a (D+2)×(D+2) matrix Â(k), the method's stability polynomial
    G = Σ_j (dt Â)^j / j!, and M̂(k) = G^steps. At rest the face velocity vanishes, so the
    linearised flux of Φ (or S) is Φ₀ times the face-averaged v minus the rest diffusivity times
    the face difference, and σ (quadratic in v) drops out."""
    h, D = lat.spacing, lat.ndim
    out = []
    for m in np.ndindex(*lat.shape):
        kh = [2 * np.pi * mi / N for mi, N in zip(m, lat.shape)]
        d = [1j * np.sin(x) / h for x in kh]  # centred derivative (= divergence of the face average)
        L = -sum(4 * np.sin(x / 2) ** 2 for x in kh) / h**2  # the 2D+1-point Laplacian
        A = np.zeros((D + 2, D + 2), complex)
        A[0, 0], A[-1, -1] = rest_diffusivity(model, model.D_phi, h) * L, rest_diffusivity(model, model.D_S, h) * L
        for i in range(D):
            A[0, 1 + i], A[-1, 1 + i] = -phi0 * d[i], -S0 * d[i]
            A[1 + i, 0], A[1 + i, -1] = -model.c_phi**2 * d[i], -model.s * model.c_S**2 * d[i]
            A[1 + i, 1 + i] = -model.gamma + model.nu * L
        z = dt * A
        G = sum(np.linalg.matrix_power(z, j) / math.factorial(j) for j in range(POLY[method] + 1))
        out.append(np.linalg.svd(np.linalg.matrix_power(G, steps), compute_uv=False))
    return np.sort(np.concatenate(out))[::-1]


@pytest.mark.parametrize("shape, method, T, advection", [((10, 10), "ssprk3", 2.0, "smooth"),
                                                         ((24,), "rk4", 5.0, "central")])
def test_top_k_equals_the_fourier_symbol_about_a_rest_state(x64, shape, method, T, advection):
    lat = rj.Lattice(shape)
    model = rj.preset("rsvp", advection=advection)
    x = rj.initial_state(lat, "uniform", dtype="float64")
    dt = 0.05
    ref = fourier_singular_values(model, lat, dt, round(T / dt), method)
    ps = rj.propagator_spectrum(model, lat, x, dt, T, k=8, method=method, depth=20, probes=0)
    assert ps.steps == round(T / dt) and ps.horizon == pytest.approx(T)
    np.testing.assert_allclose(np.asarray(ps.sigma), ref[:8], rtol=1e-10)
    assert ref[0] > 1.01  # non-normal wave coupling: transient growth, not an identity


def dense_propagator(model, lat, x, dt, steps, method="ssprk3"):
    a = rj.to_array(x)
    return np.asarray(jax.jacfwd(step_map(model, lat, dt, steps, method))(a)).reshape(a.size, a.size)


def test_top_k_and_shape_match_a_dense_svd_on_a_small_lattice(x64):
    """10², a blobs state (non-uniform, flow everywhere), two horizons: the triplets are the
    dense SVD's, and the SLQ stable / effective ranks and k90 lie within their error bars."""
    lat, model = LAT, rj.preset("rsvp")
    x = rj.initial_state(lat, "blobs", seed=3, dtype="float64")
    dt = 0.05
    for T in (1.0, 8.0):
        M = dense_propagator(model, lat, x, dt, round(T / dt))
        U, s, Vt = np.linalg.svd(M)
        ps = rj.propagator_spectrum(model, lat, x, dt, T, lanczos_steps=40, **BLOCK)
        # the triplets come from the SLQ's own Lanczos vectors (no block Krylov products)
        assert ps.products == 2 * BLOCK["probes"] * 40 + 2 * K
        np.testing.assert_allclose(np.asarray(ps.sigma), s[:6], rtol=1e-6)
        overlap = np.abs(np.sum(np.asarray(ps.V).reshape(6, -1) * Vt[:6], axis=1))
        assert np.all(overlap > 1 - 1e-6), overlap
        v, u = np.asarray(ps.V).reshape(6, -1), np.asarray(ps.U).reshape(6, -1)
        # the reported residual is the larger of the two sides', as the dense map gives them
        sig = np.asarray(ps.sigma)[:, None]
        dense_residual = np.maximum(np.linalg.norm(u @ M - sig * v, axis=1), np.linalg.norm(v @ M.T - sig * u, axis=1))
        np.testing.assert_allclose(np.asarray(ps.residual), dense_residual, atol=1e-9)
        assert float(np.max(ps.residual)) < 1e-4
        dense = spectra.summarize(s)
        for key in ("stable_rank", "effective_rank", "k90"):
            est, err = getattr(ps, key), getattr(ps, f"{key}_error")
            assert 0 < err < 0.2 * est, (T, key, err)
            assert abs(est - float(dense[key])) <= 3 * err + 1.0 * (key == "k90"), (T, key, est, float(dense[key]), err)
        assert abs(ps.frobenius2 - np.sum(s**2)) <= 3 * ps.frobenius2_error


def test_the_spectrum_changes_with_the_horizon(x64):
    """Longer horizons concentrate M's energy in fewer directions (the point of the whole analysis)."""
    lat, model = LAT, rj.preset("rsvp")
    x = rj.initial_state(lat, "blobs", seed=0, dtype="float64")
    ranks = [rj.propagator_spectrum(model, lat, x, 0.05, T, depth=3, lanczos_steps=20, **BLOCK).stable_rank
             for T in (0.5, 2.0, 8.0)]
    assert ranks[0] > 2 * ranks[1] > 4 * ranks[2] > 0, ranks


def test_lyapunov_sum_is_log_det_of_the_propagator(x64):
    lat, model = rj.Lattice((8,)), rj.preset("rsvp")
    x = rj.initial_state(lat, "noise", seed=2, dtype="float64")
    dt, T = 0.05, 3.0
    ly = rj.lyapunov_spectrum(model, lat, x, dt, T, k=lat.channels * lat.size, qr_every=7)
    _, logdet = np.linalg.slogdet(dense_propagator(model, lat, x, dt, round(T / dt)))
    assert ly.exponents.sum() * ly.horizon == pytest.approx(logdet, rel=1e-10)
    assert ly.running.shape == (len(ly.times), 24) and ly.times[-1] == pytest.approx(T)
    np.testing.assert_allclose(ly.running[-1], ly.exponents)


def test_lyapunov_exponents_of_a_fixed_point_converge_to_its_eigenvalues(x64):
    """At the rest state the tangent dynamics are linear and constant, x' = G x: the exponents
    tend to log|μ_i(G)| / dt (≈ Re λ_i of the generator), largest first, as the horizon grows."""
    lat, model = rj.Lattice((8,)), rj.preset("rsvp")
    x = rj.initial_state(lat, "uniform", dtype="float64")
    dt = 0.25
    G = dense_propagator(model, lat, x, dt, 1)
    mu = np.sort(np.log(np.abs(np.linalg.eigvals(G))) / dt)[::-1]
    errors = []
    for T in (250.0, 2000.0):
        ly = rj.lyapunov_spectrum(model, lat, x, dt, T, k=6)
        errors.append(np.max(np.abs(ly.exponents - mu[:6])))
    assert errors[1] < 0.3 * errors[0] and errors[1] < 2e-3, errors


def test_bad_horizons_and_discrete_maps_are_refused():
    lat = rj.Lattice((8, 8))
    x = rj.initial_state(lat)
    for horizon in (0.0, -1.0, float("nan"), "soon"):
        with pytest.raises(ConfigError, match="horizon"):
            rj.propagator_spectrum(rj.preset("rsvp"), lat, x, 0.05, horizon, k=2)
    with pytest.raises(ConfigError, match="discrete map"):
        rj.propagator_spectrum(rj.preset("seed"), lat, x, 0.05, 1.0, k=2)
    with pytest.raises(ConfigError, match="k=0"):
        rj.lyapunov_spectrum(rj.preset("rsvp"), lat, x, 0.05, 1.0, k=0)


def _decaying_matrix(rng, n=60, ratio=0.8):
    """A dense n × n matrix with singular values ratio^i and random singular vectors: (A, s, Q1, Q2)."""
    Q1, _ = np.linalg.qr(rng.normal(size=(n, n)))
    Q2, _ = np.linalg.qr(rng.normal(size=(n, n)))
    s = ratio ** np.arange(n)
    return (Q1 * s) @ Q2.T, s, Q1, Q2


@pytest.mark.parametrize("side", ["output", "input"])
def test_block_krylov_on_either_side_gives_the_dense_top_k(x64, side):
    """Both sides of `block_krylov_svd` on a dense matrix with a decaying spectrum: the top-k of
    `numpy.linalg.svd`, and the product on the Rayleigh–Ritz side exact by construction."""
    from rsvp_jax.linalg import block_krylov_svd

    rng = np.random.default_rng(0)
    n, k = 60, 5
    A, s, Q1, Q2 = _decaying_matrix(rng, n)
    fwd = lambda W: W @ A.T  # noqa: E731  rows w ↦ A w
    adj = lambda U: U @ A  # noqa: E731
    t, first = block_krylov_svd(fwd, adj, rng.normal(size=(k + 4, n)), k, 4, side=side)
    np.testing.assert_allclose(np.asarray(t.sigma), s[:k], rtol=1e-8)
    U, V, sig = np.asarray(t.U), np.asarray(t.V), np.asarray(t.sigma)[:, None]
    exact = V @ A.T - sig * U if side == "input" else U @ A - sig * V
    assert np.abs(exact).max() < 1e-12
    assert np.abs(np.abs(np.sum(V * Q2[:, :k].T, axis=1)) - 1).max() < 1e-8


def test_rayleigh_ritz_on_vectors_whose_images_are_known(x64):
    """Two Krylov bases of AᵀA from different starts (each orthonormal, together not, and together
    spanning more than half the space twice over: rank-deficient): `rayleigh_ritz` of their rows
    and images gives the dense top-k, with A v = σ u to √eps, without a product of its own."""
    from rsvp_jax.linalg import orthonormal_rows, rayleigh_ritz

    rng = np.random.default_rng(1)
    n, k = 60, 5
    A, s, Q1, Q2 = _decaying_matrix(rng, n)
    bases = []
    for start in rng.normal(size=(2, 3, n)):
        blocks = [start]
        for _ in range(11):
            blocks.append(blocks[-1] @ A.T @ A)
        bases.append(np.asarray(orthonormal_rows(np.concatenate(blocks))))
    X = np.concatenate(bases)  # 72 rows in 60 dimensions
    t = rayleigh_ritz(X, X @ A.T, k)
    np.testing.assert_allclose(np.asarray(t.sigma), s[:k], rtol=1e-10)
    U, V, sig = np.asarray(t.U), np.asarray(t.V), np.asarray(t.sigma)[:, None]
    assert np.abs(V @ A.T - sig * U).max() < 1e-7 and np.abs(U @ A - sig * V).max() < 1e-7
    assert np.abs(np.abs(np.sum(V * Q2[:, :k].T, axis=1)) - 1).max() < 1e-10


@pytest.mark.parametrize("steps", [1, 7])
def test_tangent_and_adjoint_rollouts_are_the_propagator_and_its_transpose(x64, steps):
    """M W and Mᵀ U equal the dense ∂x(T)/∂x(0) and its transpose (the adjoint runs its steps in
    `lattice.transposable_form`, checkpointed in segments of 4 steps: 7 steps are a full segment and a partial one),
    and ⟨U, M W⟩ = ⟨Mᵀ U, W⟩ to round-off, the data-assimilation adjoint test."""
    from rsvp_jax.integrate import adjoint_rollout, checkpoint_layout, tangent_rollout

    lat, model, dt = rj.Lattice((6, 5)), rj.preset("rsvp", omega=0.3), 0.05
    x = rj.simulate(model, lat, rj.initial_state(lat, "blobs", seed=2, dtype="float64"), dt, 10).final
    a = rj.to_array(x)
    M = dense_propagator(model, lat, x, dt, steps)
    rng = np.random.default_rng(steps)
    W, U = (rng.standard_normal((3, *a.shape)) for _ in range(2))
    segment, n_segments = checkpoint_layout(16)
    y, MW = tangent_rollout(model, lat, a, dt, steps, W)
    MtU = adjoint_rollout(model, lat, a, dt, steps, U, segment=segment, n_segments=n_segments)
    flat = lambda B: np.asarray(B).reshape(len(B), -1)  # noqa: E731
    np.testing.assert_allclose(flat(MW), flat(W) @ M.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(flat(MtU), flat(U) @ M, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.sum(flat(U) * flat(MW), 1), np.sum(flat(MtU) * flat(W), 1), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(rj.to_array(rj.rollout(model, lat, x, dt, steps))))
