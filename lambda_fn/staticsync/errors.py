"""The few ways a deploy can fail, each with a message that says what to check."""

from __future__ import annotations


class SyncError(Exception):
    """Base class of every error the sync package raises on purpose."""


class ConfigError(SyncError, ValueError):
    """The Lambda's environment is wrong; the message names the variable."""


class ArtifactRejected(SyncError, ValueError):
    """The artifact breaks the contract: permanent, never retried, the live site untouched.

    `code` is a stable reason for logs, metrics and alarms; `member` names the offending entry.
    """

    def __init__(self, code: str, message: str, member: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.member = member


class LiveStateError(SyncError, RuntimeError):
    """The live bucket holds something we cannot read, so we cannot plan safely."""


class LiveChanged(SyncError, RuntimeError):
    """Another deploy moved the live release while we planned: our cutover was refused.

    Transient: a retry re-plans against the new live state.
    """


class OutOfTime(SyncError, RuntimeError):
    """The invocation is about to time out; we stopped before the cutover."""
