"""Verify the live bucket against the live release and restore what is missing or wrong from its artifact.

One pass: read the live state; LIST the live prefix (1 request per 1,000 keys), then the journal claims
above the live place (one GET when there are none); compare the retained artifact's members (read by
coalesced spans) with the listed ETags; HEAD what the depth asks for or an ETag cannot decide; in
repair mode, PUT exactly the files found missing or wrong, each only over the object judged (IfMatch /
IfNoneMatch). An unhashed name a claim lists is a deploy's to write (it claims before it overwrites
any, so a claim read after the LIST is seen for every byte the LIST saw): reported as
`deploy_in_flight`, never restored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from ..bucket import MISSING, LiveBucket, error_code
from ..config import Settings
from ..deploy.upload import run_all
from ..errors import LiveStateError
from ..live.journal import abandoned_claims
from ..model.contract import MANIFEST_NAME, ReleaseRecord
from ..model.headers import HeaderPolicy
from ..model.order import JournalEntry
from ..model.plan import LiveState
from ..model.verdicts import (
    IN_FLIGHT,
    Comparison,
    Listed,
    Problem,
    Proof,
    claimed_keys,
    compare_listing,
    hashed_paths,
    head_problems,
    hold_claimed,
    listed_paths,
    manifest_header_problems,
    manifest_problems,
    md5_confirmed_wrong,
    to_restore,
)
from .restore import Restore, read_or_restore, restore_files
from .retained_artifact import RepairRefused, Retained, complete_retained, open_retained

__all__ = ["Depth", "RepairRefused", "VerifyReport", "verify_live"]

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

    @property
    def held(self) -> list[str]:
        """Keys left to a deploy in flight (or to the next one): they are its to write."""
        return [p.key for p in self.problems if p.code == IN_FLIGHT]

    def as_log(self) -> dict[str, Any]:
        record = asdict(self)
        record["problems"] = [str(p) for p in self.problems[:MAX_LISTED]]
        record["restored"] = self.restored[:MAX_LISTED]
        counts = {"problem_count": len(self.problems), "restored_count": len(self.restored)}
        return record | counts | {"held_count": len(self.held)}


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
        Pass(LiveBucket(client, settings), depth, repair, report).run()
    finally:
        if meter is not None:
            report.s3_requests, report.requests_by_operation = meter.total, meter.by_operation()
    return report


@dataclass(frozen=True)
class Seen:
    """The live bucket as one pass judges it: the live release, the LIST, the live manifest's HEAD
    after it, and the keys journal claims above the live place may overwrite (read after the LIST)."""

    live: LiveState
    record: ReleaseRecord
    policy: HeaderPolicy
    listed: dict[str, Listed]
    head: dict[str, Any]
    claimed: dict[str, str]


@dataclass
class Pass:
    """One verify (and repair) pass over the live bucket, filling in its report."""

    bucket: LiveBucket
    depth: Depth
    repair: bool
    report: VerifyReport

    @property
    def settings(self) -> Settings:
        return self.bucket.settings

    def run(self) -> None:
        live = self.live_state()
        if live is None:
            return
        retained = self.retained(live)
        seen = self.survey(live)
        artifact = retained.artifact if retained else None
        sizes = {path: artifact.size_of(path) for path in artifact.members} if artifact else None
        comparison = compare_listing(seen.record.files, sizes, seen.listed, etag_md5=self.settings.etag_md5)
        problems = manifest_problems(live, self.settings)
        problems += manifest_header_problems(self.settings, seen.head, seen.policy)
        problems += listing_problems(comparison, seen, sizes or {}, self.settings)
        suspects = retained.differing(comparison.by_md5) if retained else []
        problems += self.head_checks(seen, comparison, suspects)
        self.report.problems = hold_claimed(problems, seen.claimed)
        if self.repair and retained is not None:
            self.restore(seen, retained)

    def live_state(self) -> LiveState | None:
        """The live state with its record, or None when the pass cannot go on (the problems say why)."""
        read = read_or_restore(self.bucket, self.repair)
        self.report.problems, self.report.restored = read.problems, read.restored
        if read.live is None or read.live.record is None:
            return None
        self.report.release, self.report.files = read.live.release, read.live.record.file_count
        return read.live

    def retained(self, live: LiveState) -> Retained | None:
        if not (self.repair or self.settings.artifacts_bucket):
            return None
        retained = open_retained(self.bucket.client, self.settings, live)
        self.report.artifact = retained.where
        return retained

    def survey(self, live: LiveState) -> Seen:
        """LIST, then the claims above the live place, then the live manifest's HEAD."""
        client, settings = self.bucket.client, self.settings
        assert live.record is not None
        listed = list_live(client, settings)
        self.report.listed = len(listed)
        claimed = claimed_keys(read_claims(self.bucket, live), settings)
        # After the LIST: the live release did not move while it ran, so every listed byte is judged
        # against the right release (a cutover in between would make its new files look wrong).
        head = client.head_object(Bucket=settings.live_bucket, Key=settings.live_key(MANIFEST_NAME))
        if head.get("ETag") != live.etag:
            raise RepairRefused("the live staticfiles.json changed during the pass (a deploy): run it again")
        policy = HeaderPolicy.for_release(settings, live.record.files, live.manifest)
        return Seen(live, live.record, policy, listed, head, claimed)

    def head_checks(self, seen: Seen, comparison: Comparison, suspects: list[str]) -> list[Problem]:
        """HEAD what the depth asks for, what no ETag can decide, and every MD5 mismatch (KMS?)."""
        files = seen.record.files
        wanted = {Depth.LIST: [], Depth.HASHED: hashed_paths(seen.live.manifest, files)}.get(
            self.depth, list(files)
        )
        paths = sorted({*comparison.by_head, *suspects, *(p for p in wanted if p in seen.listed)})
        by_path: dict[str, list[Problem]] = {}  # one key per thread: no lock needed
        suspected = frozenset(suspects)

        def check(path: str) -> None:
            by_path[path] = head_check(self.bucket, seen, path, path in suspected)

        run_all(check, paths, HEADS)
        return [problem for path in paths for problem in by_path[path]]

    def restore(self, seen: Seen, retained: Retained) -> None:
        paths = to_restore(self.report.problems, self.settings, seen.record.files)
        if any(path not in retained.artifact.members for path in paths):
            # A live delta's inherited files: read from its base chain, checked against its record.
            retained = complete_retained(self.bucket.client, self.settings, retained)
            retained = retained.prove(Proof(seen.record.release, seen.record, None))
            self.report.artifact = retained.where
        job = Restore(paths, seen.record.files, seen.policy, seen.listed)
        done = restore_files(self.bucket, retained, job)
        self.report.restored = sorted([*self.report.restored, *done.restored])
        self.report.changed_meanwhile = done.changed_meanwhile


