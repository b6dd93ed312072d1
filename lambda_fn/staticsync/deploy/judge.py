"""A deploy's judgements that need reads beyond the plan's: the release's own kept record (a reused id,
a superseded release) and a rollback request's one execution (was its target live, did it run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..artifact.archive import Artifact
from ..bucket import LiveBucket
from ..errors import ArtifactRejected
from ..live.journal import RequestClaim, claim_request
from ..live.objects import Found
from ..live.state import check_kept
from ..live.walk import LIVE, REPLACED, find_live_place, walk_live, was_pruned
from ..model.contract import ReleaseView
from ..model.order import META_PLANNED, RollbackRequest, judge_request, planned_against, superseded
from ..model.plan import Intent, LiveState, check_base
from ..report import SyncReport


@dataclass(frozen=True)
class HistoryReads:
    """The reads judge_history may need beyond the record's HEAD: its bytes, and its tombstone."""

    body: Callable[[], Found | None]
    pruned: Callable[[], bool]


def judge_history(
    kept: Found | None,
    artifact: Artifact,
    view: ReleaseView,
    live: LiveState,
    intent: Intent | None,
    reads: HistoryReads,
) -> None:
    """Refuse, before anything is written, a release whose record is kept with other bytes (a
    reused id), or, for a forward deploy (`intent`), one kept from an attempt that planned against
    another live state: it was live since or a later cutover stepped over it (order.superseded).

    `kept` is the record's HEAD; its bytes are read only to compare them, when it is not the live
    release's (the plan compares the live record already): a retry or a replay, never the common case."""
    if kept is not None and view.release != live.release:
        check_kept(reads.body(), view.release, artifact.release_bytes, view.manifest_bytes)
    if kept is None or intent is None or intent.kind != "deploy":
        return
    if kept.metadata.get(META_PLANNED) == planned_against(live.position, live.etag) and reads.pruned():
        raise ArtifactRejected(
            "not_retained",
            f"release {view.release} was pruned by retention while its deploy waited for a retry: "
            "stage it again as a new release",
        )
    if newer_by_ancestry(view, live) or in_flight(view, live, intent):
        return
    if superseded(kept.metadata.get(META_PLANNED), planned_against(live.position, live.etag)):
        raise ArtifactRejected(
            "superseded",
            f"release {view.release} was recorded before {live.release or 'the live release'} went "
            "live: it was live since, or a later deploy stepped over its claim, so it is older; going "
            f"back to it takes a rollback request: build_tool rollback {view.release}",
        )


def in_flight(view: ReleaseView, live: LiveState, intent: Intent) -> bool:
    """Whether this very deploy holds a claim above the live place: no cutover stepped over it, so it is
    newer than the live release, not older (a cutover that landed late, from an invocation that died,
    took the live place below it). Only with the order's metadata: without it, every claim looks above."""
    return live.position.sequence > 0 and any(
        (entry.release, entry.artifact) == (view.release, intent.artifact) for entry in live.abandoned
    )


def newer_by_ancestry(view: ReleaseView, live: LiveState) -> bool:
    """Whether git proves the release newer than the live one (the live commit is in its ancestry)."""
    base = live.record
    return base is not None and bool(base.source_commit) and base.source_commit in view.record.ancestry


def start_rollback(
    bucket: LiveBucket, request: RollbackRequest, view: ReleaseView, live: LiveState, report: SyncReport
) -> bool:
    """Judge a rollback request against the live state and claim its one execution; False: a replay of
    a request that ran. A request that cannot run is rejected, never reported as a success."""
    client, settings = bucket.client, bucket.settings
    if view.release != request.release:
        raise ArtifactRejected(
            "rollback_mismatch",
            f"the artifact holds release {view.release}, not {request.release} the request names",
        )
    verdict = judge_request(request, live.release, live.position)
    refuse_unrunnable(verdict, request, live)
    if verdict is not None:
        report.outcome, report.reason = "unchanged", verdict  # it ran: a replay of it
        return False
    check_base(view, live, "rollback")  # before the claim: a refused request stays unclaimed
    check_was_live(bucket, request, live)
    if was_pruned(client, settings, request.release):
        raise ArtifactRejected(
            "not_retained",
            f"release {request.release} was pruned by retention: its files are no longer all kept, and "
            "apps pinned to it refuse to start; deploy it again as a new release instead",
        )
    if not claim_request(client, settings, RequestClaim.of(request, live.position.sequence)):
        if request_went_live(bucket, request, live):
            report.outcome, report.reason = "unchanged", "replayed"  # it ran; the site came back since
            return False
        raise ArtifactRejected(
            "request_not_run",
            f"rollback request {request.request} was started against another live place and never cut "
            f"over; it is not run now: make a new request against the live release {live.release}",
        )
    return True


def refuse_unrunnable(verdict: str | None, request: RollbackRequest, live: LiveState) -> None:
    """Reject a request that may not run now: its replaced release is not live (`rollback_conflict`),
    or its target is live but not by this request, which never ran (`request_not_run`)."""
    if verdict == "conflict":
        raise ArtifactRejected(
            "rollback_conflict",
            f"rollback request {request.request} replaces {request.replaces}, but {live.release} is "
            "live now: it was not run (make a new request against the live release)",
        )
    if verdict == "already_live":
        raise ArtifactRejected(
            "request_not_run",
            f"rollback request {request.request} was not run: {request.release} is live already, but "
            f"not by this request (it replaces {request.replaces}, which is not live)",
        )


def request_went_live(bucket: LiveBucket, request: RollbackRequest, live: LiveState) -> bool:
    """Whether a place the request claimed went live (walked back on the chain, one GET a place)."""
    places = walk_live(bucket.client, bucket.settings, live)
    return any(p.entry.request == request.request and p.outcome in (LIVE, REPLACED) for p in places)


def check_was_live(bucket: LiveBucket, request: RollbackRequest, live: LiveState) -> None:
    """A rollback goes only to a release that was live: the journal shows a place where it went live
    and was replaced (walked back from the live place, one GET a place; never the metadata alone)."""
    if find_live_place(bucket.client, bucket.settings, request.release, live) is None:
        raise ArtifactRejected(
            "never_live",
            f"release {request.release} was never live before {live.release} (the journal has no place "
            "where it went live and was replaced): a rollback goes only to a release that was live",
        )
