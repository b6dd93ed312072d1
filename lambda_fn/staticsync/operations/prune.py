"""Retention's I/O: LIST, walk the journal, mark what it stops keeping, delete, retire; and its requests.

Costs per run: one LIST request per 1,000 live keys (its Date is the run's clock; it also shows the
history records, tombstones and pins), the live manifest and record (two GETs), one GET per journal
entry walked (about RETAIN_RELEASES plus every cutover of the grace period), one LIST of the journal
above the live place (and a GET per claim there, usually none), one GET per other retained release's
record, one PUT per release marked pruned (once in its life), one DeleteObjects request per 1,000
keys deleted, one LIST per 1,000 staged objects, one PutObjectTagging per staged object retired and
one GetObjectTagging per rollback walked. Runs inside the sync function only (after a cutover, on a
request or a schedule), whose ReservedConcurrentExecutions=1 means never beside a deploy or a pin.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..bucket import MISSING, error_code
from ..config import Settings
from ..errors import ArtifactGone, LiveStateError, ObjectTooLarge
from ..live.journal import claims_above, entry_key
from ..live.pins import mark_pruned, s3_time, unpinnable, write_pin
from ..live.state import HISTORY_NAME, Found, get_object, read_live, read_record
from ..model.events import PRUNE_PREFIX
from ..model.order import REQUEST_ID, JournalEntry
from ..model.pins import MAX_REQUEST_BYTES, BadPinRequest, Pin, PinRequest, Tombstone
from ..model.plan import LiveState
from ..model.retention import Decision, Link, Policy, Seen, Stored, Where, decide, needs_more, retained
from ..model.retention import stamp, to_retire
from ..notify.report_object import normal_etag
from ..report import MAX_LISTED_KEYS, SyncReport

# The lifecycle rule of the artifacts bucket expires staged objects with this tag (template.yaml).
RETIRED_TAG = "staticsync-retired"
REQUEST_FORMAT = 1
BATCH = 1000  # DeleteObjects takes at most 1,000 keys
MAX_WALK = 1000  # journal entries read at most; past it, older objects are kept (the floor)
# The input of the template's PruneOnSchedule event: the handler runs a prune, not a deploy.
SCHEDULED = {"staticsync": "prune"}
# After a cutover, prune only with this much of the invocation left (the deploy comes first).
MIN_SECONDS = 60.0


@dataclass
class PruneReport:
    """What one run marked, deleted and retired (or, dry, would); `as_log()` is the `prune finished` record."""

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
    errors: list[str] = field(default_factory=list)  # keys DeleteObjects did not delete, with why
    requests_by_operation: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list, repr=False)  # the dry-run description

    def __str__(self) -> str:
        if self.refused:
            return f"prune {self.where}: nothing deleted: {self.refused}"
        verb = "would delete" if self.dry_run else "deleted"
        text = (
            f"prune {self.where}: {verb} {self.deleted} keys ({self.bytes_deleted} bytes), kept {self.kept}"
        )
        text += f", marked {len(self.marked)} releases pruned, retired {len(self.retired)} staged objects"
        return text + (" (capped: the next run goes on)" if self.capped else "")

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


def read_request(client: Any, bucket: str, key: str, report: SyncReport) -> Found | None:
    """A staged request read bounded (a huge one is never read whole): None when it was rejected."""
    try:
        found = get_object(client, bucket, key, limit=MAX_REQUEST_BYTES)
    except ObjectTooLarge as error:
        report.outcome, report.reason, report.detail = "rejected", "request_too_large", str(error)
        return None
    if found is None:
        raise ArtifactGone(f"s3://{bucket}/{key} no longer exists")
    report.outcome, report.artifact_etag = "unchanged", normal_etag(found.etag)
    return found


def handle_prune_request(
    client: Any, settings: Settings, bucket: str, key: str, report: SyncReport
) -> PruneReport:
    """Run a staged `prune-<id>.json` request ({"format": 1, "request": id, "dry_run": false})."""
    report.kind, where = "prune", f"s3://{settings.live_bucket}/{settings.live_prefix}"
    found = read_request(client, bucket, key, report)
    try:
        dry_run = parse_request(found.body) if found else False
    except ValueError as error:
        report.outcome, report.reason, report.detail = "rejected", "bad_request", f"{key}: {error}"
    if report.outcome == "rejected":
        return PruneReport(where, False, refused=report.detail)
    pruned = prune_live(client, settings, dry_run=dry_run)
    report.detail = str(pruned)
    return pruned


def parse_request(data: bytes) -> bool:
    """Whether the request asks for a dry run; ValueError when it is not a prune request."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != REQUEST_FORMAT:
        raise ValueError(f"not a format {REQUEST_FORMAT} prune request")
    if not isinstance(document.get("request"), str) or not REQUEST_ID.fullmatch(document["request"]):
        raise ValueError(f"request {document.get('request')!r} is missing or not a valid id")
    return document.get("dry_run") is True


