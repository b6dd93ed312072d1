"""The live bucket an operation works on, one run's facts, and the S3 error codes we act on, named once."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import Settings
from .meter import RequestMeter
from .report import SyncReport

MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# A conditional write that lost: 412 on AWS and SeaweedFS, 409 when two conditional writes race on AWS.
WRITE_CONFLICT = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
# An IfMatch write whose object changed or went away: AWS answers a missing key with 404, SeaweedFS 412.
CONDITION_FAILED = WRITE_CONFLICT | MISSING


def error_code(error: Exception) -> str:
    """The S3 error code of a botocore ClientError (as a string: some are HTTP statuses), else ''."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class LiveBucket:
    """The live bucket and the configuration every operation on it reads."""

    client: Any
    settings: Settings


@dataclass(frozen=True)
class Staged:
    """An object under the staging prefix: an artifact or a request, with the size its event gave."""

    bucket: str
    key: str
    size: int | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def forever() -> float:
    return float("inf")


@dataclass
class Run:
    """One record's work: the report it fills in, the meter of its requests, and its deadline."""

    report: SyncReport
    meter: RequestMeter = field(default_factory=RequestMeter)
    remaining_seconds: Callable[[], float] = forever
    started: float = field(default_factory=time.monotonic)

    def finish(self) -> SyncReport:
        """Stamp the report with the run's seconds and requests."""
        self.report.seconds = round(time.monotonic() - self.started, 3)
        self.report.s3_requests = self.meter.total
        self.report.requests_by_operation = self.meter.by_operation()
        return self.report
