"""Which command line is running: recorded in the global attributes of every file written.

`rsvp_jax.cli.main` sets it around a subcommand (`with provenance.recording(argv): ...`);
`rsvp_jax.io.save_dataset` reads it into the CF `history` attribute. Library calls outside
the command line record the Python call instead ("rsvp_jax (Python API)").
"""

from __future__ import annotations

import contextlib
import contextvars
import shlex

_COMMAND = contextvars.ContextVar("rsvp_command_line", default=None)


@contextlib.contextmanager
def recording(argv):
    """Within the block, `command_line()` is `rsvp ARGV...` (shell-quoted)."""
    token = _COMMAND.set(" ".join(shlex.quote(str(a)) for a in ["rsvp", *argv]))
    try:
        yield
    finally:
        _COMMAND.reset(token)


def version() -> str:
    """The installed rsvp-jax version ("unknown" when run from a source tree that is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("rsvp-jax")
    except metadata.PackageNotFoundError:
        return "unknown"


def command_line() -> str:
    """The running `rsvp ...` command line, or "rsvp_jax (Python API)" outside the command line."""
    return _COMMAND.get() or "rsvp_jax (Python API)"


__all__ = ["recording", "command_line", "version"]
