"""The report object: one per deploy next to its artifact, the same document as the log record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from staticsync.config import Settings
from staticsync.errors import ConfigError
from staticsync.notify.report_object import (
    normal_etag,
    report_key,
    report_key_for,
    report_uri,
    split_uri,
    write_report,
    write_report_quietly,
)
from staticsync.report import MAX_LISTED_KEYS, SyncReport

SETTINGS = Settings(live_bucket="live")


def finished(outcome: str = "deployed") -> SyncReport:
    report = SyncReport(artifact="s3://artifacts/staging/r2.zip", artifact_etag="abc123", outcome=outcome)
    report.release, report.live_release_before, report.live_release_after = "r2", "r1", "r2"
    report.record_upload("static/css/app.0123456789ab.css", 120)
    return report


def test_the_report_key_keeps_the_whole_artifact_key_under_the_report_prefix() -> None:
    assert report_key(SETTINGS, "staging/r2.zip") == "reports/staging/r2.zip.json"
    assert report_key_for("reports/", "staging/rollback-r2.json") != report_key_for(
        "reports/", "staging/rollback-r2.zip"
    )
    assert (
        report_uri(SETTINGS, "s3://artifacts/staging/r2.zip") == "s3://artifacts/reports/staging/r2.zip.json"
    )


@pytest.mark.parametrize(("reports", "staging"), [("staging/", "staging/"), ("staging/reports/", "staging/")])
def test_a_report_prefix_inside_the_staging_prefix_is_refused(reports: str, staging: str) -> None:
    settings = Settings(live_bucket="live", report_prefix=reports, staging_prefix=staging)
    with pytest.raises(ConfigError, match="REPORT_PREFIX"):
        report_key(settings, "staging/r2.zip")


def test_report_prefix_comes_from_the_environment_and_must_be_a_prefix() -> None:
    assert Settings.from_env({"LIVE_BUCKET": "live"}).report_prefix == "reports/"
    assert Settings.from_env({"LIVE_BUCKET": "live", "REPORT_PREFIX": "out/"}).report_prefix == "out/"
    with pytest.raises(ConfigError, match="REPORT_PREFIX"):
        Settings.from_env({"LIVE_BUCKET": "live", "REPORT_PREFIX": "out"})


def test_the_report_object_is_the_log_record(moto_s3: Any) -> None:
    report = finished()
    write_report(moto_s3, SETTINGS, report)
    stored = moto_s3.get_object(Bucket="artifacts", Key="reports/staging/r2.zip.json")
    document = json.loads(stored["Body"].read())
    assert document == report.as_log()
    assert stored["ContentType"] == "application/json"
    assert document["artifact_etag"] == "abc123"
    assert (document["live_release_before"], document["live_release_after"]) == ("r1", "r2")
    assert document["report"] == "s3://artifacts/reports/staging/r2.zip.json"
    assert document["finished_at"].endswith("Z")


@pytest.mark.parametrize("outcome", ["deployed", "unchanged", "rejected", "failed"])
def test_every_outcome_is_written(moto_s3: Any, outcome: str) -> None:
    write_report(moto_s3, SETTINGS, finished(outcome))
    stored = moto_s3.get_object(Bucket="artifacts", Key="reports/staging/r2.zip.json")
    assert json.loads(stored["Body"].read())["outcome"] == outcome


def test_uploaded_keys_are_listed_up_to_the_cap_and_counted_past_it() -> None:
    report = SyncReport(artifact="s3://artifacts/staging/r.zip")
    for number in range(MAX_LISTED_KEYS + 5):
        report.record_upload(f"static/{number}.css", 2)
    assert len(report.keys_uploaded) == MAX_LISTED_KEYS
    assert (report.files_uploaded, report.bytes_uploaded) == (MAX_LISTED_KEYS + 5, 2 * (MAX_LISTED_KEYS + 5))


def test_a_failed_report_write_raises(moto_s3: Any) -> None:
    report = SyncReport(artifact="s3://no-such-bucket/staging/r.zip")
    with pytest.raises(Exception, match="NoSuchBucket"):
        write_report(moto_s3, SETTINGS, report)


def test_the_quiet_write_of_a_failed_deploy_records_its_error_instead(moto_s3: Any) -> None:
    report = SyncReport(artifact="s3://no-such-bucket/staging/r.zip")
    message = write_report_quietly(moto_s3, SETTINGS, report)
    assert message is not None and "NoSuchBucket" in message
    assert report.warnings == [message]
    assert write_report_quietly(moto_s3, SETTINGS, finished("failed")) is None


def test_addresses_and_etags_are_normalised() -> None:
    assert split_uri("s3://artifacts/staging/a b.zip") == ("artifacts", "staging/a b.zip")
    with pytest.raises(ValueError, match="s3://"):
        split_uri("artifacts/staging/r.zip")
    assert normal_etag('"abc"') == normal_etag("abc") == "abc"
    assert normal_etag(None) is None
