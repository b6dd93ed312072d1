"""`--wait`: poll the report object of a staged artifact until the function has written its outcome.

The function writes `<report prefix><artifact key>.json` in the artifacts bucket after every outcome,
carrying the ETag of the upload it deployed. Polling it is one GET per attempt on a backoff of
0.5, 1, 2, 4, then every 5 s: a deploy that reports 4 s after the upload costs 4 GETs (plus one HEAD
before staging and one after), one that takes a minute 15 (`polls_within`). When the key already has a
report (the same release staged again), each GET carries IfNoneMatch with the report's ETag, so an
unchanged report answers 304 with no body.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from staticsync.notify.report_object import normal_etag, report_key_for

BACKOFF = (0.5, 1.0, 2.0, 4.0)
MAX_DELAY = 5.0
DEFAULT_TIMEOUT = 600.0


def add_wait_arguments(parser: argparse.ArgumentParser, what: str = "the function's report") -> None:
    """--wait, --timeout and --report-prefix, the same for every command that stages something."""
    parser.add_argument("--wait", action="store_true", help=f"wait for {what} and print it")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds --wait waits for the report (default: {DEFAULT_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--report-prefix", default="reports/", help="the stack's REPORT_PREFIX (default: reports/)"
    )


# Lambda retries a failed asynchronous invocation twice, about 1 and 2 minutes apart: after a
# "failed" report, wait this long for the retry's report before settling on the failure.
RETRY_GRACE = 180.0
NOT_YET = frozenset({"304", "NotModified", "404", "NoSuchKey"})


class WaitTimeout(Exception):
    """No report on this upload arrived in time; the message says where to look."""


class WaitError(Exception):
    """The report cannot be read (permissions, network); the message says what to grant or check."""


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


def current_report_etag(client: Any, bucket: str, key: str) -> str | None:
    """The ETag of the report object already at `key` (an earlier upload's), or None."""
    try:
        return normal_etag(client.head_object(Bucket=bucket, Key=key)["ETag"])
    except ClientError as error:
        if _code(error) in NOT_YET:
            return None
        raise _unreadable(bucket, key, error) from None
    except BotoCoreError as error:
        raise WaitError(f"cannot reach S3: {error}") from None


def fetch_report(client: Any, bucket: str, key: str, seen: str | None) -> tuple[str, dict[str, Any]] | None:
    """(report ETag, report) when there is one other than `seen`, else None."""
    extra = {"IfNoneMatch": f'"{seen}"'} if seen else {}
    try:
        response = client.get_object(Bucket=bucket, Key=key, **extra)
    except ClientError as error:
        if _code(error) in NOT_YET:
            return None
        raise _unreadable(bucket, key, error) from None
    except BotoCoreError as error:
        raise WaitError(f"cannot reach S3: {error}") from None
    report: dict[str, Any] = json.loads(response["Body"].read())
    return normal_etag(response["ETag"]) or "", report


def wait_for_report(
    client: Any,
    bucket: str,
    key: str,
    etag: str,
    timeout: float,
    *,
    after: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    retry_grace: float = RETRY_GRACE,
    on_failed_attempt: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The report on the upload whose ETag is `etag`, polling s3://bucket/key.

    `after` is the report ETag seen before staging, so a report already there is not taken for ours.
    A "failed" report is returned only once no retry's report followed it within `retry_grace`
    (or the timeout). Raises WaitTimeout when no report on this upload came.
    """
    deadline = clock() + timeout
    seen, failed, settle = after, None, deadline
    for delay in delays():
        sleep(max(0.0, min(delay, settle - clock())))
        found = fetch_report(client, bucket, key, seen)
        if found is not None:
            seen, report = found
            if normal_etag(report.get("artifact_etag")) == normal_etag(etag):
                if report.get("outcome") != "failed":
                    return report
                failed, settle = report, min(deadline, clock() + retry_grace)
                if on_failed_attempt is not None:
                    on_failed_attempt(report)
        if clock() >= settle:
            break
    if failed is not None:
        return failed
    raise WaitTimeout(
        f"no report on this upload at s3://{bucket}/{key} after {timeout:.0f} s: the deploy may still be "
        "queued or running; see the function's log (deploy finished / deploy failed) or wait longer "
        "with --timeout"
    )


class Waiter:
    """Waits for one artifact's report: note what is there before staging, then wait for ours."""

    def __init__(
        self, client: Any, bucket: str, artifact_key: str, report_prefix: str, timeout: float
    ) -> None:
        self.client, self.bucket, self.timeout = client, bucket, timeout
        self.key = report_key_for(report_prefix, artifact_key)
        self.after: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def for_args(cls, client: Any, args: Any, artifact_key: str) -> Waiter | None:
        """A waiter that has looked before staging, for `--wait`; None without it."""
        if not getattr(args, "wait", False):
            return None
        waiter = cls(client, args.bucket, artifact_key, args.report_prefix, args.timeout)
        waiter.before_staging()
        return waiter

    def before_staging(self) -> None:
        self.after = current_report_etag(self.client, self.bucket, self.key)

    def wait(self, etag: str | None, **options: Any) -> dict[str, Any]:
        if not etag:
            raise WaitError(
                "cannot read the staged artifact's ETag back: --wait needs s3:GetObject on the staging prefix"
            )
        return wait_for_report(
            self.client, self.bucket, self.key, etag, self.timeout, after=self.after, **options
        )


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


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _unreadable(bucket: str, key: str, error: ClientError) -> WaitError:
    if _code(error) in ("403", "AccessDenied"):
        return WaitError(f"access to s3://{bucket}/{key} denied: CI needs s3:GetObject on the report prefix")
    return WaitError(f"reading s3://{bucket}/{key} failed: {error}")