def read_claims(bucket: LiveBucket, live: LiveState) -> tuple[JournalEntry, ...]:
    """The journal claims above the live place: deploys in flight, or dead ones the next steps over.
    Places are claimed one after another, so one GET (a 404) says there are none; else one LIST."""
    try:
        return abandoned_claims(bucket.client, bucket.settings, live.position.sequence)
    except LiveStateError as error:
        raise RepairRefused(
            f"{error}; which names a deploy claims is unknown, so nothing is restored"
        ) from None


def head_check(bucket: LiveBucket, seen: Seen, path: str, suspect: bool) -> list[Problem]:
    """One HEAD: the file's headers and sha256 metadata; a `suspect` (its MD5 differed) confirmed."""
    settings, record = bucket.settings, seen.record
    key = settings.live_key(path)
    try:
        head = bucket.client.head_object(Bucket=settings.live_bucket, Key=key)
    except ClientError as error:
        if error_code(error) not in MISSING:
            raise
        return [Problem(key, "missing_file", f"release {record.release} needs it")]
    found = head_problems(key, head, record, path, seen.policy.headers(path))
    if suspect and md5_confirmed_wrong(head, record, path):
        found.append(Problem(key, "wrong_content", f"its bytes are not those of release {record.release}"))
    return found


def listing_problems(
    comparison: Comparison, seen: Seen, sizes: dict[str, int], settings: Settings
) -> list[Problem]:
    release = seen.record.release
    missing = [
        Problem(settings.live_key(p), "missing_file", f"release {release} needs it")
        for p in comparison.missing
    ]
    return missing + [
        Problem(settings.live_key(p), "wrong_size", f"{seen.listed[p].size} bytes, release has {sizes[p]}")
        for p in comparison.wrong_size
    ]


def list_live(client: Any, settings: Settings) -> dict[str, Listed]:
    """Every object under the live prefix but the deployer's own: one request per 1,000 keys."""
    paginator = client.get_paginator("list_objects_v2")
    pages = paginator.paginate(Bucket=settings.live_bucket, Prefix=settings.live_prefix)
    return listed_paths(pages, settings)
