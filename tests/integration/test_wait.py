"""`--wait` against SeaweedFS: the real handler runs on the real upload's event while the waiter polls."""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

from build_tool.package import Packed
from build_tool.upload import stage
from build_tool.wait import Waiter
from devtools.seaweed import S3Server
from staticsync.outbox import normal_etag, report_key, write_report
from staticsync.report import SyncReport
from tests.conftest import FakeContext

EVENT_TIMEOUT = 10.0
FILES = {"css/app.css": b"body { color: teal }", "robots.txt": b"User-agent: *\n"}


@pytest.fixture
def app(s3_env: dict[str, str], empty_buckets: None) -> Iterator[ModuleType]:
    """The handler, imported fresh against the server (as in test_pipeline.py)."""
    with mock.patch.dict(os.environ, {"LIVE_BUCKET": "live", "POWERTOOLS_METRICS_NAMESPACE": "Test"}):
        sys.modules.pop("app", None)
        module = importlib.import_module("app")
        module.metrics.clear_metrics()
        yield module
    sys.modules.pop("app", None)


def handle_next_event(app: ModuleType, s3: Any, s3_server: S3Server) -> None:
    """Run the handler on the next staging event, as Lambda would.

    Until the handler writes the report itself, write it here after the deploy, with the ETag the
    deploy read (what the executor sets from its S3Range).
    """
    event = s3_server.events.wait_event(EVENT_TIMEOUT)
    for document in app.lambda_handler(event, FakeContext())["deploys"]:
        report = SyncReport(**document)
        key = report.artifact.removeprefix("s3://artifacts/")
        if report.report is None:  # not wired in the handler yet
            report.artifact_etag = report.artifact_etag or normal_etag(
                s3.head_object(Bucket="artifacts", Key=key)["ETag"]
            )
            write_report(s3, app.settings, report)


def stage_and_wait(
    app: ModuleType, s3: Any, s3_server: S3Server, packed: Packed, put: Callable[[], str | None] | None = None
) -> dict[str, Any]:
    """What `build_tool package --wait` does, with the function running meanwhile in another thread."""
    key = f"staging/{packed.record.release}.zip"
    waiter = Waiter(s3, "artifacts", key, "reports/", timeout=30.0)
    waiter.before_staging()
    etag = put() if put else stage(s3, packed, "artifacts", key)
    assert etag
    function = threading.Thread(target=handle_next_event, args=(app, s3, s3_server))
    function.start()
    try:
        return waiter.wait(etag)
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