def request_object_key(settings: Settings, request: str) -> str:
    """Where `build_tool prune` stages a request: under the staging prefix, as a .json."""
    return f"{settings.staging_prefix}{PRUNE_PREFIX}{request}.json"


def handle_pin_request(
    client: Any, settings: Settings, bucket: str, key: str, report: SyncReport
) -> Pin | None:
    """Run a staged `pin-<id>.json` request: keep a release for an app (model.pins), unless it is gone.

    Runs one invocation at a time with the prune pass, so a release is either pinned before a pass
    (which then keeps it) or found pruned here (rejected: `not_retained`)."""
    report.kind = "pin"
    found = read_request(client, bucket, key, report)
    try:
        request = PinRequest.parse(found.body) if found else None
    except BadPinRequest as error:
        report.outcome, report.reason, report.detail = "rejected", "bad_request", f"{key}: {error}"
        return None
    if request is None or found is None or found.modified is None:
        return None
    report.release = request.release
    reason = unpinnable(client, settings, request.release)
    if reason:
        report.outcome, report.reason, report.detail = "rejected", "not_retained", reason
        return None
    pin = request.pin(found.modified)
    pin_at = write_pin(client, settings, pin)
    report.detail = f"release {pin.release} pinned for {pin.app} until {stamp(pin.expires)} (s3://{settings.live_bucket}/{pin_at})"
    return pin


def prune_live(
    client: Any, settings: Settings, *, now: datetime | None = None, dry_run: bool = False
) -> PruneReport:
    """Mark pruned the releases retention no longer keeps, then delete the live keys none it keeps
    needs (and retire the staged objects none needs). `now`: S3's clock as a test pretends it is;
    by default the Date of S3's answer to the LIST, never this machine's clock."""
    started, counts = time.monotonic(), Counts(client)
    prune = Pass(
        client,
        settings,
        policy_of(settings),
        PruneReport(f"s3://{settings.live_bucket}/{settings.live_prefix}", dry_run),
    )
    try:
        with counts:
            prune.run(now)
    finally:
        prune.report.requests_by_operation = counts.by_operation()
        prune.report.seconds = round(time.monotonic() - started, 3)
    return prune.report


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
        keep = retained(seen, where, self.policy)
        seen = replace(seen, records=read_records(self.client, self.settings, keep.releases, live))
        decision = decide(seen, where, self.policy)
        self.record(decision)
        if decision.refused:
            return
        if not self.report.dry_run:
            marks = [Tombstone(release, seen.now, live.release) for release in decision.tombstones]
            mark_pruned(self.client, self.settings, marks)  # before any file of theirs goes
            self.report.errors = delete_keys(
                self.client, self.settings.live_bucket, [d.key for d in decision.delete]
            )
            self.report.deleted -= len(self.report.errors)
        if self.settings.artifacts_bucket:
            self.retire(seen, keep)

    def read(self, now: datetime | None) -> tuple[Seen, LiveState]:
        """The LIST first: its Date is the run's clock, which the walk back already needs."""
        listing, clock = list_objects(self.client, self.settings.live_bucket, self.settings.live_prefix)
        now = now or clock
        self.report.clock = stamp(now)
        live = read_live(self.client, self.settings)
        self.report.live_release = live.release
        chain = read_chain(self.client, self.settings, live, self.policy, now)
        above = claims_above(self.client, self.settings, live.position.sequence) if chain else []
        return Seen(chain, listing, now, frozenset(entry.release for entry in above)), live

    def record(self, decision: Decision) -> None:
        report = self.report
        report.retained, report.refused, report.capped = (
            list(decision.retained),
            decision.refused,
            decision.capped,
        )
        report.deleted, report.bytes_deleted, report.kept = (
            len(decision.delete),
            decision.bytes,
            decision.kept,
        )
        report.keys = [doomed.key for doomed in decision.delete[:MAX_LISTED_KEYS]]
        report.marked, report.lines = list(decision.tombstones), decision.describe()

    def retire(self, seen: Seen, keep: Any) -> None:
        bucket, prefix = self.settings.artifacts_bucket, self.settings.staging_prefix
        staged, _ = list_objects(self.client, bucket, prefix)
        retire = to_retire(
            staged, keep, bucket=bucket, staging_prefix=prefix, now=seen.now, policy=self.policy
        )
        self.report.retired = [doomed.key for doomed in retire.delete]
        self.report.lines += [f"retire s3://{bucket}/{d.key}: {d.why}" for d in retire.delete]
        if not self.report.dry_run:
            tag_retired(self.client, bucket, self.report.retired)
            revive(self.client, self.settings, [link for link in seen.chain if link.entry.kind == "rollback"])


