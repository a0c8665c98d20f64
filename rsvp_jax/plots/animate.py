"""Animations of a run: the fields over a trajectory, and the tile label map over time.

```python
traj = rj.simulate(model, lat, x0, dt=0.05, steps=400, save_every=20)
rj.animate.animate_trajectory(traj, lat, "run.gif")                 # Φ, |v|, S, ∇×v per snapshot
analyses, evo = rj.jacobian.analyze_trajectory(model, lat, traj.states, 0.05, tile=8)
rj.animate.animate_labels(evo, lat, "labels.gif")                   # the dominant mode of each tile
```

One frame per snapshot. Each field keeps one colour scale over the whole run (its minimum
and maximum over all snapshots; the vorticity's symmetric about 0), so that what changes
between frames is the field and not the scale. The label map uses the colours of
`plots.plot_label_map`, which draws each frame.

The format follows the file name: `.gif` is written by Pillow; `.mp4` (H.264) by
imageio-ffmpeg, which ships its own ffmpeg binary in its wheel (`pip install imageio-ffmpeg`).
Like every file of `rsvp_jax.io`, an animation is written to a temporary name in its folder
and renamed into place, so a failure never leaves a half-written file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_path

FIELDS = {  # name → (panel title, colour map); the arrays come from `plots.field_panels`
    "phi": ("Φ", "viridis"),
    "speed": ("|v|", "magma"),
    "S": ("S", "cividis"),
    "vorticity": ("∇×v", "RdBu_r"),
}
FORMATS = (".gif", ".mp4")


def check_output(path, fps) -> Path:
    """`path` as a Path if its suffix is a known format and `fps` is positive (and for .mp4 ffmpeg is
    importable); else a `ConfigError`. Call it before long work, so a bad name fails early."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"animation path {str(path)!r} has suffix {path.suffix!r}; use one of {', '.join(FORMATS)}")
    if not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps={fps!r} is invalid; give a positive number of frames per second")
    if suffix == ".mp4":
        _ffmpeg()  # fail before rendering anything
    return path


def _ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ConfigError("writing an .mp4 needs imageio-ffmpeg: pip install imageio-ffmpeg "
                          "(or give a .gif path, which Pillow writes)") from None
    return imageio_ffmpeg


def write_frames(frames, path, fps: float = 5) -> Path:
    """Write RGB frames (each (H, W, 3) uint8, all one size) as a GIF or MP4, atomically."""
    path = check_output(path, fps)
    frames = [np.ascontiguousarray(np.asarray(f, np.uint8)[..., :3]) for f in frames]
    if not frames:
        raise ConfigError("an animation needs at least one frame; got none")
    if len({f.shape for f in frames}) > 1:
        raise ConfigError(f"every frame must have one size; got {sorted({f.shape for f in frames})}")
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".gif":
            _write_gif(frames, tmp, fps)
        else:
            _write_mp4(frames, tmp, fps)
    return path


def _write_gif(frames, tmp, fps):
    from PIL import Image

    # One adaptive palette per frame; no dithering keeps flat colours (the label map) flat.
    images = [Image.fromarray(f).quantize(colors=256, dither=Image.Dither.NONE) for f in frames]
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                   loop=0, optimize=False)


def _write_mp4(frames, tmp, fps):
    ffmpeg = _ffmpeg()
    h, w = frames[0].shape[:2]
    H, W = h + h % 2, w + w % 2  # yuv420p needs even sizes: pad with the last row / column
    writer = ffmpeg.write_frames(str(tmp), (W, H), fps=float(fps), codec="libx264", macro_block_size=1,
                                 output_params=["-f", "mp4"])  # the temporary name has no .mp4 suffix
    with warnings.catch_warnings():  # ffmpeg is fork+exec'd at once: JAX's threads cannot deadlock it
        warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
        writer.send(None)
    try:
        for f in frames:
            writer.send(np.pad(f, ((0, H - h), (0, W - w), (0, 0)), mode="edge").tobytes())
    finally:
        writer.close()


