"""The sample events in events/ have the shape S3 sends, for `sam local invoke -e` and for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event

from tests.conftest import EVENTS, load_event

# file -> (event name, decoded key) of each record, in order.
RECORD_EVENTS = {
    "artifact_put.json": [("ObjectCreated:Put", "staging/2f1c9e7.zip")],
    "key_encoded.json": [("ObjectCreated:Put", "staging/release 2026+rc1 é.zip")],
    "outside_prefix.json": [("ObjectCreated:Put", "uploads/other.zip")],
    "not_zip.json": [("ObjectCreated:Put", "staging/notes.txt")],
    "multi_record.json": [
        ("ObjectCreated:Put", "staging/5a0b3d1.zip"),
        ("ObjectCreated:CompleteMultipartUpload", "staging/9c4e2aa.zip"),
        ("ObjectCreated:Put", "uploads/other.zip"),
    ],
    "object_removed.json": [("ObjectRemoved:Delete", "staging/2f1c9e7.zip")],
    "rollback_request.json": [("ObjectCreated:Put", "staging/rollback-3f2a9c71.json")],
    "wrong_bucket.json": [("ObjectCreated:Put", "staging/2f1c9e7.zip")],
}
NOTIFICATION_EVENTS = {"test_event.json"}
# The deploy state machine's payloads (tests/unit/test_template.py checks them against its definition).
STATE_MACHINE_EVENTS = {
    "sharded_plan.json",
    "sharded_shard.json",
    "sharded_finish.json",
    "sharded_failed.json",
}
OTHER_BUCKETS = {"wrong_bucket.json": "uploads"}  # the rest name the artifacts bucket


def test_every_event_file_is_listed_here() -> None:
    names = {path.name for path in EVENTS.glob("*.json")}
    assert names == set(RECORD_EVENTS) | NOTIFICATION_EVENTS | STATE_MACHINE_EVENTS


@pytest.mark.parametrize("path", sorted(EVENTS.iterdir()), ids=lambda p: p.name)
def test_every_file_in_events_is_json(path: Path) -> None:
    assert isinstance(json.loads(path.read_text(encoding="utf-8")), dict)


@pytest.mark.parametrize(("name", "expected"), RECORD_EVENTS.items())
def test_record_events_read_through_the_powertools_data_class(
    name: str, expected: list[tuple[str, str]]
) -> None:
    event = S3Event(load_event(name))
    bucket = OTHER_BUCKETS.get(name, "artifacts")
    seen = []
    for record in event.records:
        assert (record.event_version, record.event_source) == ("2.1", "aws:s3")
        assert record.aws_region and record.event_time.endswith("Z")
        assert record.user_identity.principal_id and record.request_parameters.source_ip_address
        assert set(record.response_elements) == {"x-amz-request-id", "x-amz-id-2"}
        assert record.s3.s3_schema_version == "1.0" and record.s3.configuration_id
        assert record.s3.bucket.name == bucket
        assert record.s3.bucket.arn == f"arn:aws:s3:::{bucket}"
        assert record.s3.bucket.owner_identity.principal_id
        assert record.s3.get_object.sequencer
        seen.append((record.event_name, unquote_plus(record.s3.get_object.key)))
    assert seen == expected
    assert event.bucket_name == bucket
    assert event.object_key == expected[0][1]  # the data class decodes the first record only


@pytest.mark.parametrize(
    "name", [n for n, records in RECORD_EVENTS.items() if records[0][0].startswith("ObjectCreated:")]
)
def test_created_objects_carry_a_size_and_an_etag(name: str) -> None:
    for record in S3Event(load_event(name)).records:
        obj = record.s3.get_object
        assert obj.size > 0 and obj.etag


def test_a_removed_object_has_no_size_or_etag_as_s3_sends_it() -> None:
    [record] = S3Event(load_event("object_removed.json")).records
    assert set(record.raw_event["s3"]["object"]) == {"key", "sequencer"}


def test_the_encoded_key_is_url_encoded_as_s3_sends_it() -> None:
    [record] = load_event("key_encoded.json")["Records"]
    raw = record["s3"]["object"]["key"]
    assert raw == "staging/release+2026%2Brc1+%C3%A9.zip"
    assert unquote_plus(raw) == "staging/release 2026+rc1 é.zip"


def test_the_test_event_is_the_one_s3_sends_when_a_notification_is_configured() -> None:
    event = load_event("test_event.json")
    assert set(event) == {"Service", "Event", "Time", "Bucket", "RequestId", "HostId"}
    assert (event["Service"], event["Event"], event["Bucket"]) == ("Amazon S3", "s3:TestEvent", "artifacts")
    assert "Records" not in event
