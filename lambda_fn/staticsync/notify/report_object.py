"""The report object: each deploy's report, written next to the artifact for CI to wait on and read.

`<REPORT_PREFIX><artifact key>.json` in the artifacts bucket (s3://artifacts/reports/staging/r2.zip.json
for s3://artifacts/staging/r2.zip): CI already holds that bucket, so reading its outcome takes one more
grant (s3:GetObject on reports/*) and never any access to the live bucket; the key follows from the
artifact's key, so a waiter polls one known key and never lists; and it is outside the staging prefix,
so a report never triggers the function.
"""

from __future__ import annotations

import json
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..report import SyncReport

REPORT_SUFFIX = ".json"
REQUEST_REPORT_SUFFIX = ".report.json"  # of a request (`rollback-<id>.json`): not `.json.json`


def report_key_for(report_prefix: str, artifact_key: str) -> str:
    """The report key of a staged key: `r.zip` -> `r.zip.json`, a request `q.json` -> `q.report.json`.
    The two endings differ (`.zip.json`, `.report.json`), so an artifact's and a request's never meet."""
    if artifact_key.endswith(REPORT_SUFFIX):
        return f"{report_prefix}{artifact_key.removesuffix(REPORT_SUFFIX)}{REQUEST_REPORT_SUFFIX}"
    return f"{report_prefix}{artifact_key}{REPORT_SUFFIX}"


def report_key(settings: Settings, artifact_key: str) -> str:
    check_report_prefix(settings)
    return report_key_for(settings.report_prefix, artifact_key)


def check_report_prefix(settings: Settings) -> None:
    """A report under the staging prefix would be a `.json` the function is triggered by."""
    report, staging = settings.report_prefix, settings.staging_prefix
    if report.startswith(staging) or staging.startswith(report):
        raise ConfigError(
            f"REPORT_PREFIX={report!r} overlaps STAGING_PREFIX={staging!r}: reports must live outside "
            "the prefix that triggers deploys"
        )


def split_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key") of "s3://bucket/key"."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ValueError(f"{uri!r} is not an s3://bucket/key address")
    return bucket, key


def report_uri(settings: Settings, artifact_uri: str) -> str:
    bucket, key = split_uri(artifact_uri)
    return f"s3://{bucket}/{report_key(settings, key)}"


def normal_etag(etag: str | None) -> str | None:
    """An ETag without the quotes S3 puts around it in headers (events carry it bare)."""
    return etag.strip('"') if etag else None


def report_body(report: SyncReport) -> bytes:
    """The report object's bytes: the log record, as JSON."""
    return json.dumps(report.as_log(), sort_keys=True, ensure_ascii=False).encode()


def write_report(client: Any, settings: Settings, report: SyncReport) -> None:
    """PUT the report next to its artifact; sets `report.report` and `finished_at` first.

    Raises on failure (see the README's failure policy): without the report CI's `--wait` would
    time out on a deploy that went live, so the invocation fails and Lambda's retry, which finds
    its work done, writes it.
    """
    bucket, key = split_uri(report.artifact)
    report.report = f"s3://{bucket}/{report_key(settings, key)}"
    if report.finished_at is None:
        report.finish()
    client.put_object(
        Bucket=bucket,
        Key=report_key(settings, key),
        Body=report_body(report),
        ContentType="application/json",
        CacheControl="no-cache",
    )


def write_report_quietly(client: Any, settings: Settings, report: SyncReport) -> str | None:
    """write_report for a deploy that already failed: its own error is the one to raise.

    Returns the write's error (also added to the report's warnings), or None.
    """
    try:
        write_report(client, settings, report)
    except Exception as error:  # the deploy's exception matters more; this one is logged with it
        message = f"report not written: {type(error).__name__}: {error}"
        report.warn(message)
        return message
    return None
