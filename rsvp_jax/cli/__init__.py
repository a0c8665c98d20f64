"""The `rsvp` command: one subcommand per module in this package, the top floor of the project.

Each subcommand module defines `register(subparsers)`, which adds its parser and sets
`func` (a callable taking the parsed arguments). Bad input anywhere below raises an
`RsvpError`; here it becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

from ..errors import RsvpError
from ._common import ArgumentParser

# Subcommands, in the order `rsvp --help` lists them.
SUBCOMMANDS = ("simulate", "jacobian", "sweep", "fit", "llm-jacobian", "compare", "bench", "demo")


def build_parser() -> ArgumentParser:
    from ..provenance import version

    parser = ArgumentParser(prog="rsvp", description="RSVP field simulations, tile Jacobians and LLM spectra.")
    parser.add_argument("--version", action="version", version=f"rsvp {version()} (rsvp-jax)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
    return parser


#: Third-party messages that say nothing to our user: transformers' advice that PyTorch is absent
#: (the bridge needs no PyTorch) and matplotlib's missing-glyph warnings (emoji in a prompt).
QUIET_ENV = {"TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "TRANSFORMERS_VERBOSITY": "error"}
QUIET_WARNINGS = (r"Glyph \d+ .*missing from font", r".*PyTorch was not found")


def main(argv=None) -> int:
    from ..provenance import recording

    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings(), recording(argv):
            for pattern in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            return int(args.func(args) or 0)
    except RsvpError as e:
        print(f"rsvp {args.command}: error: {e}", file=sys.stderr)
        return 2
    except MemoryError as e:  # the estimates refuse what cannot fit; this is the last line of defence
        print(f"rsvp {args.command}: error: out of memory ({str(e).splitlines()[0] if str(e) else 'MemoryError'}); "
              "use a smaller --shape or fewer snapshots", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rsvp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
