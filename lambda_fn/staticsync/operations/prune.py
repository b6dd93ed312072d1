"""Retention's I/O: LIST, walk the journal, mark what it stops keeping, delete, retire; and its requests.

Costs per run: one LIST request per 1,000 live keys (its Date is the run's clock; it also shows the
history records, tombstones and pins), the live read (the manifest, the live record and the journal
place after the live one: a LIST and a GET per claim only when it is taken), one GET per journal
entry walked (about RETAIN_RELEASES plus every cutover of the grace period), one GET per other
retained release's record and per base a retained delta inherits from (transitively), one PUT per
release marked pruned (once in its life), one DeleteObjects request per 1,000 keys deleted, one LIST
per 1,000 staged objects, one PutObjectTagging per staged object retired and one GetObjectTagging
per rollback walked and per base artifact kept. Runs inside the sync function only (after a
cutover, on a request or a schedule), whose ReservedConcurrentExecutions=1 means never beside a
deploy or a pin request.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ..config import Settings
from ..live import pins
from ..live.pins import RETIRED_TAG as RETIRED_TAG  # the template's lifecycle rule reads it
from ..live.state import HISTORY_NAME, read_live
from ..model import retention
from ..model.pins import REQUEST_FORMAT as REQUEST_FORMAT  # build_tool prune writes requests
from ..model.pins import Tombstone
from ..model.plan import LiveState
from ..model.retention import Decision, Policy, Retained, Seen, Where, stamp
from ..report import MAX_LISTED_KEYS, SyncReport

# The input of the template's PruneOnSchedule event: the handler runs a prune, not a deploy.
SCHEDULED = {"staticsync": "prune"}
# After a cutover, prune only with this much of the invocation left (the deploy comes first).
MIN_SECONDS = 60.0


@dataclass
class PruneReport:
    """What one run marked, deleted and retired (or, dry, would): the `prune finished` log record."""

    where: str
    dry_run: bool
    live_release: str | None = None
    retained: list[str] = field(default_factory=list)
    clock: str | None = None  # S3's clock the run judged by
    marked: list[str] = field(default_factory=list)  # releases marked pruned (tombstones written)
    deleted: int = 0
    bytes_deleted: int = 0
    kept: int = 0
    capped: bool = False
    refused: str | None = None
    keys: list[str] = field(default_factory=list)  # the first MAX_LISTED_KEYS deleted
    retired: list[str] = field(default_factory=list)  # staged objects tagged for expiry
    bases: list[str] = field(default_factory=list)  # releases whose artifacts stay for a retained delta
    errors: list[str] = field(default_factory=list)  # keys DeleteObjects did not delete, with why
    requests_by_operation: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list, repr=False)  # the dry-run description

    def __str__(self) -> str:
        if self.refused:
            return f"prune {self.where}: nothing deleted: {self.refused}"
        verb, capped = "would delete" if self.dry_run else "deleted", " (capped: the next run goes on)"
        return (
            f"prune {self.where}: {verb} {self.deleted} keys ({self.bytes_deleted} bytes), kept {self.kept}, "
            f"marked {len(self.marked)} releases pruned, retired {len(self.retired)} staged objects"
        ) + (capped if self.capped else "")

    def take(self, decision: Decision) -> None:
        self.retained, self.marked, self.lines = (
            list(decision.retained),
            list(decision.tombstones),
            decision.describe(),
        )
        self.refused, self.capped, self.kept = decision.refused, decision.capped, decision.kept
        self.deleted, self.bytes_deleted = len(decision.delete), decision.bytes
        self.keys = [doomed.key for doomed in decision.delete[:MAX_LISTED_KEYS]]

    def as_log(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("lines")
        return record | {"requests": sum(self.requests_by_operation.values())}


def is_scheduled(event: Any) -> bool:
    """Whether the invocation is the template's PruneOnSchedule event."""
    return isinstance(event, dict) and event.get("staticsync") == SCHEDULED["staticsync"]


def policy_of(settings: Settings) -> Policy:
    return Policy(
        settings.retain_releases, timedelta(days=settings.retention_grace_days), settings.prune_max_deletes
    )


def where_of(settings: Settings) -> Where:
    return Where(settings.live_prefix, settings.history_prefix, HISTORY_NAME)


def prune_after_cutover(
    client: Any,
    settings: Settings,
    report: SyncReport,
    remaining_seconds: Callable[[], float] = lambda: float("inf"),
) -> PruneReport | None:
    """After a deploy or rollback that went live (PRUNE_AFTER_DEPLOY): prune, never failing the deploy.

    A failure is a warning on the deploy's report; the next deploy (or the schedule) tries again.
    """
    if not settings.prune_after_deploy or report.outcome != "deployed" or remaining_seconds() < MIN_SECONDS:
        return None
    try:
        return prune_live(client, settings)
    except Exception as error:  # the release is live; retention can wait for the next run
        report.warn(f"prune failed: {type(error).__name__}: {error}")
        return None


