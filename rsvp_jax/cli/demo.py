"""`rsvp demo`: the main job on its embedded default, for a new user."""

from __future__ import annotations

from ._common import Timer, out_dir, say


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the default demonstration and write its figures and summary",
                       description="Simulate the default RSVP lattice and write its trajectory, figures and summary.json.")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--quick", action="store_true", help="a smaller lattice and fewer steps")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import io
    from .._lattice import Lattice
    from .._state import initial_state
    from ..models import preset
    from .simulate import simulate_to_folder

    timer = Timer()
    out = out_dir(args.out)
    shape, steps = ((32, 32), 200) if args.quick else ((64, 64), 1000)
    lat = Lattice(shape)
    model = preset("rsvp")
    x0 = initial_state(lat, kind="blobs", seed=0)
    sim = simulate_to_folder(model, lat, x0, 0.05, steps, steps // 20, "ssprk3", out)
    summary = {"command": "demo", "simulation": sim, "files": sim["files"], "seconds_total": timer()}
    io.write_json(out / "summary.json", summary)
    say(f"demo finished in {summary['seconds_total']:.1f} s; figures and data in {out}/: {', '.join(summary['files'])}, summary.json")
    return 0
