"""Run a plan's phases against the live bucket: upload, keep the history, claim, cut over."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from ..artifact.archive import Artifact
from ..bucket import LiveBucket, Run
from ..config import Settings
from ..errors import LiveChanged, OutOfTime
from ..live.journal import ClaimTaken, claim_entry, claims_above
from ..live.state import cut_over, read_live, write_history
from ..model.contract import META_RELEASE_SHA256, ReleaseView
from ..model.headers import HeaderPolicy
from ..model.order import META_PLANNED, planned_against
from ..model.plan import Intent, LiveState, Plan, make_plan
from ..notify.cutover import SILENT, Notifier
from ..report import SyncReport
from .upload import Uploads, put_files, read_and_put, read_spans, upload_spans

# Mutable (unhashed) files up to this size are read and checked in memory before any is written;
# past it they are checked in a first pass and read again to upload.
PREVERIFY_BYTES = 64 * 1024 * 1024
# Stop before the cutover when less time than this is left in the invocation.
CUTOVER_MARGIN_SECONDS = 15.0
# Rounds lost in a row to concurrent deploys before a retry is left to Lambda. Each lost round means
# another deploy claimed meanwhile (progress), and each new round steps over every claim there is, so
# dead deploys' claims, however many, cost one round: no staged artifact can exhaust this.
CLAIM_ROUNDS = 16


class Executor:
    """Runs a plan's phases in order: content-addressed names with the history and the journal
    claim beside them, mutable names, cutover. Everything before the cutover is invisible to
    visitors or undone by the next deploy (the claim names what this one overwrote)."""

    def __init__(
        self,
        bucket: LiveBucket,
        artifact: Artifact,
        view: ReleaseView,
        run: Run,
        notifier: Notifier = SILENT,
        history_kept: bool = False,
    ) -> None:
        self.bucket, self.artifact, self.view = bucket, artifact, view
        self.client, self.settings = bucket.client, bucket.settings
        self.report, self.remaining_seconds, self.notifier = run.report, run.remaining_seconds, notifier
        self.meter = run.meter  # upload worker processes' requests are added to it
        self.policy = HeaderPolicy(self.settings, frozenset(view.record.files), view.hashed)
        self.uploaded = _counter(self.report, self.settings)
        self.history_kept = history_kept  # an earlier attempt's record, judged to be this build's

    def run(self, plan: Plan, live: LiveState, intent: Intent) -> None:
        """A plan up to PREVERIFY_BYTES is read in one pass of coalesced ranges, so a file and its
        hashed copy share a GET although they are written in different phases. A larger one is
        streamed: one pass uploads the content-addressed names and checks the others (keeping them
        when they fit in memory), and only if they did not fit, a second pass uploads them."""
        self.check_time("uploading")
        files, plan = self.upload_immutable(plan, live, intent)
        self.finish(plan, live, files)

    def finish(self, plan: Plan, live: LiveState, files: dict[str, bytes]) -> None:
        """A claimed plan's last phases: the mutable names (those not in `files`, already read and
        checked, are read now), then the cutover and what follows it. Also a sharded deploy's finish
        step (staticsync.sharded.finish), once every shard has uploaded its content-addressed names."""
        changes = self.notifier.before_mutable(self.settings, plan, live, self.sizes)
        unread = [p for p in plan.mutable if p not in files]
        if sum(self.artifact.size_of(p) for p in unread) > PREVERIFY_BYTES:
            self.stream(unread)
            unread = []
        files.update(read_spans(self.artifact, self.artifact.spans(unread), self.workers))
        self.put(files, [p for p in plan.mutable if p in files])
        self.check_time("the cutover")
        self.cut_over(plan)
        if self.report.outcome == "deployed":
            self.notifier.release_live(self.settings, self.report, plan, live, changes)

    def upload_immutable(self, plan: Plan, live: LiveState, intent: Intent) -> tuple[dict[str, bytes], Plan]:
        """Upload the content-addressed names, then claim the journal place with the history record
        beside it; the mutable files read on the way (checked) when they fit in memory, and the
        claimed plan.

        The claim comes only once nothing can reject the artifact any more: every file read and
        checked, the kept record judged (run.judge_history), every content-addressed name written (a
        name the bucket holds with other bytes rejects it). A rejected artifact leaves no claim and
        no record."""
        if sum(self.artifact.size_of(p) for p in plan.uploads) <= PREVERIFY_BYTES:
            files = read_and_put(self.uploads(True), self.artifact.spans(plan.uploads), plan.immutable)
            return files, self.claim_with_history(plan, live, intent)
        fits = sum(self.artifact.size_of(p) for p in plan.mutable) <= PREVERIFY_BYTES
        files = self.stream(plan.uploads, only=frozenset(plan.immutable), keep_others=fits)
        return (files if fits else {}), self.claim_with_history(plan, live, intent)

    def claim_with_history(self, plan: Plan, live: LiveState, intent: Intent) -> Plan:
        """The history record and the journal claim, beside each other: both before any unhashed name."""
        self.check_time("claiming the release's place")
        if self.history_kept:
            return self.claim(plan, live, intent)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="history") as side:
            history = side.submit(self.keep_history, live)
            claimed = self.claim(plan, live, intent)
            history.result()
        return claimed

    def sizes(self) -> dict[str, int]:
        # A delta's inherited files have no member to size: their families are inherited whole, so
        # the sibling index keeps their live entries and never reads these zeros.
        members = self.artifact.members
        return {
            path: self.artifact.size_of(path) if path in members else 0 for path in self.view.record.files
        }

    @property
    def workers(self) -> int:
        return self.settings.upload_concurrency

    def put(
        self, files: dict[str, bytes], paths: list[str] | tuple[str, ...], only_new: bool = False
    ) -> None:
        put_files(self.uploads(only_new), files, paths)

    def stream(
        self, paths: Any, only: frozenset[str] | None = None, keep_others: bool = False
    ) -> dict[str, bytes]:
        spans = self.artifact.spans(paths)
        return upload_spans(self.uploads(only is not None), spans, only=only, keep_others=keep_others)

    def uploads(self, only_new: bool) -> Uploads:
        return Uploads(self.bucket, self.artifact, self.policy, self.uploaded, only_new, self.meter)

    def keep_history(self, live: LiveState) -> None:
        """Write the release's history record, noting the live state it planned against (what
        order.superseded judges a later attempt by)."""
        now = planned_against(live.position, live.etag)
        record = self.view.record
        write_history(
            self.client,
            self.settings,
            record.release,
            self.artifact.release_bytes,
            self.view.manifest_bytes,
            {META_PLANNED: now},
        )

    def claim(self, plan: Plan, live: LiveState, intent: Intent) -> Plan:
        """Own the next free place in the journal. The plan already stepped over every claim the live
        read found; a claim taken since (a concurrent deploy) is found again with one LIST and stepped
        over too: no number of dead deploys' claims can block a deploy."""
        for _ in range(CLAIM_ROUNDS):
            assert plan.entry is not None
            try:
                claim_entry(self.client, self.settings, plan.entry)
                return plan
            except ClaimTaken:
                claims = claims_above(self.client, self.settings, live.position.sequence)
                live = replace(live, abandoned=tuple(claims))
                plan = make_plan(self.view, live, intent, owned=(self.settings.history_prefix,))
        raise LiveChanged(
            f"journal places after {live.position.sequence} were claimed by concurrent deploys "
            f"{CLAIM_ROUNDS} times in a row; a retry plans again"
        )

    def cut_over(self, plan: Plan) -> None:
        assert plan.cutover is not None
        release, manifest = self.view.release, self.view.manifest_bytes
        headers = self.policy.manifest_headers()
        # Hashed at open: inflating release.json again here would hold it twice at the peak.
        metadata = {
            **plan.cutover.position.metadata(release),
            META_RELEASE_SHA256: self.artifact.release_sha256,
        }
        try:
            etag = cut_over(self.client, self.settings, manifest, plan.cutover, headers, metadata)
        except LiveChanged:
            live = read_live(self.client, self.settings)
            if (live.release, live.manifest_bytes) != (release, manifest):
                raise
            self.report.outcome = "unchanged"  # a concurrent delivery of this same artifact cut over first
            return
        self.report.outcome, self.report.manifest_etag = "deployed", etag.strip('"')
        self.report.sequence, self.report.live_release_after = plan.cutover.position.sequence, release

    def check_time(self, step: str) -> None:
        _check_time(self.remaining_seconds, step)


def _counter(report: SyncReport, settings: Settings) -> Callable[[str, int], None]:
    lock = threading.Lock()

    def uploaded(path: str, size: int) -> None:
        with lock:
            report.record_upload(settings.live_key(path), size)

    return uploaded


def _check_time(remaining_seconds: Callable[[], float], step: str) -> None:
    left = remaining_seconds()
    if left < CUTOVER_MARGIN_SECONDS:
        raise OutOfTime(
            f"{left:.0f} s left in this invocation, stopping before {step}; the live site is "
            "unchanged and a retry resumes (raise the function's timeout for artifacts this large)"
        )
