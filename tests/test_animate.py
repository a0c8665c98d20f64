"""Animations: frame counts and sizes, frames that change over time, atomic writes, the CLI flags."""

import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import rsvp_jax as rj
from rsvp_jax import animate
from rsvp_jax.jacobian import LABELS, TileEvolution
from rsvp_jax.plots import LABEL_COLOURS
from cli_helpers import run_cli


@pytest.fixture(scope="module")
def run2d():
    lat = rj.Lattice((12, 12))
    model = rj.preset("rsvp").replace(gamma=0.2)
    traj = rj.simulate(model, lat, rj.initial_state(lat, kind="blobs", seed=0), dt=0.05, steps=40, save_every=10)
    return lat, traj


def gif_frames(path):
    """Every frame of a GIF as an RGB array, and the GIF's size."""
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
        return frames, im.size


def assert_frames_change(frames):
    for a, b in zip(frames[:-1], frames[1:]):
        assert np.mean(np.any(a != b, axis=-1)) > 1e-3  # more than the odd pixel


def test_trajectory_gif_frames_size_and_change(run2d, tmp_path):
    lat, traj = run2d
    path = animate.animate_trajectory(traj, lat, tmp_path / "run.gif", fps=4)
    frames, size = gif_frames(path)
    assert len(frames) == len(traj) == 5
    assert size == (round(3.8 * 4 * 80), round(3.5 * 80))  # four panels at the default dpi
    assert_frames_change(frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.gif"]  # no temporary file left
    with Image.open(path) as im:
        assert im.info["duration"] == 250 and im.info["loop"] == 0


def test_field_subset_and_1d(tmp_path):
    lat = rj.Lattice((24,))
    traj = rj.simulate(rj.preset("rsvp"), lat, rj.initial_state(lat, kind="blobs", seed=1), dt=0.05, steps=8,
                       save_every=4)
    frames, size = gif_frames(animate.animate_trajectory(traj, lat, tmp_path / "a.gif", fields=("phi", "S"), dpi=50))
    assert len(frames) == 3 and size == (round(3.8 * 2 * 50), round(2.8 * 50))
    assert_frames_change(frames)


def fake_evolution(T=3, grid=(3, 3)):
    """Label maps that change from one time to the next."""
    labels = np.stack([(np.arange(np.prod(grid)).reshape(grid) + t) % len(LABELS) for t in range(T)])
    z = np.zeros((T,) + grid)
    return TileEvolution(times=np.linspace(0, 1, T), sigma_max=z, effective_rank=z, labels=labels,
                         tracked_sigma=z[..., None], overlap=z[1:, ..., None], rank_order=z[..., None].astype(int))


def test_label_gif_from_evolution_and_from_analyses(tmp_path):
    lat = rj.Lattice((12, 12))
    evo = fake_evolution()
    frames, size = gif_frames(animate.animate_labels(evo, lat, tmp_path / "labels.gif"))
    assert len(frames) == 3 and size == (round(6.4 * 80), round(4.6 * 80))  # plot_label_map's figure
    assert_frames_change(frames)
    # the label colours are plot_label_map's: each appears in the frame
    from matplotlib.colors import to_rgb

    for colour in LABEL_COLOURS:
        rgb = np.round(np.array(to_rgb(colour)) * 255)
        assert np.any(np.all(np.abs(frames[0].astype(int) - rgb) <= 2, axis=-1)), colour

    # a list of analyses: only their label maps matter (real ones come from the CLI test below)
    analyses = [SimpleNamespace(labels=evo.labels[0]) for _ in range(2)]
    frames, _ = gif_frames(animate.animate_labels(analyses, lat, tmp_path / "two.gif", times=[0.0, 0.5]))
    assert len(frames) == 2 and not np.array_equal(frames[0], frames[1])  # the titles' times differ
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.gif", "two.gif"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(path="a.png"), "suffix '.png'; use one of .gif, .mp4"),
    (dict(fields=("phi", "pressure")), "choose one or more of phi, speed, S, vorticity"),
    (dict(fps=0), "fps=0 is invalid"),
])
def test_bad_arguments_name_the_value(run2d, tmp_path, kwargs, message):
    lat, traj = run2d
    kwargs = {"path": "a.gif", **kwargs}
    kwargs["path"] = tmp_path / kwargs["path"]
    with pytest.raises(rj.ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        animate.animate_trajectory(traj, lat, **kwargs)
    assert not any(tmp_path.iterdir())
    with pytest.raises(rj.ConfigError, match="TileEvolution or a non-empty list"):
        animate.animate_labels([], lat, tmp_path / "l.gif")


def test_a_failed_write_leaves_nothing(run2d, tmp_path, monkeypatch):
    lat, traj = run2d

    def broken(frames, tmp, fps):
        tmp.write_bytes(b"GIF89a half")
        raise OSError("disk full")

    monkeypatch.setattr(animate, "_write_gif", broken)
    with pytest.raises(OSError, match="disk full"):
        animate.write_frames([np.zeros((4, 4, 3), np.uint8)] * 2, tmp_path / "a.gif")
    assert not any(tmp_path.iterdir())


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # reading back runs ffmpeg as a subprocess
def test_mp4(tmp_path, monkeypatch):
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (33, 47, 3), dtype=np.uint8) for _ in range(4)]  # odd sizes get padded
    path = animate.write_frames(frames, tmp_path / "a.mp4", fps=8)
    reader = ffmpeg.read_frames(str(path))
    meta = next(reader)
    assert tuple(meta["size"]) == (48, 34) and sum(1 for _ in reader) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if it were not installed
    with pytest.raises(rj.ConfigError, match="needs imageio-ffmpeg: pip install imageio-ffmpeg"):
        animate.write_frames(frames, tmp_path / "b.mp4")


def test_cli_simulate_animate(tmp_path, capsys):
    out = tmp_path / "sim"
    code, _, err = run_cli(capsys, "simulate", "--shape", "12,12", "--steps", "8", "--save-every", "2",
                           "--out", str(out), "--quiet", "--animate")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert "animation.gif" in summary["files"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*summary["files"], "summary.json"])
    frames, _ = gif_frames(out / "animation.gif")
    assert len(frames) == summary["snapshots"] == 5


def test_cli_jacobian_evolve_animate(tmp_path, capsys):
    out = tmp_path / "jac"
    code, _, err = run_cli(capsys, "jacobian", "--shape", "6,6", "--tile", "3", "--topk", "0", "--modes", "1",
                           "--evolve", "2", "--snapshots", "3", "--method", "euler", "--horizon", "none",
                           "--out", str(out), "--quiet", "--animate")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert "labels.gif" in summary["files"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*summary["files"], "summary.json"])
    frames, _ = gif_frames(out / "labels.gif")
    assert len(frames) == len(summary["evolution"]["times"]) == 3

    code, _, err = run_cli(capsys, "jacobian", "--shape", "8,8", "--tile", "4", "--animate", "--out", str(tmp_path / "x"))
    assert code == 2 and "--animate" in err and "--evolve" in err and len(err.strip().splitlines()) == 1
