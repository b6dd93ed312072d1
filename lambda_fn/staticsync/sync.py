"""One deploy: open the artifact, plan against the live bucket, upload, cut over last."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from .archive import Artifact
from .config import Settings
from .contract import META_RELEASE_SHA256, META_ROLLBACK
from .errors import ArtifactRejected, LiveChanged, LiveStateError, OutOfTime
from .headers import HeaderPolicy, split_encoding
from .live import cut_over, read_live, write_history
from .meter import RequestMeter
from .plan import Plan, check_not_stale, check_release_id, make_plan, missing_from_live
from .remote import S3Range, SparseFile
from .report import SyncReport
from .upload import put_files, read_spans, upload_spans

# Mutable (unhashed) files up to this size are read and checked in memory before any is written;
# past it they are checked in a first pass and read again to upload.
PREVERIFY_BYTES = 64 * 1024 * 1024
# Stop before the cutover when less time than this is left in the invocation.
CUTOVER_MARGIN_SECONDS = 15.0
TAG_KEY, TAG_REJECTED = "staticsync", "rejected"
TAG_REASON, TAG_ETAG = "staticsync-reason", "staticsync-etag"
REJECTED_TAG = {"TagSet": [{"Key": TAG_KEY, "Value": TAG_REJECTED}]}
ALREADY_REJECTED = "already_rejected"
# Verdicts about the live state, not the bytes: what is live may change, so they are not final.
LIVE_RELATIVE = frozenset({"stale_artifact", "release_id_reused"})


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
    source: S3Range | None = None
    try:
        source = open_artifact(client, bucket, key)
        _deploy(client, settings, source, report, remaining_seconds)
    except ArtifactRejected as error:
        report.outcome, report.reason, report.member = "rejected", error.code, error.member
        report.detail = str(error)
        if error.code != ALREADY_REJECTED:
            client.put_object_tagging(Bucket=bucket, Key=key, Tagging=rejection_tags(error, source))
    except Exception as error:
        report.outcome, report.reason = "failed", type(error).__name__
        report.detail = str(error)
        raise
    finally:
        report.seconds = round(time.monotonic() - started, 3)
        report.s3_requests = meter.total
        report.requests_by_operation = meter.by_operation()
    return report


def open_artifact(client: Any, bucket: str, key: str) -> S3Range:
    try:
        return S3Range(client, bucket, key)
    except ClientError as error:
        # A suffix range is unsatisfiable only on an empty object (moto answers 200 instead).
        if error.response.get("Error", {}).get("Code") == "InvalidRange":
            raise ArtifactRejected("empty_artifact", "the artifact is an empty object") from None
        raise


def rejection_tags(error: ArtifactRejected, source: S3Range | None) -> dict[str, Any]:
    """staticsync=rejected, with the reason and the ETag of the bytes that were rejected."""
    tags = [*REJECTED_TAG["TagSet"], {"Key": TAG_REASON, "Value": error.code}]
    if source is not None:
        tags.append({"Key": TAG_ETAG, "Value": source.etag.strip('"')})
    return {"TagSet": tags}


def previous_rejection(client: Any, source: S3Range) -> str | None:
    """The reason these very bytes were found bad before, or None.

    The first GET says how many tags the object has (x-amz-tagging-count) but not which, so only an
    artifact that has tags costs one more request. The ETag in the tag keeps a rejection from
    sticking to a corrected artifact staged under the same key while the bad one was tagged. A stale
    artifact is judged again: after a rollback of the live site it may be the newest.
    """
    if not source.tag_count:
        return None
    try:
        response = client.get_object_tagging(Bucket=source.bucket, Key=source.key)
    except ClientError:
        return None  # tags unreadable (e.g. no s3:GetObjectTagging): validating again is safe
    tags = {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}
    reason = tags.get(TAG_REASON, "unknown")
    if tags.get(TAG_KEY) != TAG_REJECTED or tags.get(TAG_ETAG) != source.etag.strip('"'):
        return None
    return None if reason in LIVE_RELATIVE else reason


def _deploy(
    client: Any,
    settings: Settings,
    source: S3Range,
    report: SyncReport,
    remaining_seconds: Callable[[], float],
) -> None:
    reason = previous_rejection(client, source)
    if reason:
        raise ArtifactRejected(
            ALREADY_REJECTED, f"this artifact was rejected before ({reason}); stage a corrected one"
        )
    expected = source.metadata.get(META_RELEASE_SHA256)
    if not expected:
        raise ArtifactRejected(
            "missing_checksum",
            "the artifact has no release-sha256 metadata: stage it with build_tool",
        )
    artifact = Artifact(SparseFile(source, source.initial_fragments()), settings, expected)
    artifact.file.forget_all()  # the tail is parsed; members are read by their own spans
    record = artifact.record
    report.release, report.files_total = record.release, record.file_count
    live = read_live(client, settings)
    report.live_release_before = live.release
    check_not_stale(record, live, rollback=source.metadata.get(META_ROLLBACK) == "true")
    check_release_id(record, live)
    plan = make_plan(record, artifact.manifest_bytes, live)
    report.files_unchanged = len(plan.unchanged)
    if not plan.cutover:
        report.outcome = "unchanged"
        return
    missing = missing_from_live(plan, artifact.manifest)
    if missing:
        raise LiveStateError(f"{len(missing)} files the manifest needs are not live, e.g. {missing[0]}")
    policy = HeaderPolicy.for_release(settings, artifact.record.files, artifact.manifest)
    _upload(client, settings, artifact, plan, policy, report, remaining_seconds)
    _check_time(remaining_seconds, "the cutover")
    _cut_over(client, settings, artifact, plan, policy, report)


def _upload(
    client: Any,
    settings: Settings,
    artifact: Artifact,
    plan: Plan,
    policy: HeaderPolicy,
    report: SyncReport,
    remaining_seconds: Callable[[], float],
) -> None:
    """Content-addressed names first (invisible until the cutover), then, once every file has been
    checked, the history record, then the mutable names (visible at once).

    A plan up to PREVERIFY_BYTES is read in one pass of coalesced ranges, so a file and its hashed
    copy share a GET although they are written in different phases. A larger one is streamed: one
    pass uploads the hashed names and checks the others (keeping them if they fit in memory), and
    only if they did not fit, a second pass uploads them.
    """
    hashed, mutable = _split(plan.uploads, policy)
    uploaded = _counter(report)
    _check_time(remaining_seconds, "uploading")
    if sum(artifact.size_of(p) for p in plan.uploads) <= PREVERIFY_BYTES:
        files = read_spans(artifact, artifact.spans(plan.uploads), settings.upload_concurrency)
        put_files(client, settings, artifact, files, hashed, policy, uploaded)
        _keep_history(client, settings, artifact, remaining_seconds)
        put_files(client, settings, artifact, files, mutable, policy, uploaded)
        return
    fits = sum(artifact.size_of(p) for p in mutable) <= PREVERIFY_BYTES
    everything = artifact.spans(plan.uploads)
    kept = upload_spans(
        client, settings, artifact, everything, policy, uploaded, only=frozenset(hashed), keep_others=fits
    )
    _keep_history(client, settings, artifact, remaining_seconds)
    if fits:
        put_files(client, settings, artifact, kept, mutable, policy, uploaded)
    else:
        upload_spans(client, settings, artifact, artifact.spans(mutable), policy, uploaded)


def _keep_history(
    client: Any, settings: Settings, artifact: Artifact, remaining_seconds: Callable[[], float]
) -> None:
    _check_time(remaining_seconds, "uploading unhashed files")
    write_history(client, settings, artifact.record.release, artifact.release_bytes, artifact.manifest_bytes)


def _cut_over(
    client: Any, settings: Settings, artifact: Artifact, plan: Plan, policy: HeaderPolicy, report: SyncReport
) -> None:
    release, manifest = artifact.record.release, artifact.manifest_bytes
    try:
        cut_over(client, settings, manifest, release, plan.live_etag, policy.manifest_headers())
    except LiveChanged:
        live = read_live(client, settings)
        if (live.release, live.manifest_bytes) != (release, manifest):
            raise
        report.outcome = "unchanged"  # a concurrent delivery of this same artifact cut over first
        return
    report.outcome = "deployed"


def _split(uploads: Sequence[str], policy: HeaderPolicy) -> tuple[list[str], list[str]]:
    """(content-addressed names and their siblings, the other names)."""
    hashed = [p for p in uploads if split_encoding(p, policy.files)[0] in policy.hashed]
    hashed_set = set(hashed)
    return hashed, [p for p in uploads if p not in hashed_set]


def _counter(report: SyncReport) -> Callable[[str, int], None]:
    lock = threading.Lock()

    def uploaded(path: str, size: int) -> None:
        with lock:
            report.files_uploaded += 1
            report.bytes_uploaded += size

    return uploaded


def _check_time(remaining_seconds: Callable[[], float], step: str) -> None:
    left = remaining_seconds()
    if left < CUTOVER_MARGIN_SECONDS:
        raise OutOfTime(
            f"{left:.0f} s left in this invocation, stopping before {step}; the live site is "
            "unchanged and a retry resumes (raise the function's timeout for artifacts this large)"
        )