def _rgb(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _snapshots(traj):
    import jax

    states, times = traj.states, np.asarray(traj.times)
    n = int(np.asarray(states.phi).shape[0])
    if times.shape != (n,):
        raise ConfigError(f"the trajectory has {n} snapshots but {times.shape} times")
    return [jax.tree.map(lambda a: np.asarray(a[i]), states) for i in range(n)], times  # noqa: B023


def trajectory_frames(traj, lat, fields=tuple(FIELDS), title: str = "", dpi: int = 80) -> list[np.ndarray]:
    """The frames `animate_trajectory` writes: one RGB image per snapshot of `traj`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ._fields import field_panels

    fields = tuple(fields)
    bad = [f for f in fields if f not in FIELDS]
    if bad or not fields:
        raise ConfigError(f"fields {list(fields)!r} are invalid; choose one or more of {', '.join(FIELDS)}")
    states, times = _snapshots(traj)
    panels = [field_panels(lat, x) for x in states]
    data = {f: np.stack([p[f] for p in panels]) for f in fields}
    limits = {}
    for f, a in data.items():
        lo, hi = float(np.min(a)), float(np.max(a))
        if f == "vorticity":
            lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
        limits[f] = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)  # a constant field still gets a scale

    fig = Figure(figsize=(3.8 * len(fields), 3.5 if lat.ndim > 1 else 2.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(fields), squeeze=False)[0]
    artists = {}
    for ax, f in zip(axes, fields):
        label, cmap = FIELDS[f]
        lo, hi = limits[f]
        if lat.ndim == 1:
            (artists[f],) = ax.plot(lat.coords()[0], data[f][0])
            pad = 0.05 * (hi - lo)
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_xlabel("x")
        else:
            extent = (0, lat.extent[1], lat.extent[0], 0)
            artists[f] = ax.imshow(data[f][0], cmap=cmap, vmin=lo, vmax=hi, extent=extent, origin="upper")
            fig.colorbar(artists[f], ax=ax, shrink=0.8)
            ax.set_xlabel("axis 2")
            ax.set_ylabel("axis 1")
        ax.set_title(label + (" (z mid-plane)" if lat.ndim == 3 else ""))
    heading = fig.suptitle("")
    frames = []
    for i, t in enumerate(times):
        for f in fields:
            if lat.ndim == 1:
                artists[f].set_ydata(data[f][i])
            else:
                artists[f].set_data(data[f][i])
        heading.set_text(f"{title + ', ' if title else ''}t = {float(t):.4g}")
        frames.append(_rgb(fig))
        if i == 0:  # the layout, solved for the first frame, holds for all (solving it per frame was most of the time)
            fig.set_layout_engine("none")
    return frames


def animate_trajectory(traj, lat, path, fields=tuple(FIELDS), fps: float = 5, *, title: str = "",
                       dpi: int = 80) -> Path:
    """Write the fields of every snapshot of `traj` (an `rj.Trajectory`) as an animation.

    - `fields`: panels from `FIELDS` — `"phi"`, `"speed"` (|v|), `"S"`, `"vorticity"` (∇×v;
      0 in 1D, its z component in 3D) — each on one colour scale over the whole run; 3D
      lattices show the z mid-plane, 1D ones a line per field.
    - `path`: `*.gif` or `*.mp4` (see the module docstring); `fps` frames per second.

    Returns `path`. Raises `ConfigError` on an unknown field, suffix or fps.
    """
    check_output(path, fps)
    return write_frames(trajectory_frames(traj, lat, fields, title, dpi), path, fps)


def _label_series(evolution_or_analyses, times):
    """(labels (T, *G), times (T,)) from a `TileEvolution` or a list of `TileAnalysis`."""
    if hasattr(evolution_or_analyses, "labels") and hasattr(evolution_or_analyses, "times"):  # TileEvolution
        labels = np.asarray(evolution_or_analyses.labels)
        times = np.asarray(evolution_or_analyses.times) if times is None else np.asarray(times)
    else:
        items = list(evolution_or_analyses)
        if not items or not all(hasattr(a, "labels") for a in items):
            raise ConfigError("animate_labels needs a TileEvolution or a non-empty list of TileAnalysis "
                              f"(from rj.jacobian.analyze_trajectory / analyze_tiles); got {type(evolution_or_analyses).__name__}")
        labels = np.stack([np.asarray(a.labels) for a in items])
        times = np.arange(len(items)) if times is None else np.asarray(times)
    if times.shape != labels.shape[:1]:
        raise ConfigError(f"{labels.shape[0]} label maps but times of shape {times.shape}; give one time per map")
    return labels, times


def label_frames(evolution_or_analyses, lat, times=None, title: str = "dominant mode of each tile",
                 dpi: int = 80) -> list[np.ndarray]:
    """The frames `animate_labels` writes: `plots_jacobian.plot_label_map` at each time."""
    import matplotlib.pyplot as plt

    from ._jacobian import plot_label_map

    labels, times = _label_series(evolution_or_analyses, times)
    frames = []
    for lab, t in zip(labels, times):
        fig = plot_label_map(lab, lat, title=f"{title}, t = {float(t):.4g}")
        fig.set_dpi(dpi)
        try:
            frames.append(_rgb(fig))
        finally:
            plt.close(fig)
    return frames


def animate_labels(evolution_or_analyses, lat, path, fps: float = 2, *, times=None,
                   title: str = "dominant mode of each tile", dpi: int = 80) -> Path:
    """Write the tile label map over time as an animation, one frame per snapshot.

    `evolution_or_analyses`: the `TileEvolution` of `rj.jacobian.analyze_trajectory` /
    `track` (its `times` title the frames), or a list of `TileAnalysis` (then `times`
    defaults to 0, 1, …). The colours and the legend (with each label's tile count) are
    those of `plots_jacobian.plot_label_map`. Returns `path`.
    """
    check_output(path, fps)
    return write_frames(label_frames(evolution_or_analyses, lat, times, title, dpi), path, fps)


__all__ = ["FIELDS", "FORMATS", "check_output", "animate_trajectory", "animate_labels", "trajectory_frames",
           "label_frames", "write_frames"]