def read_chain(client: Any, settings: Settings, live: LiveState, policy: Policy, now: datetime) -> list[Link]:
    """The journal entries from the live one back by `previous_sequence`, while older ones are retained.

    Stops early at a missing or unreadable entry, or one that is not the release the live manifest
    names: `retention.walk` then keeps every older object (its floor). The live place's cutover is
    the live manifest's LastModified; an older one's is bounded by the claim after it.
    """
    chain: list[Link] = []
    sequence = live.position.sequence
    while sequence > 0 and len(chain) < MAX_WALK and needs_more(chain, policy, now):
        link = read_link(client, settings, sequence)
        if link is None or (not chain and link.entry.release != live.release):
            break
        chain.append(replace(link, live_from=live.modified) if not chain else link)
        if link.entry.previous_sequence >= sequence:
            break  # never walk forward (a damaged entry)
        sequence = link.entry.previous_sequence
    return chain


def read_link(client: Any, settings: Settings, sequence: int) -> Link | None:
    """The entry at `sequence` with S3's LastModified of it: when its place was claimed."""
    try:
        found = get_object(client, settings.live_bucket, entry_key(settings, sequence))
        entry = JournalEntry.parse(found.body) if found else None
    except (ValueError, TypeError):
        return None
    return Link(entry, found.modified) if entry and found and found.modified else None


def read_records(
    client: Any, settings: Settings, releases: tuple[str, ...], live: LiveState
) -> dict[str, frozenset[str]]:
    """The live keys (paths) each retained release has; a release without a record is left out."""
    found = {live.release: frozenset(live.record.files)} if live.release and live.record else {}
    for release in releases:
        try:
            found[release] = found.get(release) or frozenset(read_record(client, settings, release).files)
        except LiveStateError:
            continue
    return found


def list_objects(client: Any, bucket: str, prefix: str) -> tuple[list[Stored], datetime]:
    """Every object under `prefix`, and S3's clock: the Date of its first answer (else the newest
    LastModified listed)."""
    listing, clock = [], None
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        clock = clock or s3_time(page)
        listing += [Stored(o["Key"], int(o["Size"]), o["LastModified"]) for o in page.get("Contents", [])]
    clock = clock or max((stored.modified for stored in listing), default=None)
    if clock is None:
        raise LiveStateError(f"S3 said nothing of its clock listing s3://{bucket}/{prefix}: not pruning")
    return listing, clock


def delete_keys(client: Any, bucket: str, keys: list[str]) -> list[str]:
    """DeleteObjects in batches of BATCH; the keys S3 did not delete, with its reason."""
    errors = []
    for start in range(0, len(keys), BATCH):
        objects = [{"Key": key} for key in keys[start : start + BATCH]]
        response = client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        errors += [f"{e.get('Key')}: {e.get('Code')}: {e.get('Message')}" for e in response.get("Errors", [])]
    return errors


def tag_retired(client: Any, bucket: str, keys: list[str]) -> None:
    """Tag each staged object for the lifecycle rule (replacing its tags: it is about to go)."""
    for key in keys:
        try:
            client.put_object_tagging(
                Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": RETIRED_TAG, "Value": "true"}]}
            )
        except ClientError as error:
            if error_code(error) not in MISSING:
                raise  # gone meanwhile (expired): nothing to retire


def revive(client: Any, settings: Settings, links: list[Link]) -> None:
    """A rollback brought back a release whose artifact an earlier run retired: keep it again."""
    for link in links:
        bucket, _, key = link.entry.artifact.removeprefix("s3://").partition("/")
        if bucket != settings.artifacts_bucket:
            continue
        try:
            tags = client.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
        except ClientError:
            continue  # gone: the rollback already read it, nothing to keep
        kept = [tag for tag in tags if tag["Key"] != RETIRED_TAG]
        if len(kept) != len(tags):
            client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": kept})


class Counts:
    """Counts the requests of one run by operation, from the client's own events, while entered."""

    def __init__(self, client: Any) -> None:
        self.client, self.counts = client, dict[str, int]()

    def __enter__(self) -> Counts:
        self.client.meta.events.register("request-created.s3", self.count, unique_id=f"prune-{id(self)}")
        return self

    def __exit__(self, *_: Any) -> None:
        self.client.meta.events.unregister("request-created.s3", unique_id=f"prune-{id(self)}")

    def count(self, operation_name: str = "unknown", **_: Any) -> None:
        self.counts[operation_name] = self.counts.get(operation_name, 0) + 1

    def by_operation(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))
