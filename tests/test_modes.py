"""Mode make-up and labels: exact shares on hand-made mode fields, honest labels on hand-made states,
the batched tile SVD, and tracking modes between times."""

import jax.numpy as jnp
import numpy as np
import pytest

import rsvp_jax as rj
from rsvp_jax.jacobian import (LABELS, SHARES, analyze_tiles, analyze_trajectory, label_names, match_modes,
                               mode_labels, mode_makeup, shares_array, tile_svd)

B = 8
X, Y = np.meshgrid(np.arange(B) - 3.5, np.arange(B) - 3.5, indexing="ij")
BUMP = np.exp(-(X**2 + Y**2) / 8.0)


def field(phi=0.0, v=None, S=0.0):
    """A unit mode vector on an 8×8 tile from its parts (channel-major, cells row-major)."""
    v = np.zeros((2, B, B)) if v is None else np.asarray(v)
    w = np.concatenate([np.broadcast_to(phi, (1, B, B)), v, np.broadcast_to(S, (1, B, B))]).reshape(-1)
    return w / np.linalg.norm(w)


FIELDS = {  # name: (mode vector, the share that must hold all the energy, its label)
    "solid-body vortex": (field(v=[-Y, X]), "v_rotational", "vortex"),
    "gaussian vortex": (field(v=[-Y * BUMP, X * BUMP]), "v_rotational", "vortex"),
    "converging flow": (field(v=[-X, -Y]), "v_compressive", "compressive drift"),
    "uniform drift": (field(v=[np.ones((B, B)), np.zeros((B, B))]), "v_drift", "compressive drift"),
    "scalar bump": (field(phi=BUMP), "phi", "scalar sink/source"),
    "entropy bump": (field(S=BUMP), "S", "entropy wave"),
}


@pytest.mark.parametrize("name", FIELDS)
def test_makeup_of_pure_fields(name, x64):
    w, share, label = FIELDS[name]
    shares = np.asarray(shares_array(mode_makeup(jnp.asarray(w), (B, B))))
    assert shares.shape == (len(SHARES),)
    tol = 2e-4 if name == "gaussian vortex" else 1e-12  # a Gaussian envelope's central-difference divergence is O(h²)
    assert shares[SHARES.index(share)] > 1 - tol, dict(zip(SHARES, shares))
    assert LABELS[int(mode_labels(shares))] == label


def test_makeup_of_mixtures_and_batches(x64):
    vortex, comp, scalar = FIELDS["solid-body vortex"][0], FIELDS["converging flow"][0], FIELDS["scalar bump"][0]
    mix = (vortex + comp) / np.sqrt(2)  # orthogonal, equal energy, and ∇·, ∇× of equal size
    raw = mode_makeup(jnp.asarray(np.stack([mix, 0.6 * scalar + 0.8 * vortex])), (B, B))
    np.testing.assert_allclose(np.asarray(raw["v_compressive"])[0], 0.5, atol=1e-12)
    np.testing.assert_allclose(np.asarray(raw["v_rotational"])[0], 0.5, atol=1e-12)
    np.testing.assert_allclose([np.asarray(raw["phi"])[1], np.asarray(raw["v_rotational"])[1]], [0.36, 0.64], atol=1e-12)
    total = sum(np.asarray(raw[k]) for k in SHARES)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)  # shares of a unit vector sum to 1


def test_makeup_in_1d_and_3d(x64):
    x = np.arange(6) - 2.5
    w1 = np.concatenate([np.zeros(6), np.sin(x), np.zeros(6)])  # 1D: any non-uniform flow is compressive
    s1 = np.asarray(shares_array(mode_makeup(jnp.asarray(w1 / np.linalg.norm(w1)), (6,))))
    assert s1[SHARES.index("v_compressive")] > 0.99 and s1[SHARES.index("v_rotational")] == 0
    X3, Y3, _ = np.meshgrid(*(np.arange(5) - 2.0,) * 3, indexing="ij")
    v = np.stack([-Y3, X3, np.zeros_like(X3)])  # rotation about the z axis
    w3 = np.concatenate([np.zeros((1, 5, 5, 5)), v, np.zeros((1, 5, 5, 5))]).reshape(-1)
    s3 = np.asarray(shares_array(mode_makeup(jnp.asarray(w3 / np.linalg.norm(w3)), (5, 5, 5))))
    assert s3[SHARES.index("v_rotational")] > 1 - 1e-12


