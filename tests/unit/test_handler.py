"""The Lambda handler on the sample events in events/, against an in-process S3 (moto)."""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

from build_tool.package import Packed
from build_tool.upload import stage
from tests.conftest import FakeContext, load_event

FILES = {"css/site.css": b"body{}", "robots.txt": b"User-agent: *\n"}


@pytest.fixture
def app(moto_s3: Any) -> Iterator[ModuleType]:
    """The handler module, imported fresh with its environment (it reads configuration once).

    Its log records go to `app.log_stream`: Powertools keeps one handler per service name, bound
    to whatever stdout was when the first test imported it.
    """
    with mock.patch.dict("os.environ", {"LIVE_BUCKET": "live", "POWERTOOLS_METRICS_NAMESPACE": "Test"}):
        sys.modules.pop("app", None)
        module = importlib.import_module("app")
        module.metrics.clear_metrics()  # metrics are shared by every Metrics instance
        module.log_stream = io.StringIO()  # type: ignore[attr-defined]
        module.logger.registered_handler.setStream(module.log_stream)  # type: ignore[attr-defined]
        yield module
    sys.modules.pop("app", None)


def logged(app: ModuleType, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Log records and EMF metric blobs (printed to stdout) as dictionaries."""
    lines = app.log_stream.getvalue().splitlines() + capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def live_keys(client: Any) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket="live").get("Contents", []))


@pytest.mark.parametrize(
    ("event_name", "key"),
    [("artifact_put.json", "staging/2f1c9e7.zip"), ("key_encoded.json", "staging/release 2026+rc1 é.zip")],
)
def test_an_artifact_event_deploys_the_artifact_at_the_decoded_key(
    app: ModuleType,
    moto_s3: Any,
    make_artifact: Callable[..., Packed],
    lambda_context: FakeContext,
    event_name: str,
    key: str,
) -> None:
    stage(moto_s3, make_artifact(FILES), "artifacts", key)
    result = app.lambda_handler(load_event(event_name), lambda_context)
    [report] = result["deploys"]
    assert (report["outcome"], report["artifact"]) == ("deployed", f"s3://artifacts/{key}")
    assert report["files_uploaded"] == 4
    assert "staticfiles.json" in live_keys(moto_s3)


@pytest.mark.parametrize(
    "event_name", ["outside_prefix.json", "not_zip.json", "object_removed.json", "test_event.json"]
)
def test_events_that_are_not_artifacts_are_skipped_with_a_log_line(
    app: ModuleType,
    moto_s3: Any,
    lambda_context: FakeContext,
    capsys: pytest.CaptureFixture[str],
    event_name: str,
) -> None:
    assert app.lambda_handler(load_event(event_name), lambda_context) == {"deploys": []}
    assert live_keys(moto_s3) == []
    logs = logged(app, capsys)
    assert any(entry.get("message") == "skipped" and entry.get("reason") for entry in logs)


def test_several_records_deploy_in_order_and_skip_the_rest(
    app: ModuleType, moto_s3: Any, make_artifact: Callable[..., Packed], lambda_context: FakeContext
) -> None:
    first = make_artifact(FILES, release="5a0b3d1", created_at="2026-01-01T00:00:00Z")
    second = make_artifact(
        {**FILES, "robots.txt": b"new"}, release="9c4e2aa", created_at="2026-01-02T00:00:00Z"
    )
    stage(moto_s3, first, "artifacts", "staging/5a0b3d1.zip")
    stage(moto_s3, second, "artifacts", "staging/9c4e2aa.zip")
    result = app.lambda_handler(load_event("multi_record.json"), lambda_context)
    assert [(r["release"], r["outcome"]) for r in result["deploys"]] == [
        ("5a0b3d1", "deployed"),
        ("9c4e2aa", "deployed"),
    ]
    live = moto_s3.head_object(Bucket="live", Key="staticfiles.json")
    assert live["Metadata"]["release"] == "9c4e2aa"


def test_a_failed_deploy_is_logged_with_context_and_raised_for_lambda_to_retry(
    app: ModuleType, lambda_context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # The event names an artifact that does not exist: an S3 error, not a rejection.
    with pytest.raises(Exception, match="NoSuchKey|Not Found|does not exist"):
        app.lambda_handler(load_event("artifact_put.json"), lambda_context)
    logs = logged(app, capsys)
    [failure] = [entry for entry in logs if entry.get("message") == "deploy failed"]
    assert failure["artifact"] == "s3://artifacts/staging/2f1c9e7.zip"
    assert failure["outcome"] == "failed"


def test_the_deploy_report_and_metrics_are_emitted(
    app: ModuleType,
    moto_s3: Any,
    make_artifact: Callable[..., Packed],
    lambda_context: FakeContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stage(moto_s3, make_artifact(FILES), "artifacts", "staging/2f1c9e7.zip")
    app.lambda_handler(load_event("artifact_put.json"), lambda_context)
    logs = logged(app, capsys)
    [report] = [entry for entry in logs if entry.get("message") == "deploy finished"]
    for field in (
        "release",
        "files_total",
        "files_uploaded",
        "files_unchanged",
        "bytes_uploaded",
        "s3_requests",
        "seconds",
        "outcome",
    ):
        assert field in report
    [emf] = [entry for entry in logs if "_aws" in entry]
    assert emf["FilesUploaded"] == [4.0]
    assert emf["DeploysSucceeded"] == [1.0]
