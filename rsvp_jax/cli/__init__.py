"""The `rsvp` command: one subcommand per module in this package, the top floor of the project.

Each subcommand module defines `register(subparsers)`, which adds its parser and sets
`func` (a callable taking the parsed arguments). Bad input anywhere below raises an
`RsvpError`; here it becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import importlib
import sys

from ..errors import RsvpError
from ._common import ArgumentParser

# Subcommands, in the order `rsvp --help` lists them.
SUBCOMMANDS = ("simulate", "jacobian", "sweep", "fit", "llm-jacobian", "compare", "bench", "demo")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="rsvp", description="RSVP field simulations, tile Jacobians and LLM spectra.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RsvpError as e:
        print(f"rsvp {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rsvp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