# Hand-made states: what each label means physically, and a state that makes it the honest answer.
N = 16
XS, YS = (((a - 4.0) + N / 2) % N - N / 2 for a in rj.Lattice((N, N)).mesh())  # centred on tile (0, 0)
G = np.exp(-(XS**2 + YS**2) / 18.0)
ONE = np.ones((N, N))


def state(phi=ONE, v=None, S=ONE):
    return rj.State(jnp.asarray(phi), jnp.asarray(np.zeros((2, N, N)) if v is None else v), jnp.asarray(S))


def test_vortex_and_compression_states_in_tartan(x64):
    """TARTAN's shear heating κ|∇v|² turns a perturbation δv into entropy at the rate 2κ ∇v:∇δv. In a
    vortex core (∇v antisymmetric) that is 2κω ∇×δv: the most amplified perturbation spins the vortex
    up ("vortex"), and its output is entropy. In a converging flow (∇v = −a I) it is −2κa ∇·δv:
    a compression ("compressive drift")."""
    model, lat = rj.preset("tartan", kappa=20.0), rj.Lattice((N, N))
    vortex = analyze_tiles(model, lat, state(v=0.3 * np.stack([-YS, XS]) * G), 0.1, tile=B, k=2, method="euler")
    conv = analyze_tiles(model, lat, state(v=-0.3 * np.stack([XS, YS]) * G), 0.1, tile=B, k=2, method="euler")
    sv, sc = np.asarray(vortex.input_shares[0, 0]), np.asarray(conv.input_shares[0, 0])
    assert label_names(vortex.labels[0, 0]) == "vortex" and sv[SHARES.index("v_rotational")] > 0.6
    assert sv[SHARES.index("v_compressive")] < 0.1
    assert label_names(conv.labels[0, 0]) == "compressive drift" and sc[SHARES.index("v_compressive")] > 0.6
    assert sc[SHARES.index("v_rotational")] < 0.1
    assert label_names(vortex.output_labels[0, 0]) == "entropy wave"  # the response is heat


def test_scalar_bump_states(x64):
    """CENTERFUGE's source γφ² makes a φ perturbation in a φ bump an entropy source at the rate
    2γφ: the most amplified input is scalar ("scalar sink/source"). In RSVP a Φ bump makes the
    dominant *response* a change of Φ (a compression −Φ∇·δv moves the bump's capacity)."""
    lat = rj.Lattice((N, N))
    cf = analyze_tiles(rj.preset("centerfuge", gamma=1.0), lat, state(phi=1 + 2 * G), 0.1, tile=B, method="euler")
    assert label_names(cf.labels[0, 0]) == "scalar sink/source"
    assert float(cf.input_shares[0, 0, SHARES.index("phi")]) > 0.55
    rsvp = rj.preset("rsvp")
    phi = analyze_tiles(rsvp, lat, state(phi=1 + 2 * G), 0.1, tile=B, method="euler")
    ent = analyze_tiles(rsvp, lat, state(S=1 + 2 * G), 0.1, tile=B, method="euler")
    assert label_names(phi.output_labels[0, 0]) == "scalar sink/source"
    assert label_names(ent.output_labels[0, 0]) == "entropy wave"  # an S bump: the response is S
    assert float(ent.output_shares[0, 0, SHARES.index("S")]) > 0.5 > float(phi.output_shares[0, 0, SHARES.index("S")])


@pytest.fixture(params=["lapacke", "scipy"])
def eig_route(request, monkeypatch):
    """The Gram route's two eigen-solvers: LAPACKE through ctypes (threaded) and SciPy (serial)."""
    from rsvp_jax.linalg import _blocks

    if request.param == "lapacke":
        assert _blocks.lapacke() is not None, "SciPy's OpenBLAS LAPACKE was not found"
    else:
        monkeypatch.setattr(_blocks, "lapacke", lambda: None)
    return request.param


