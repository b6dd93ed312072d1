"""One deploy: open the artifact, plan against the live bucket, upload, cut over last."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .archive import Artifact
from .config import Settings
from .contract import MANIFEST_NAME, META_RELEASE_SHA256, META_ROLLBACK, RELEASE_NAME
from .errors import ArtifactRejected, LiveStateError, OutOfTime
from .headers import HeaderPolicy, split_encoding
from .live import cut_over, read_live, write_history
from .meter import RequestMeter
from .plan import Plan, check_not_stale, make_plan, missing_from_live
from .remote import S3Range, SparseFile
from .report import SyncReport
from .upload import put_file, read_spans, run_all, upload_spans

# Mutable (unhashed) files up to this size are read and checked in memory before any is written;
# past it they are checked in a first pass and read again to upload.
PREVERIFY_BYTES = 64 * 1024 * 1024
# Stop before the cutover when less time than this is left in the invocation.
CUTOVER_MARGIN_SECONDS = 15.0
REJECTED_TAG = {"TagSet": [{"Key": "staticsync", "Value": "rejected"}]}


def deploy(
    client: Any,
    settings: Settings,
    bucket: str,
    key: str,
    report: SyncReport,
    meter: RequestMeter,
    remaining_seconds: Callable[[], float] = lambda: float("inf"),
) -> SyncReport:
    """Deploy the artifact at s3://bucket/key; fills in `report` as it goes, also when it raises.

    A rejected artifact is tagged and reported, not raised: retrying it cannot help.
    """
    started = time.monotonic()
    meter.reset()
    try:
        _deploy(client, settings, bucket, key, report, remaining_seconds)
    except ArtifactRejected as error:
        report.outcome, report.reason, report.member = "rejected", error.code, error.member
        report.detail = str(error)
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging=REJECTED_TAG)
    except Exception as error:
        report.outcome, report.reason = "failed", type(error).__name__
        report.detail = str(error)
        raise
    finally:
        report.seconds = round(time.monotonic() - started, 3)
        report.s3_requests = meter.total
        report.requests_by_operation = meter.by_operation()
    return report


def _deploy(
    client: Any,
    settings: Settings,
    bucket: str,
    key: str,
    report: SyncReport,
    remaining_seconds: Callable[[], float],
) -> None:
    source = S3Range(client, bucket, key)
    expected = source.metadata.get(META_RELEASE_SHA256)
    if not expected:
        raise ArtifactRejected(
            "missing_checksum",
            "the artifact has no release-sha256 metadata: stage it with build_tool",
        )
    artifact = Artifact(SparseFile(source, source.initial_fragments()), settings, expected)
    record = artifact.record
    report.release, report.files_total = record.release, record.file_count
    live = read_live(client, settings)
    report.live_release_before = live.release
    check_not_stale(record, live, rollback=source.metadata.get(META_ROLLBACK) == "true")
    plan = make_plan(record, artifact.manifest_bytes, live)
    report.files_unchanged = len(plan.unchanged)
    if not plan.cutover:
        report.outcome = "unchanged"
        return
    _upload(client, settings, artifact, plan, report, remaining_seconds)
    missing = missing_from_live(plan, artifact.manifest)
    if missing:
        raise LiveStateError(f"{len(missing)} files the manifest needs are not live, e.g. {missing[0]}")
    write_history(
        client,
        settings,
        record.release,
        {RELEASE_NAME: artifact.release_bytes, MANIFEST_NAME: artifact.manifest_bytes},
    )
    _check_time(remaining_seconds, "the cutover")
    policy = HeaderPolicy.for_release(settings, record.files, artifact.manifest)
    cut_over(
        client,
        settings,
        artifact.manifest_bytes,
        record.release,
        plan.live_etag,
        policy.manifest_headers(),
    )
    report.outcome = "deployed"


def _upload(
    client: Any,
    settings: Settings,
    artifact: Artifact,
    plan: Plan,
    report: SyncReport,
    remaining_seconds: Callable[[], float],
) -> None:
    """Content-addressed names first (invisible until the cutover), then the mutable ones."""
    policy = HeaderPolicy.for_release(settings, artifact.record.files, artifact.manifest)
    hashed = [p for p in plan.uploads if split_encoding(p, policy.files)[0] in policy.hashed]
    hashed_set = set(hashed)
    mutable = [p for p in plan.uploads if p not in hashed_set]

    lock = threading.Lock()

    def uploaded(path: str, size: int) -> None:
        with lock:
            report.files_uploaded += 1
            report.bytes_uploaded += size

    _check_time(remaining_seconds, "uploading")
    upload_spans(client, settings, artifact, artifact.spans(hashed), policy, uploaded)
    _check_time(remaining_seconds, "uploading unhashed files")
    spans = artifact.spans(mutable)
    if sum(artifact.size_of(p) for p in mutable) > PREVERIFY_BYTES:
        read_spans(artifact, spans, settings.upload_concurrency)  # check all, keep none
        upload_spans(client, settings, artifact, spans, policy, uploaded)
        return
    files = read_spans(artifact, spans, settings.upload_concurrency)

    def put(path: str) -> None:
        data = files[path]
        put_file(client, settings, path, data, artifact.record.files[path], policy.headers(path))
        uploaded(path, len(data))

    run_all(put, mutable, settings.upload_concurrency)


def _check_time(remaining_seconds: Callable[[], float], step: str) -> None:
    left = remaining_seconds()
    if left < CUTOVER_MARGIN_SECONDS:
        raise OutOfTime(
            f"{left:.0f} s left in this invocation, stopping before {step}; the live site is "
            "unchanged and a retry resumes (raise the function's timeout for artifacts this large)"
        )
