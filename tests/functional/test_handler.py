"""The Lambda handler on the sample events in events/, against an in-process S3 (moto)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from build_tool.aws.staging import stage
from build_tool.build.pack import Packed
from staticsync.config import Settings
from staticsync.dispatch import ARTIFACT_GONE, RecordsFailed, handle_event
from staticsync.errors import ArtifactGone, TransientReadError
from staticsync.model.events import ARTIFACT, NOT_ARTIFACTS_BUCKET, ROLLBACK_REQUEST
from staticsync.report import SyncReport
from tests.conftest import FakeContext, load_event
from tests.handler import fresh_handler

FILES = {"css/site.css": b"body{}", "robots.txt": b"User-agent: *\n"}


def import_app(env: dict[str, str]) -> Iterator[ModuleType]:
    """The handler module, imported fresh with its environment (it reads configuration once).

    Its log records go to `app.log_stream`: Powertools keeps one handler per service name, bound
    to whatever stdout was when the first test imported it.
    """
    with fresh_handler(**env) as module:
        module.log_stream = io.StringIO()  # type: ignore[attr-defined]
        module.logger.registered_handler.setStream(module.log_stream)  # type: ignore[attr-defined]
        yield module


@pytest.fixture
def app(moto_s3: Any) -> Iterator[ModuleType]:
    yield from import_app({})


@pytest.fixture
def guarded_app(moto_s3: Any) -> Iterator[ModuleType]:
    """The handler with ARTIFACTS_BUCKET=artifacts, as the template configures it."""
    yield from import_app({"ARTIFACTS_BUCKET": "artifacts"})


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


def fail_reads_of(app: ModuleType, key_part: str, code: str = "SlowDown") -> None:
    """Every GetObject of a key containing `key_part` answers an S3 error."""

    def fail(params: dict[str, Any], **_: Any) -> None:
        if key_part in params["Key"]:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "GetObject")

    app.s3.meta.events.register("provide-client-params.s3.GetObject", fail)


def test_a_failed_deploy_is_logged_with_context_and_raised_for_lambda_to_retry(
    app: ModuleType, moto_s3: Any, lambda_context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    fail_reads_of(app, "2f1c9e7")
    with pytest.raises(TransientReadError, match="SlowDown"):
        app.lambda_handler(load_event("artifact_put.json"), lambda_context)
    logs = logged(app, capsys)
    [failure] = [entry for entry in logs if entry.get("message") == "deploy failed"]
    assert failure["artifact"] == "s3://artifacts/staging/2f1c9e7.zip"
    assert (failure["outcome"], failure["reason"]) == ("failed", "TransientReadError")
    assert live_keys(moto_s3) == []


def test_an_event_for_an_object_that_no_longer_exists_is_skipped_not_retried_nor_tagged(
    app: ModuleType, moto_s3: Any, lambda_context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # The event names an artifact that was deleted (or expired) before the event was handled.
    assert app.lambda_handler(load_event("artifact_put.json"), lambda_context) == {"deploys": []}
    [skip] = [entry for entry in logged(app, capsys) if entry.get("message") == "skipped"]
    assert (skip["reason"], skip["key"]) == (ARTIFACT_GONE, "staging/2f1c9e7.zip")
    assert live_keys(moto_s3) == []


def test_one_failing_record_does_not_stop_the_later_records_of_the_event(
    app: ModuleType,
    moto_s3: Any,
    make_artifact: Callable[..., Packed],
    lambda_context: FakeContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stage(moto_s3, make_artifact(FILES, release="5a0b3d1"), "artifacts", "staging/5a0b3d1.zip")
    stage(
        moto_s3,
        make_artifact({**FILES, "robots.txt": b"new"}, release="9c4e2aa"),
        "artifacts",
        "staging/9c4e2aa.zip",
    )
    fail_reads_of(app, "5a0b3d1")

    with pytest.raises(TransientReadError):  # raised after the other records ran: Lambda retries
        app.lambda_handler(load_event("multi_record.json"), lambda_context)

    live = moto_s3.head_object(Bucket="live", Key="staticfiles.json")
    assert live["Metadata"]["release"] == "9c4e2aa"
    logs = logged(app, capsys)
    assert [e["artifact"] for e in logs if e.get("message") == "deploy failed"] == [
        "s3://artifacts/staging/5a0b3d1.zip"
    ]
    assert [e["release"] for e in logs if e.get("message") == "deploy finished"] == ["9c4e2aa"]


def test_a_record_of_another_bucket_than_the_artifacts_bucket_is_skipped(
    guarded_app: ModuleType,
    moto_s3: Any,
    make_artifact: Callable[..., Packed],
    lambda_context: FakeContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    moto_s3.create_bucket(Bucket="uploads")
    stage(moto_s3, make_artifact(FILES), "uploads", "staging/2f1c9e7.zip")

    assert guarded_app.lambda_handler(load_event("wrong_bucket.json"), lambda_context) == {"deploys": []}

    [skip] = [e for e in logged(guarded_app, capsys) if e.get("message") == "skipped"]
    assert (skip["reason"], skip["bucket"]) == (NOT_ARTIFACTS_BUCKET, "uploads")
    assert live_keys(moto_s3) == []


def test_without_artifacts_bucket_a_record_of_any_bucket_is_deployed(
    app: ModuleType, moto_s3: Any, make_artifact: Callable[..., Packed], lambda_context: FakeContext
) -> None:
    """The other half of the test above: the wrong-bucket event names a real artifact."""
    moto_s3.create_bucket(Bucket="uploads")
    stage(moto_s3, make_artifact(FILES), "uploads", "staging/2f1c9e7.zip")

    [report] = app.lambda_handler(load_event("wrong_bucket.json"), lambda_context)["deploys"]
    assert report["outcome"] == "deployed"


# ---------------------------------------------------------------- dispatch, without S3


class Log:
    """Records what the dispatcher logs."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, message: str, extra: dict[str, Any]) -> None:
        self.lines.append((message, extra))

    exception = info