@pytest.mark.parametrize("method", ["gram", "svd"])
@pytest.mark.parametrize("m, n", [(6, 5), (5, 7)])  # tall, and wide (a halo block)
def test_tile_svd_matches_numpy_and_is_signed(x64, eig_route, method, m, n):
    rng = np.random.default_rng(0)
    J = rng.standard_normal((2, 3, m, n))
    # one ill-conditioned block (κ = 1e7): the Gram route must hand it to LAPACK's SVD
    u, _, vt = np.linalg.svd(J[1, 2], full_matrices=False)
    J[1, 2] = u @ np.diag(np.logspace(0, -7, min(m, n))) @ vt
    svd = tile_svd(J, k=2, chunk=4, method=method)
    s_np = np.linalg.svd(J, compute_uv=False)
    np.testing.assert_allclose(np.asarray(svd.sigma), s_np, rtol=1e-9, atol=0)
    U, V = np.asarray(svd.U), np.asarray(svd.V)  # rows: (..., k, m), (..., k, n)
    np.testing.assert_allclose(np.einsum("...mn,...kn->...km", J, V), U * s_np[..., :2, None], atol=1e-9)
    np.testing.assert_allclose(np.einsum("...kn,...kn->...k", V, V), 1.0, atol=1e-9)
    top = np.take_along_axis(V, np.argmax(np.abs(V), axis=-1)[..., None], axis=-1)
    assert np.all(top > 0)  # the largest entry of each input direction is positive
    assert tile_svd(J, k=0, method=method).U.shape == (2, 3, 0, m)


def test_tile_svd_repeated_top_values_give_orthonormal_pairs(x64, eig_route):
    # σ = (3, 3, 3, 2, 1, 1): the top-2 pair is any basis of a 3-dim space; it must still be one
    rng = np.random.default_rng(2)
    Qa, Qb = (np.linalg.qr(rng.standard_normal((6, 6)))[0] for _ in range(2))
    s = np.array([3.0, 3.0, 3.0, 2.0, 1.0, 1.0])
    J = np.stack([Qa @ np.diag(s) @ Qb.T] * 5)  # 5 blocks, chunk 2: three chunks over the workers
    svd = tile_svd(J, k=2, chunk=2)
    V, U = np.asarray(svd.V), np.asarray(svd.U)  # rows: (5, 2, 6)
    np.testing.assert_allclose(np.asarray(svd.sigma), np.broadcast_to(s, (5, 6)), rtol=1e-12)
    np.testing.assert_allclose(np.einsum("bkn,bjn->bkj", V, V), np.broadcast_to(np.eye(2), (5, 2, 2)), atol=1e-12)
    np.testing.assert_allclose(np.einsum("bmn,bkn->bkm", J, V), 3.0 * U, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(np.einsum("mi,bkm->bki", Qa[:, :3], U), axis=-1), 1.0, atol=1e-12)  # U in the top space


def test_tile_svd_float32_blocks_keep_their_dtype():
    J = np.eye(8, dtype=np.float32)[None] * np.float32(2.0)
    svd = tile_svd(J, k=1)
    assert svd.sigma.dtype == jnp.float32 and np.allclose(np.asarray(svd.sigma), 2.0)


def test_match_modes_recovers_a_permutation():
    Q = np.linalg.qr(np.random.default_rng(1).standard_normal((10, 4)))[0]
    perm = np.array([2, 0, 3, 1])
    later = Q[:, perm] * np.array([1, -1, 1, -1])  # reordered, some flipped
    match, overlap = match_modes(Q.T[None], later.T[None])  # modes as rows
    np.testing.assert_array_equal(match[0], np.argsort(perm))
    np.testing.assert_allclose(overlap[0], 1.0, atol=1e-12)


def test_trajectory_tracking(x64):
    lat, model = rj.Lattice((8, 8)), rj.preset("rsvp")
    traj = rj.simulate(model, lat, rj.initial_state(lat, "blobs", dtype="float64"), 0.05, 4, save_every=2, method="euler")
    analyses, evo = analyze_trajectory(model, lat, traj.states, 0.05, tile=4, method="euler", k=3, times=traj.times)
    assert evo.sigma_max.shape == (3, 2, 2) and evo.tracked_sigma.shape == (3, 2, 2, 3) and evo.overlap.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(evo.tracked_sigma[0], np.asarray(analyses[0].sigma)[..., :3])
    assert np.all((evo.overlap >= 0) & (evo.overlap <= 1 + 1e-12))
    assert evo.overlap[..., 0].mean() > 0.5  # two small steps apart, the top modes are mostly the same
    # a tracked mode's σ is the σ at the position it was matched to
    for t in range(3):
        np.testing.assert_allclose(evo.tracked_sigma[t], np.take_along_axis(np.asarray(analyses[t].sigma)[..., :3],
                                                                           evo.rank_order[t], axis=-1))
    assert set(np.unique(evo.labels)) <= set(range(len(LABELS)))
