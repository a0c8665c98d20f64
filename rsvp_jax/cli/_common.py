"""What every subcommand shares: one-line argument errors, model / lattice flags, output folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from ..runs import Timer, say  # noqa: F401  (what every subcommand prints with)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), not a usage dump."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def parse_shape(text: str) -> tuple[int, ...]:
    """'64,64' → (64, 64)."""
    try:
        shape = tuple(int(p) for p in str(text).replace("x", ",").split(","))
    except ValueError:
        raise ConfigError(f"--shape {text!r} is not a comma-separated list of integers, e.g. 64,64") from None
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ConfigError(f"--shape {text!r} is invalid; give 1 to 3 positive sizes, e.g. 128 or 64,64 or 32,32,32")
    return shape


def parse_assignments(items, model, flag: str = "--set") -> dict:
    """['gamma=0.2', 'advect_v=true'] → typed values for `model.replace`."""
    out = {}
    fields = model.params()
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"{flag} {item!r} is not NAME=VALUE")
        key, value = (s.strip() for s in item.split("=", 1))
        if key not in fields:
            raise ConfigError(f"{flag} {key!r}: preset {model.name!r} has no such parameter; its parameters are {', '.join(fields)}")
        out[key] = _convert(value, fields[key], f"{flag} {key}")
    return out


def _convert(text: str, like, what: str):
    if isinstance(like, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{what}={text!r} is not a boolean (true/false)")
    if isinstance(like, str):
        return text
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{what}={text!r} is not a number") from None
    if isinstance(like, int):
        if value != int(value):
            raise ConfigError(f"{what}={text!r} is not an integer")
        return int(value)
    return value


def add_model_args(p, *, steps: int | None = 1000, dt: float = 0.05, shape: str = "64,64") -> None:
    """--preset, --shape, --spacing, --dt, [--steps], --method, --set, --init, --seed, --dtype."""
    from ..integrate import METHODS
    from ..state import DTYPES, INITIAL_KINDS

    g = p.add_argument_group("model and lattice")
    g.add_argument("--preset", default="rsvp", help="equation set (see --list-presets); default rsvp")
    g.add_argument("--shape", default=shape, help=f"lattice cells per axis, 1 to 3 axes (default {shape})")
    g.add_argument("--spacing", type=float, default=1.0, help="cell width h (default 1)")
    g.add_argument("--dt", type=float, default=dt, help=f"time step (default {dt})")
    if steps is not None:
        g.add_argument("--steps", type=int, default=steps, help=f"number of steps (default {steps})")
    g.add_argument("--method", default="ssprk3", choices=METHODS, help="integrator (default ssprk3)")
    g.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="change a model parameter (repeatable)")
    g.add_argument("--init", default="blobs", choices=INITIAL_KINDS, help="initial condition (default blobs)")
    g.add_argument("--seed", type=int, default=0, help="random seed of the initial condition (default 0)")
    g.add_argument("--dtype", default="float32", choices=DTYPES, help="float32 (default) or float64")
    g.add_argument("--list-presets", action="store_true", help="list the presets and their parameters, then exit")


def list_presets() -> None:
    from ..models import presets

    for name, info in presets().items():
        dims = "/".join(f"{d}D" for d in info["dims"])
        print(f"{name:11s} {dims:9s} {info['summary']}")
        print(" " * 12 + ", ".join(f"{k}={v}" for k, v in info["params"].items()))


def setup_dtype(dtype: str) -> None:
    """float64 needs `jax_enable_x64` before any array is made."""
    if dtype == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)


def model_and_lattice(args):
    """(model, lattice) from the `add_model_args` flags, without any array: bad values raise
    ConfigError. The memory a run needs is checked between this and `initial_from_args`."""
    from ..lattice import Lattice
    from ..models import preset

    setup_dtype(args.dtype)
    model = preset(args.preset)
    model = model.replace(**parse_assignments(args.set, model))
    lat = Lattice(parse_shape(args.shape), args.spacing)
    model.check_lattice(lat)
    check_seed(args.seed, "--seed")
    return model, lat


def initial_from_args(args, lat):
    """The initial state the --init / --seed / --dtype flags name."""
    from ..state import initial_state

    return initial_state(lat, kind=args.init, seed=args.seed, dtype=args.dtype)


def model_from_args(args):
    """(model, lattice, initial state) from the `add_model_args` flags; bad values raise ConfigError."""
    model, lat = model_and_lattice(args)
    return model, lat, initial_from_args(args, lat)


def check_seed(seed, flag: str = "--seed") -> int:
    """A random seed must be a whole number >= 0 (NumPy's generators take no negative seed)."""
    if int(seed) != seed or seed < 0:
        raise ConfigError(f"{flag} {seed} is invalid; a seed is a whole number >= 0")
    return int(seed)


def add_output_args(p, default: str) -> None:
    """--out DIR and --overwrite."""
    p.add_argument("--out", default=default, help=f"output folder (default {default})")
    p.add_argument("--overwrite", action="store_true",
                   help="replace what --out holds even if another command wrote it (default: refuse)")


def open_out(args, command: str, *, staged: bool = True):
    """`rsvp_jax.runs.open_output` of `--out`: checked, locked, staged (see there)."""
    from ..runs import open_output

    return open_output(args.out, command, overwrite=getattr(args, "overwrite", False), staged=staged)


def out_dir(path, create: bool = True) -> Path:
    """The output folder `--out` names; made now unless `create=False` (then on the first write).

    Prefer `open_out`, which also refuses foreign folders, locks and stages."""
    from ..runs import check_writable

    out = check_writable(path)
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out
