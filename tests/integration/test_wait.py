"""`--wait` against SeaweedFS: the real handler runs on the real upload's event while the waiter polls."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from build_tool.aws.reports import Polling, Waiter, WaitTimeout
from build_tool.aws.staging import stage
from build_tool.build.pack import Packed
from devtools.seaweed import S3Server
from staticsync.notify.report_object import normal_etag, report_key
from tests.conftest import FakeContext

EVENT_TIMEOUT = 10.0
FILES = {"css/app.css": b"body { color: teal }", "robots.txt": b"User-agent: *\n"}


def handle_next_event(app: ModuleType, s3_server: S3Server) -> None:
    """Run the handler on the next staging event, as Lambda would (it writes the report itself); a
    failed deploy raises, as it does for Lambda, after writing its report."""
    event = s3_server.events.wait_event(EVENT_TIMEOUT)
    with contextlib.suppress(Exception):
        app.lambda_handler(event, FakeContext())


def stage_and_wait(
    app: ModuleType,
    s3: Any,
    s3_server: S3Server,
    packed: Packed,
    put: Callable[[], str | None] | None = None,
    *,
    handler: bool = True,
    timeout: float = 30.0,
    retry_grace: float = 180.0,
) -> dict[str, Any]:
    """What `build_tool package --wait` does, with the function running meanwhile in another thread
    (or, `handler=False`, never running: a deploy still queued)."""
    key = f"staging/{packed.record.release}.zip"
    waiter = Waiter(s3, "artifacts", key, "reports/", timeout=timeout)
    waiter.before_staging()
    etag = put() if put else stage(s3, packed, "artifacts", key)
    assert etag
    function = threading.Thread(
        target=handle_next_event if handler else lambda *_: None, args=(app, s3_server)
    )
    function.start()
    try:
        return waiter.wait(etag, Polling(timeout, retry_grace=retry_grace))
    finally:
        function.join(timeout=60)


def test_wait_sees_deployed_then_unchanged_for_the_same_bytes_staged_again(
    app: ModuleType, s3: Any, s3_server: S3Server, make_artifact: Callable[..., Packed]
) -> None:
    packed = make_artifact(FILES, release="r1")
    report = stage_and_wait(app, s3, s3_server, packed)
    assert (report["outcome"], report["release"], report["live_release_before"]) == ("deployed", "r1", None)
    assert report["files_uploaded"] == report["files_total"] > 0
    assert report["report"] == f"s3://artifacts/{report_key(app.settings, 'staging/r1.zip')}"
    # The same bytes again: same key, same ETag; the waiter must not take the first report for this one.
    again = stage_and_wait(app, s3, s3_server, packed)
    assert again["outcome"] == "unchanged" and again["finished_at"] > report["finished_at"]


def test_wait_sees_a_rejection(
    app: ModuleType, s3: Any, s3_server: S3Server, make_artifact: Callable[..., Packed]
) -> None:
    packed = make_artifact(FILES, release="r1")

    def put_without_metadata() -> str | None:  # not staged by build_tool: no release-sha256
        response = s3.put_object(Bucket="artifacts", Key="staging/r1.zip", Body=packed.path.read_bytes())
        return normal_etag(response["ETag"])

    report = stage_and_wait(app, s3, s3_server, packed, put_without_metadata)
    assert (report["outcome"], report["reason"]) == ("rejected", "missing_checksum")


def test_wait_returns_a_failure_once_no_retry_replaced_it(
    app: ModuleType, s3: Any, s3_server: S3Server, make_artifact: Callable[..., Packed]
) -> None:
    """A live manifest nobody can read fails every deploy (LiveStateError, retried by Lambda)."""
    s3.put_object(Bucket="live", Key="staticfiles.json", Body=b"not json")
    packed = make_artifact(FILES, release="r1")

    report = stage_and_wait(app, s3, s3_server, packed, retry_grace=2.0)

    assert (report["outcome"], report["reason"]) == ("failed", "LiveStateError")
    assert "unreadable" in report["detail"]


def test_wait_times_out_when_no_report_comes(
    app: ModuleType, s3: Any, s3_server: S3Server, make_artifact: Callable[..., Packed]
) -> None:
    with pytest.raises(WaitTimeout, match="no report on this upload"):
        stage_and_wait(app, s3, s3_server, make_artifact(FILES, release="r1"), handler=False, timeout=2.0)
    s3_server.events.drain()
