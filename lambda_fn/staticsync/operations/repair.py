"""Verify the live bucket against the live release and restore what is missing or wrong from its artifact.

One pass: read the live state, LIST the live prefix (1 request per 1,000 keys), read the retained
artifact's members by coalesced spans to compare their MD5 with the listed ETags, HEAD only what the
depth asks for (or what an ETag cannot decide), then, in repair mode, PUT exactly the files found
missing or wrong, each only if the live object is still the one judged (IfMatch / IfNoneMatch).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from ..artifact.archive import Artifact
from ..bucket import WRITE_CONFLICT, error_code
from ..config import Settings
from ..deploy.upload import MULTIPART_BYTES, pieces, put_file, run_all
from ..errors import ArtifactRejected, LiveStateError
from ..live.state import HISTORY_NAME, get_object, read_live, read_record
from ..model.contract import MANIFEST_NAME, META_RELEASE, ReleaseRecord, parse_manifest
from ..model.headers import HeaderPolicy
from ..model.plan import LiveState
from ..model.verdicts import (
    Comparison,
    Listed,
    Problem,
    compare_listing,
    hashed_paths,
    head_problems,
    listed_paths,
    live_problems,
    manifest_header_problems,
    manifest_problems,
    md5_confirmed_wrong,
    md5_hex,
    to_restore,
    unique,
    unreadable,
)
from .retained_artifact import RepairRefused, locate_artifact, open_retained, restore_record

READERS = 4  # spans of the artifact read at once to compare MD5s (each up to 8 MiB)
HEADS = 16
MAX_LISTED = 1000  # problems and restored keys named in a log record; the counts are exact


class Depth(StrEnum):
    """How much a pass reads beyond the LIST and the artifact."""

    LIST = "list"  # presence, size and bytes of every file: no HEAD but the manifest's
    HASHED = "hashed"  # and a HEAD of each hashed name the manifest refers to (their year-long headers)
    DEEP = "deep"  # and a HEAD of every file: headers and sha256 metadata of unhashed names too


@dataclass
class VerifyReport:
    """What one pass found and did; `as_log()` is the `verify finished` log record."""

    where: str
    depth: str
    repair: bool
    release: str | None = None
    artifact: str | None = None
    files: int = 0
    listed: int = 0
    problems: list[Problem] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # live keys, as Problem.key
    changed_meanwhile: list[str] = field(default_factory=list)  # a writer got there first: not touched
    s3_requests: int = 0
    requests_by_operation: dict[str, int] = field(default_factory=dict)

    @property
    def remaining(self) -> list[Problem]:
        """The problems a repair did not fix (all of them in check mode)."""
        done = set(self.restored)
        return [p for p in self.problems if p.key not in done]

    def as_log(self) -> dict[str, Any]:
        record = asdict(self)
        record["problems"] = [str(p) for p in self.problems[:MAX_LISTED]]
        record["restored"] = self.restored[:MAX_LISTED]
        return record | {"problem_count": len(self.problems), "restored_count": len(self.restored)}


def verify_live(
    client: Any, settings: Settings, *, depth: Depth = Depth.LIST, repair: bool = False, meter: Any = None
) -> VerifyReport:
    """Compare the live bucket with the live release; with `repair`, restore what is missing or wrong.

    Without an artifacts bucket (ARTIFACTS_BUCKET) a check compares presence and HEADs only; a repair
    needs the artifact and raises RepairRefused without it, or when it is not the live release's.
    """
    if meter is not None:
        meter.reset()
    report = VerifyReport(f"s3://{settings.live_bucket}/{settings.live_prefix}", depth.value, repair)
    try:
        _verify(client, settings, depth, repair, report)
    finally:
        if meter is not None:
            report.s3_requests, report.requests_by_operation = meter.total, meter.by_operation()
    return report


def _verify(client: Any, settings: Settings, depth: Depth, repair: bool, report: VerifyReport) -> None:
    try:
        live = read_live(client, settings)
    except LiveStateError as error:
        report.problems = diagnose(client, settings, error)
        if not (repair and [p.code for p in report.problems] == ["missing_release_record"]):
            return
        report.restored.append(restore_record(client, settings))
        live = read_live(client, settings)
    report.problems = live_problems(live, settings)
    if report.problems:
        return
    assert live.record is not None
    record, report.release, report.files = live.record, live.release, live.record.file_count
    policy = HeaderPolicy.for_release(settings, record.files, live.manifest)
    artifact = None
    if repair or settings.artifacts_bucket:
        bucket, key = locate_artifact(client, settings, live)
        report.artifact = f"s3://{bucket}/{key}"
        artifact = open_retained(client, settings, live, bucket, key)
    listed = list_live(client, settings)
    report.listed = len(listed)
    # After the LIST: the live release did not move while it ran, so every listed byte is judged
    # against the right release (a cutover in between would make its new files look wrong).
    head = client.head_object(Bucket=settings.live_bucket, Key=settings.live_key(MANIFEST_NAME))
    if head.get("ETag") != live.etag:
        raise RepairRefused("the live staticfiles.json changed during the pass (a deploy): run it again")
    sizes = {path: artifact.size_of(path) for path in artifact.members} if artifact else None
    comparison = compare_listing(record.files, sizes, listed, etag_md5=settings.etag_md5)
    problems = manifest_problems(live, settings) + manifest_header_problems(settings, head, policy)
    problems += listing_problems(comparison, settings, record, sizes or {}, listed)
    suspects = md5_mismatches(artifact, comparison) if artifact else []
    problems += head_checks(client, settings, record, policy, listed, comparison, suspects, depth, live)
    report.problems = unique(problems)
    if repair and artifact is not None:
        # A delta's inherited files have no member here: they stay reported (a full build restores them).
        paths = to_restore(report.problems, settings, artifact.members)
        restore(client, settings, artifact, policy, paths, listed, report)


def listing_problems(
    comparison: Comparison,
    settings: Settings,
    record: ReleaseRecord,
    sizes: dict[str, int],
    listed: dict[str, Listed],
) -> list[Problem]:
    missing = [
        Problem(settings.live_key(p), "missing_file", f"release {record.release} needs it")
        for p in comparison.missing
    ]
    return missing + [
        Problem(settings.live_key(p), "wrong_size", f"{listed[p].size} bytes, release has {sizes[p]}")
        for p in comparison.wrong_size
    ]


def md5_mismatches(artifact: Artifact, comparison: Comparison) -> list[str]:
    """Read every file whose ETag is an MD5 from the artifact (verified reads) and return those that
    differ; a HEAD then tells a wrong file from a KMS-encrypted one."""
    wrong: list[str] = []
    lock = threading.Lock()

    def read(span: Any) -> None:
        for path, data in artifact.read_span(span):
            if md5_hex(data) != comparison.by_md5[path]:
                with lock:
                    wrong.append(path)

    with refused_if_damaged():
        run_all(read, artifact.spans(sorted(comparison.by_md5)), READERS)
    return sorted(wrong)


def head_checks(
    client: Any,
    settings: Settings,
    record: ReleaseRecord,
    policy: HeaderPolicy,
    listed: dict[str, Listed],
    comparison: Comparison,
    suspects: list[str],
    depth: Depth,
    live: LiveState,
) -> list[Problem]:
    """HEAD what the depth asks for, what no ETag can decide, and every MD5 mismatch (KMS?)."""
    wanted = {Depth.LIST: [], Depth.HASHED: hashed_paths(live.manifest, record.files)}.get(
        depth, list(record.files)
    )
    paths = sorted({*comparison.by_head, *suspects, *(p for p in wanted if p in listed)})
    by_path: dict[str, list[Problem]] = {}

    def check(path: str) -> None:
        key = settings.live_key(path)
        try:
            head = client.head_object(Bucket=settings.live_bucket, Key=key)
        except ClientError as error:
            if error_code(error) not in {"404", "NoSuchKey", "NotFound"}:
                raise
            by_path[path] = [Problem(key, "missing_file", f"release {record.release} needs it")]
            return
        found = head_problems(key, head, record, path, policy.headers(path))
        if path in suspects and md5_confirmed_wrong(head, record, path):
            found.append(
                Problem(key, "wrong_content", f"its bytes are not those of release {record.release}")
            )
        by_path[path] = found

    run_all(check, paths, HEADS)
    return [problem for path in paths for problem in by_path.get(path, [])]


def restore(
    client: Any,
    settings: Settings,
    artifact: Artifact,
    policy: HeaderPolicy,
    paths: list[str],
    listed: dict[str, Listed],
    report: VerifyReport,
) -> None:
    """PUT each file of `paths` from the artifact with its release's headers, as a deploy does, only
    over the object that was judged: a concurrent writer's object is left alone (`changed_meanwhile`)."""
    lock = threading.Lock()

    def put(path: str, data: bytes) -> None:
        headers = policy.headers(path)
        if len(data) < MULTIPART_BYTES:  # conditions need a single PUT
            headers = headers | condition(path, listed)
        try:
            put_file(client, settings, path, data, artifact.record.files[path], headers)
        except ClientError as error:
            if error_code(error) not in WRITE_CONFLICT:
                raise
            with lock:
                report.changed_meanwhile.append(settings.live_key(path))
            return
        with lock:
            report.restored.append(settings.live_key(path))

    def read(span: Any) -> None:
        for path, data in artifact.read_span(span):
            put(path, data)

    spans = [piece for span in artifact.spans(paths) for piece in pieces(artifact, span)]
    with refused_if_damaged():
        run_all(read, spans, settings.upload_concurrency)
    report.restored.sort()
    report.changed_meanwhile.sort()


