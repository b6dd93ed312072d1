"""`--wait`: poll the report object of a staged artifact until the function has written its outcome.

The function writes `<report prefix><artifact key>.json` in the artifacts bucket after every outcome,
carrying the ETag of the upload it deployed. Polling it is one GET per attempt on a backoff of
0.5, 1, 2, 4, then every 5 s: a deploy that reports 4 s after the upload costs 4 GETs (plus one HEAD
before staging and one after), one that takes a minute 15 (`polls_within`). When the key already has a
report (the same release staged again), each GET carries IfNoneMatch with the report's ETag, so an
unchanged report answers 304 with no body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from staticsync.notify.report_object import normal_etag, report_key_for

from .errors import WaitError, Where, code_of, translated

BACKOFF = (0.5, 1.0, 2.0, 4.0)
MAX_DELAY = 5.0
# Lambda retries a failed asynchronous invocation twice, about 1 and 2 minutes apart: after a
# "failed" report, wait this long for the retry's report before settling on the failure.
RETRY_GRACE = 180.0
NOT_YET = frozenset({"304", "NotModified", "404", "NoSuchKey"})
# What to grant when reading the report is denied.
REPORT_HINT = "CI needs s3:GetObject on the report prefix"


class WaitTimeout(Exception):
    """No report on this upload arrived in time; the message says where to look."""


def delays() -> Iterator[float]:
    """Seconds to sleep before each poll."""
    yield from BACKOFF
    while True:
        yield MAX_DELAY


def polls_within(seconds: float) -> int:
    """How many GETs a wait costs when the report appears `seconds` after staging."""
    count, elapsed = 0, 0.0
    for delay in delays():
        count, elapsed = count + 1, elapsed + delay
        if elapsed >= seconds:
            return count
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Polling:
    """A wait's timing: `timeout` in all, `retry_grace` for a retry's report after a "failed" one,
    and the clock it runs on (tests pass a fake one)."""

    timeout: float
    retry_grace: float = RETRY_GRACE
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)


@dataclass(frozen=True)
class ReportObject:
    """The report object the function writes for one staged key, read through `client`."""

    client: Any
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def etag(self) -> str | None:
        """The ETag of the report already there (an earlier upload's), or None."""
        with translated(WaitError, "reading", Where(self.bucket, self.key), REPORT_HINT):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self.key)
            except ClientError as error:
                if code_of(error) not in NOT_YET:
                    raise
                return None
        return normal_etag(head["ETag"])

    def fetch(self, seen: str | None) -> tuple[str, dict[str, Any]] | None:
        """(report ETag, report) when there is one other than `seen`, else None."""
        extra = {"IfNoneMatch": f'"{seen}"'} if seen else {}
        with translated(WaitError, "reading", Where(self.bucket, self.key), REPORT_HINT):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self.key, **extra)
            except ClientError as error:
                if code_of(error) not in NOT_YET:
                    raise
                return None
            body = response["Body"].read()
        report: dict[str, Any] = json.loads(body)
        return normal_etag(response["ETag"]) or "", report


def wait_for_report(
    report: ReportObject,
    etag: str,
    polling: Polling,
    *,
    after: str | None = None,
    on_failed_attempt: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The report on the upload whose ETag is `etag`.

    `after` is the report ETag seen before staging, so a report already there is not taken for ours.
    A "failed" report is returned only once no retry's report followed it within the polling's
    `retry_grace` (or the timeout). Raises WaitTimeout when no report on this upload came.
    """
    clock = polling.clock
    deadline = clock() + polling.timeout
    seen, failed, settle = after, None, deadline
    for delay in delays():
        polling.sleep(max(0.0, min(delay, settle - clock())))
        found = report.fetch(seen)
        if found is not None:
            seen, document = found
            if normal_etag(document.get("artifact_etag")) == normal_etag(etag):
                if document.get("outcome") != "failed":
                    return document
                failed, settle = document, min(deadline, clock() + polling.retry_grace)
                if on_failed_attempt is not None:
                    on_failed_attempt(document)
        if clock() >= settle:
            break
    if failed is not None:
        return failed
    raise WaitTimeout(
        f"no report on this upload at {report.uri} after {polling.timeout:.0f} s: the deploy may still "
        "be queued or running; see the function's log (deploy finished / deploy failed) or wait longer "
        "with --timeout"
    )


class Waiter:
    """Waits for one artifact's report: note what is there before staging, then wait for ours."""

    def __init__(
        self, client: Any, bucket: str, artifact_key: str, report_prefix: str, timeout: float
    ) -> None:
        self.report = ReportObject(client, bucket, report_key_for(report_prefix, artifact_key))
        self.polling = Polling(timeout)
        self.after: str | None = None

    @property
    def uri(self) -> str:
        return self.report.uri

    @classmethod
    def for_args(cls, client: Any, args: Any, artifact_key: str) -> Waiter | None:
        """A waiter that has looked before staging, for `--wait`; None without it."""
        if not getattr(args, "wait", False):
            return None
        waiter = cls(client, args.bucket, artifact_key, args.report_prefix, args.timeout)
        waiter.before_staging()
        return waiter

    def before_staging(self) -> None:
        self.after = self.report.etag()

    def wait(self, etag: str | None, polling: Polling | None = None) -> dict[str, Any]:
        """The report on the upload `etag`, polling as `polling` says (default: the --timeout's)."""
        if not etag:
            raise WaitError(
                "cannot read the staged artifact's ETag back: --wait needs s3:GetObject on the staging prefix"
            )
        return wait_for_report(self.report, etag, polling or self.polling, after=self.after)


def describe(report: dict[str, Any]) -> str:
    """One line for people: the outcome, the release, what changed."""
    line = (
        f"{report.get('outcome')}: release {report.get('release')} "
        f"(live before: {report.get('live_release_before')}, after: {report.get('live_release_after')}): "
        f"{report.get('files_uploaded', 0)} of {report.get('files_total', 0)} files uploaded "
        f"({report.get('bytes_uploaded', 0)} bytes), {report.get('s3_requests', 0)} S3 requests, "
        f"{report.get('seconds', 0)} s"
    )
    if report.get("reason"):
        line += f"; {report['reason']}: {report.get('detail')}"
    return line