def prune_live(
    client: Any, settings: Settings, *, now: datetime | None = None, dry_run: bool = False
) -> PruneReport:
    """Mark pruned the releases retention no longer keeps, then delete the live keys none it keeps
    needs (and retire the staged objects none needs). `now`: S3's clock as a test pretends it is;
    by default the Date of S3's answer to the LIST, never this machine's clock."""
    started = time.monotonic()
    report = PruneReport(f"s3://{settings.live_bucket}/{settings.live_prefix}", dry_run)
    with counted(client) as counts:
        try:
            Pass(client, settings, policy_of(settings), report).run(now)
        finally:
            report.requests_by_operation = dict(sorted(counts.items()))
            report.seconds = round(time.monotonic() - started, 3)
    return report


@dataclass
class Pass:
    """One prune run: the live bucket, the policy, and the report it fills in."""

    client: Any
    settings: Settings
    policy: Policy
    report: PruneReport

    def run(self, now: datetime | None) -> None:
        seen, live = self.read(now)
        where = where_of(self.settings)
        keep = retention.retained(seen, where, self.policy)
        records, bases = pins.read_records(self.client, self.settings, keep.releases, live)
        seen = replace(seen, records=records)
        if self.settings.artifacts_bucket:  # what retained deltas inherit from: their bases' artifacts stay
            keep = replace(keep, bases=pins.read_bases(self.client, self.settings, bases))
            self.report.bases = sorted(keep.bases)
        decision = retention.decide(seen, where, self.policy)
        self.report.take(decision)
        if decision.refused:
            return
        if not self.report.dry_run:
            marks = [Tombstone(release, seen.now, live.release) for release in decision.tombstones]
            pins.mark_pruned(self.client, self.settings, marks)  # before any file of theirs goes
            self.report.errors = pins.delete_keys(
                self.client, self.settings.live_bucket, [d.key for d in decision.delete]
            )
            self.report.deleted -= len(self.report.errors)
        if self.settings.artifacts_bucket:
            self.retire(seen, keep)

    def read(self, now: datetime | None) -> tuple[Seen, LiveState]:
        """The LIST first: its Date is the run's clock, which the walk back already needs."""
        listing, clock = pins.list_objects(self.client, self.settings.live_bucket, self.settings.live_prefix)
        now = now or clock
        self.report.clock = stamp(now)
        live = read_live(self.client, self.settings)
        self.report.live_release = live.release
        chain = pins.read_chain(self.client, self.settings, live, self.policy, now)
        # The live read found the claims above the live place (deploys in flight or dead before
        # their cutover): one GET of the next place, and a LIST only when it is taken.
        return Seen(chain, listing, now, frozenset(entry.release for entry in live.abandoned)), live

    def retire(self, seen: Seen, keep: Retained) -> None:
        bucket, prefix = self.settings.artifacts_bucket, self.settings.staging_prefix
        staged, _ = pins.list_objects(self.client, bucket, prefix)
        retire = retention.to_retire(
            staged, keep, bucket=bucket, staging_prefix=prefix, now=seen.now, policy=self.policy
        )
        self.report.retired = [doomed.key for doomed in retire.delete]
        self.report.lines += [f"retire s3://{bucket}/{d.key}: {d.why}" for d in retire.delete]
        self.report.lines += [
            f"keep s3://{bucket}/{prefix}{base}.zip: a retained delta inherits files from release {base}"
            for base in sorted(keep.bases)
        ]
        if not self.report.dry_run:
            pins.tag_retired(self.client, bucket, self.report.retired)
            rollbacks = [link for link in seen.chain if link.entry.kind == "rollback"]
            bases = [f"{prefix}{release}.zip" for release in sorted(keep.bases)]
            pins.revive(self.client, self.settings, rollbacks, bases)


@contextlib.contextmanager
def counted(client: Any) -> Iterator[Counter[str]]:
    """The requests `client` sends while entered, by operation, from its own events."""
    counts: Counter[str] = Counter()

    def count(operation_name: str = "unknown", **_: Any) -> None:
        counts[operation_name] += 1

    client.meta.events.register("request-created.s3", count, unique_id=f"prune-{id(counts)}")
    try:
        yield counts
    finally:
        client.meta.events.unregister("request-created.s3", unique_id=f"prune-{id(counts)}")
