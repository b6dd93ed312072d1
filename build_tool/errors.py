"""The build tool's own error types: a user mistake, and a cancelled run."""

from __future__ import annotations

import signal


class UsageError(ValueError):
    """A flag or setting is wrong; the message names it and says what to pass instead."""


class Cancelled(BaseException):
    """SIGTERM or SIGINT arrived: unwind (removing temporary folders, stopping workers) and exit.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way reports it as
    a collect or packing failure.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