class Metrics:
    def add_metric(self, *_: Any) -> None:
        pass


SETTINGS = Settings(live_bucket="live", artifacts_bucket="artifacts")


def run_dispatch(event: str, actions: dict[str, Any]) -> tuple[dict[str, Any], Log]:
    log = Log()
    return handle_event(load_event(event), SETTINGS, actions, log, Metrics()), log


def test_a_rollback_request_record_runs_the_rollback_action() -> None:
    calls: list[tuple[str, str]] = []

    def roll_back(bucket: str, key: str, report: SyncReport) -> None:
        calls.append((bucket, key))
        report.outcome = "deployed"

    result, _ = run_dispatch("rollback_request.json", {ARTIFACT: None, ROLLBACK_REQUEST: roll_back})

    assert calls == [("artifacts", "staging/rollback-3f2a9c71.json")]
    assert [r["outcome"] for r in result["deploys"]] == ["deployed"]


def test_several_failed_records_are_raised_together_after_every_record_ran() -> None:
    seen: list[str] = []

    def flaky(bucket: str, key: str, report: SyncReport) -> None:
        seen.append(key)
        raise TransientReadError(f"{key} timed out")

    with pytest.raises(RecordsFailed, match="2 records failed") as raised:
        run_dispatch("multi_record.json", {ARTIFACT: flaky})

    assert seen == ["staging/5a0b3d1.zip", "staging/9c4e2aa.zip"]  # the third is outside the prefix
    assert "5a0b3d1" in str(raised.value) and "9c4e2aa" in str(raised.value)


def test_a_gone_artifact_is_skipped_and_the_next_record_still_runs() -> None:
    def action(bucket: str, key: str, report: SyncReport) -> None:
        if "5a0b3d1" in key:
            raise ArtifactGone("gone")
        report.outcome = "deployed"

    result, log = run_dispatch("multi_record.json", {ARTIFACT: action})

    assert [r["artifact"] for r in result["deploys"]] == ["s3://artifacts/staging/9c4e2aa.zip"]
    assert ("skipped", ARTIFACT_GONE) in [(m, extra.get("reason")) for m, extra in log.lines]


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
