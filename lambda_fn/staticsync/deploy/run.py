"""One deploy: open the artifact (or take one opened), judge it against the live bucket, plan, run it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from ..artifact.archive import Artifact
from ..artifact.ranged import S3Range, SparseFile
from ..bucket import LiveBucket, Run, Staged, error_code
from ..config import Settings
from ..errors import ArtifactRejected
from ..live.objects import Found
from ..live.state import Known, kept_body, kept_history, read_live, write_history
from ..live.walk import was_pruned
from ..model.contract import META_RELEASE_SHA256, ReleaseView
from ..model.order import META_PLANNED, RollbackRequest, planned_against
from ..model.plan import Intent, LiveState, Plan, make_plan
from ..notify.cutover import SILENT, Notifier
from ..notify.report_object import normal_etag
from ..report import SyncReport
from .execute import Executor
from .judge import HistoryReads, judge_history, start_rollback
from .tags import ALREADY_REJECTED, REQUEST_LEVEL, previous_rejection, rejection_tags

# Artifacts up to this size have the live state read beside their first read (live_reader).
BESIDE_BYTES = 64 * 1024 * 1024


class Source(Protocol):
    """An opened artifact: S3Range (a staged one) or LocalRange (a direct deploy's local file)."""

    size: int
    etag: str
    metadata: dict[str, str]

    @property
    def uri(self) -> str: ...

    def read_range(self, start: int, end: int) -> bytes: ...

    def initial_fragments(self) -> dict[int, bytes]: ...


class Carry(Protocol):
    """Takes a judged plan with a cutover out of this invocation's hands (staticsync.sharded: hand it
    to the state machine, claim it and list its shards, or finish it): True when it did, False to
    run it inline as always."""

    def __call__(self, executor: Executor, plan: Plan, live: LiveState, intent: Intent) -> bool: ...


def inline(executor: Executor, plan: Plan, live: LiveState, intent: Intent) -> bool:
    return False


@dataclass(frozen=True)
class Onward:
    """Who hears of each cutover, and who may carry a plan elsewhere (by default no one: inline)."""

    notifier: Notifier = SILENT
    carry: Carry = inline


def deploy(
    bucket: LiveBucket,
    staged: Staged,
    run: Run,
    request: RollbackRequest | None = None,
    notifier: Notifier = SILENT,
    carry: Carry = inline,
) -> SyncReport:
    """Deploy the staged artifact; fills in the run's report as it goes, also when it raises.

    With `request`, as that rollback request's one execution; `notifier` hears of each cutover;
    `carry` may take a judged plan elsewhere (a sharded deploy). A rejected artifact is tagged and
    reported, not raised: retrying it cannot help. The staged object's `size` (the S3 event's) sizes
    the first read so that it holds the artifact's whole tail.
    """
    source: S3Range | None = None

    def tag(error: ArtifactRejected) -> None:
        if error.code != ALREADY_REJECTED and not (request is not None and error.code in REQUEST_LEVEL):
            tags = rejection_tags(error, source)
            bucket.client.put_object_tagging(Bucket=staged.bucket, Key=staged.key, Tagging=tags)

    with reporting(run, tag), ThreadPoolExecutor(max_workers=1, thread_name_prefix="live") as background:
        live = live_reader(bucket, staged.size, background)
        source = open_artifact(bucket.client, staged)
        run.report.artifact_etag = run.report.artifact_etag or normal_etag(source.etag)
        reason = previous_rejection(bucket.client, source)
        if reason:
            raise ArtifactRejected(
                ALREADY_REJECTED, f"this artifact was rejected before ({reason}); stage a corrected one"
            )
        _deploy(bucket, source, live, run, request, Onward(notifier, carry))
    return run.report


def deploy_source(
    bucket: LiveBucket,
    source: Source,
    run: Run,
    request: RollbackRequest | None = None,
    notifier: Notifier = SILENT,
) -> SyncReport:
    """Deploy an artifact already opened (a direct deploy's local file) as `deploy` deploys a staged
    one, but with nothing to tag: a rejection is only reported."""
    with reporting(run), ThreadPoolExecutor(max_workers=1, thread_name_prefix="live") as background:
        live = live_reader(bucket, source.size, background)
        _deploy(bucket, source, live, run, request, Onward(notifier))
    return run.report


@contextmanager
def reporting(run: Run, tag: Callable[[ArtifactRejected], None] = lambda error: None) -> Iterator[None]:
    """The run's report, however the deploy ends: a rejection is reported (and `tag`ged), not raised;
    any other failure is reported and raised; the seconds and requests are stamped always."""
    report = run.report
    run.meter.reset()
    try:
        yield
    except ArtifactRejected as error:
        report.outcome, report.reason, report.member = "rejected", error.code, error.member
        report.detail = str(error)
        tag(error)
    except Exception as error:
        report.outcome, report.reason = "failed", type(error).__name__
        report.detail = str(error)
        raise
    finally:
        run.finish()


def live_reader(
    bucket: LiveBucket, size: int | None, background: ThreadPoolExecutor
) -> Callable[[Known], LiveState]:
    """The live state, read beside the artifact's first read (two round trips become one) when the
    event says the artifact is at most BESIDE_BYTES; a larger one's open and the live record's parse
    would add their peaks (about 100 MB each at 100,000 files), so it is read after, taking what
    it shares with the opened artifact from it (a no-change redeploy's record and manifest)."""
    if size is not None and 0 < size <= BESIDE_BYTES:
        future = background.submit(read_live, bucket.client, bucket.settings)
        return lambda known: future.result()
    return lambda known: read_live(bucket.client, bucket.settings, known)


def open_artifact(client: Any, staged: Staged) -> S3Range:
    try:
        return S3Range(client, staged.bucket, staged.key, size=staged.size)
    except ClientError as error:
        # A suffix range is unsatisfiable only on an empty object (moto answers 200 instead).
        if error_code(error) == "InvalidRange":
            raise ArtifactRejected("empty_artifact", "the artifact is an empty object") from None
        raise


def _deploy(
    bucket: LiveBucket,
    source: Source,
    live_state: Callable[[Known], LiveState],
    run: Run,
    request: RollbackRequest | None,
    onward: Onward,
) -> None:
    settings, report = bucket.settings, run.report
    report.artifact_etag = report.artifact_etag or normal_etag(source.etag)
    artifact, view = open_checked(source, settings, report)
    live, kept = read_beside(bucket, live_state, Known(artifact_digest(source), view))
    report.live_release_before = report.live_release_after = live.release
    intent = Intent(source.uri, datetime.now(UTC))
    if request is not None:
        intent = Intent(intent.artifact, intent.now, "rollback", request.request)
        report.kind = "rollback"
        if not start_rollback(bucket, request, view, live, report):
            return
    plan = make_plan(view, live, intent, owned=(settings.history_prefix,))
    report.files_unchanged = len(plan.unchanged)
    judge_history(kept, artifact, view, live, intent if plan.cutover else None, history_reads(bucket, view))
    if plan.cutover is None:
        report.outcome = "unchanged"
        if view.release != live.release and kept is None:
            keep_alias(bucket, artifact, view, live)
        return
    executor = Executor(bucket, artifact, view, run, onward.notifier, history_kept=kept is not None)
    if not onward.carry(executor, plan, live, intent):
        executor.run(plan, live, intent)


def artifact_digest(source: Source) -> str:
    """The release.json SHA-256 the artifact was staged with (build_tool's metadata), or a rejection."""
    expected = source.metadata.get(META_RELEASE_SHA256)
    if not expected:
        raise ArtifactRejected(
            "missing_checksum",
            "the artifact has no release-sha256 metadata: stage it with build_tool",
        )
    return expected


def open_checked(source: Source, settings: Settings, report: SyncReport) -> tuple[Artifact, ReleaseView]:
    """The artifact opened and checked against the contract, and its view; the report names it."""
    artifact = Artifact(SparseFile(source, source.initial_fragments()), settings, artifact_digest(source))
    view = ReleaseView(artifact.record, artifact.manifest_bytes, artifact.manifest, artifact.inherited)
    report.release, report.files_total = view.release, view.record.file_count
    report.commit = view.record.source_commit
    return artifact, view


def read_beside(
    bucket: LiveBucket, live_state: Callable[[Known], LiveState], known: Known
) -> tuple[LiveState, Found | None]:
    """The live state, and beside it the HEAD of the release's own record (a retry, a replay)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="history") as beside:
        kept = beside.submit(kept_history, bucket.client, bucket.settings, known.view.release)
        return live_state(known), kept.result()


def history_reads(bucket: LiveBucket, view: ReleaseView) -> HistoryReads:
    client, settings, release = bucket.client, bucket.settings, view.release
    return HistoryReads(
        functools.partial(kept_body, client, settings, release),
        functools.partial(was_pruned, client, settings, release),
    )


def keep_alias(bucket: LiveBucket, artifact: Artifact, view: ReleaseView, live: LiveState) -> None:
    """The live bytes under another id (a commit that changed no static file): its record is kept, so
    an app pinned to this id starts (PinnedManifestStaticFilesStorage)."""
    now = {META_PLANNED: planned_against(live.position, live.etag)}
    write_history(
        bucket.client, bucket.settings, view.release, artifact.release_bytes, view.manifest_bytes, now
    )
