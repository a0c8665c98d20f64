"""Running the `rsvp` command in-process, as the CLI tests do."""

from rsvp_jax.cli import main


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of `rsvp ARGV...`; argparse's own errors count as exit statuses."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err
