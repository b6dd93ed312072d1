"""The "Release Live" event: one PutEvents entry per cutover with the exact detail, never a failed deploy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from staticsync.config import Settings
from staticsync.notify.eventbridge import (
    DETAIL_TYPE,
    SOURCE,
    AnnounceFailed,
    announce,
    announce_quietly,
    release_live_entry,
)
from staticsync.report import SyncReport

SETTINGS = Settings(live_bucket="live", live_prefix="static/", event_bus_name="default")


@pytest.fixture
def events() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "events", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def cutover(kind: str = "deploy") -> SyncReport:
    report = SyncReport(artifact="s3://artifacts/staging/r2.zip", kind=kind, outcome="deployed")
    report.release, report.commit, report.live_release_before, report.sequence = "r2", "c0ffee", "r1", 4
    report.manifest_etag, report.files_total, report.files_unchanged = '"m-etag"', 812, 803
    report.record_upload("static/shop/css/base.css", 5499)
    report.invalidation_ids = ["I1"]
    return report


DETAIL = {
    "kind": "deploy",
    "release": "r2",
    "commit": "c0ffee",
    "live_release_before": "r1",
    "sequence": 4,
    "manifest_etag": '"m-etag"',
    "artifact": "s3://artifacts/staging/r2.zip",
    "report": "s3://artifacts/reports/staging/r2.zip.json",
    "live_bucket": "live",
    "live_prefix": "static/",
    "files_total": 812,
    "files_uploaded": 1,
    "files_unchanged": 803,
    "bytes_uploaded": 5499,
    "invalidation_ids": ["I1"],
}


def test_the_entry_names_the_release_and_where_its_report_is() -> None:
    entry = release_live_entry(SETTINGS, cutover())
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (SOURCE, DETAIL_TYPE, "default")
    assert json.loads(entry["Detail"]) == DETAIL


def test_a_rollback_is_announced_as_one() -> None:
    assert json.loads(release_live_entry(SETTINGS, cutover("rollback"))["Detail"])["kind"] == "rollback"


def test_the_event_is_put_with_the_exact_entry(events: tuple[Any, Stubber]) -> None:
    client, stubber = events
    report = cutover()
    entry = release_live_entry(SETTINGS, report)
    stubber.add_response(
        "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}, {"Entries": [entry]}
    )
    announce_quietly(client, SETTINGS, report)
    assert report.event_id == "e-1" and report.warnings == []


def test_an_entry_eventbridge_refused_is_an_error_of_announce(events: tuple[Any, Stubber]) -> None:
    client, stubber = events
    refused = {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try later"}],
    }
    stubber.add_response("put_events", refused)
    with pytest.raises(AnnounceFailed, match="InternalFailure"):
        announce(client, release_live_entry(SETTINGS, cutover()))


@pytest.mark.parametrize("fault", ["refused", "denied"])
def test_a_failed_event_is_a_warning_not_a_failed_deploy(events: tuple[Any, Stubber], fault: str) -> None:
    client, stubber = events
    if fault == "refused":
        stubber.add_response(
            "put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "X", "ErrorMessage": "y"}]}
        )
    else:
        stubber.add_client_error("put_events", "AccessDeniedException", "no events:PutEvents", 400)
    report = cutover()
    announce_quietly(client, SETTINGS, report)
    assert report.event_id is None and len(report.warnings) == 1


def test_an_empty_bus_name_sends_nothing(events: tuple[Any, Stubber]) -> None:
    client, _ = events
    report = cutover()
    announce_quietly(client, Settings(live_bucket="live", event_bus_name=""), report)
    assert report.event_id is None and report.warnings == []
    assert Settings.from_env({"LIVE_BUCKET": "live", "EVENT_BUS_NAME": ""}).event_bus_name == ""
    assert Settings.from_env({"LIVE_BUCKET": "live"}).event_bus_name == ""
