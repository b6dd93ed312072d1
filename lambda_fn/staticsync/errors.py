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


class ArtifactGone(SyncError, LookupError):
    """The staged object no longer exists (deleted, or expired by the lifecycle rule) when the event is
    handled: nothing to deploy, so the record is skipped (`artifact_gone`), not retried and not tagged."""


class TransientReadError(SyncError, RuntimeError):
    """Reading the artifact failed in a way a retry can fix (read timeout, dropped connection, 5xx,
    throttling). Raised so Lambda retries the event; never a verdict about the artifact's bytes.

    Deliberately neither an OSError nor a ValueError: zipfile's errors are, and a failed read must not
    be mistaken for a damaged archive.
    """


class ObjectTooLarge(SyncError, ValueError):
    """A staged request larger than any real one: not read, so it cannot exhaust the function's memory."""