def condition(path: str, listed: dict[str, Listed]) -> dict[str, str]:
    """Overwrite only the object we listed; create only where there was none."""
    return {"IfMatch": listed[path].etag} if path in listed else {"IfNoneMatch": "*"}


def list_live(client: Any, settings: Settings) -> dict[str, Listed]:
    """Every object under the live prefix but the deployer's own: one request per 1,000 keys."""
    paginator = client.get_paginator("list_objects_v2")
    pages = paginator.paginate(Bucket=settings.live_bucket, Prefix=settings.live_prefix)
    return listed_paths(pages, settings)


def diagnose(client: Any, settings: Settings, error: LiveStateError) -> list[Problem]:
    """Why read_live refused the live state, as one problem with a stable code."""
    found = get_object(client, settings.live_bucket, settings.live_key(MANIFEST_NAME))
    release = found[2].get(META_RELEASE) if found else None
    if found is None or not release:
        return unreadable(settings, error)
    key = settings.live_key(MANIFEST_NAME)
    if get_object(client, settings.live_bucket, settings.history_key(release, HISTORY_NAME)) is None:
        return [Problem(key, "missing_release_record", str(error))]
    try:
        record, manifest = read_record(client, settings, release), parse_manifest(found[0])
    except (LiveStateError, ArtifactRejected):
        return unreadable(settings, error)
    live = LiveState(found[0], found[1], release, record, manifest)
    return manifest_problems(live, settings) or unreadable(settings, error)


@contextmanager
def refused_if_damaged() -> Iterator[None]:
    """A member that fails its verified read makes the whole artifact untrustworthy: refuse."""
    try:
        yield
    except ArtifactRejected as error:
        raise RepairRefused(
            f"the retained artifact is damaged ({error.code}: {error}): nothing more restored"
        ) from None
