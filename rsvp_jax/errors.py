"""The errors `rsvp_jax` raises on bad input.

Every one carries a one-line message that names the bad value and what would be valid;
the command line prints that line and exits with status 2.
"""


class RsvpError(Exception):
    """Base class: bad input or a run that cannot go on. The CLI turns it into exit status 2."""


class ConfigError(RsvpError, ValueError):
    """A bad parameter, preset, shape, tile size, method name or file layout."""


class UnstableTimestepError(RsvpError, ValueError):
    """The time step violates an explicit stability limit of the model."""


class NonFiniteError(RsvpError, FloatingPointError):
    """A NaN or inf appeared during a run.

    `step` is the first step whose result is not finite, `field` the first field in which it
    appeared, and `trajectory` the snapshots saved before it (a `Trajectory`, possibly with
    no snapshot), so that nothing already computed is lost.
    """

    def __init__(self, message, *, step=None, field=None, trajectory=None):
        super().__init__(message)
        self.step = step
        self.field = field
        self.trajectory = trajectory
