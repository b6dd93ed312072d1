"""Retention's I/O: walk the journal back, LIST, then delete unneeded live keys and retire staged objects.

Costs per run: one GET per journal entry walked (the retained releases, about RETAIN_RELEASES plus
every cutover of the grace period), one GET per retained release's record, one LIST request per 1,000
live keys and per 1,000 staged objects, one DeleteObjects request per 1,000 keys deleted and one
PutObjectTagging per staged object retired. Runs inside the sync function only (after a cutover, or
on a `prune-<id>.json` request or a schedule), whose ReservedConcurrentExecutions=1 means it never
runs concurrently with a deploy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..bucket import MISSING, error_code
from ..config import Settings
from ..errors import ArtifactGone, LiveStateError
from ..live.journal import entry_key
from ..live.state import get_object, read_live, read_record
from ..model.contract import MANIFEST_NAME
from ..model.events import PRUNE_PREFIX
from ..model.order import REQUEST_ID, JournalEntry
from ..model.retention import Decision, Link, Policy, Stored, decide, needs_more, retained, to_retire
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
    """What one run deleted and retired (or, dry, would); `as_log()` is the `prune finished` record."""

    where: str
    dry_run: bool
    live_release: str | None = None
    retained: list[str] = field(default_factory=list)
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
        verb = "would delete" if self.dry_run else "deleted"
        text = (
            f"prune {self.where}: {verb} {self.deleted} keys ({self.bytes_deleted} bytes), kept {self.kept}"
        )
        text += f", retired {len(self.retired)} staged objects"
        if self.refused:
            text = f"prune {self.where}: nothing deleted: {self.refused}"
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


def handle_prune_request(
    client: Any, settings: Settings, bucket: str, key: str, report: SyncReport
) -> PruneReport:
    """Run a staged `prune-<id>.json` request ({"format": 1, "request": id, "dry_run": false})."""
    found = get_object(client, bucket, key)
    if found is None:
        raise ArtifactGone(f"s3://{bucket}/{key} no longer exists")
    report.kind, report.outcome, report.artifact_etag = "prune", "unchanged", normal_etag(found[1])
    try:
        dry_run = parse_request(found[0])
    except ValueError as error:
        report.outcome, report.reason, report.detail = "rejected", "bad_request", f"{key}: {error}"
        return PruneReport(f"s3://{settings.live_bucket}/{settings.live_prefix}", False, refused=str(error))
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


def prune_live(
    client: Any, settings: Settings, *, now: datetime | None = None, dry_run: bool = False
) -> PruneReport:
    """Delete the live keys no retained release needs (and retire the staged objects none needs)."""
    started, counts = time.monotonic(), Counts(client)
    report = PruneReport(f"s3://{settings.live_bucket}/{settings.live_prefix}", dry_run)
    now, policy = now or datetime.now(UTC), policy_of(settings)
    try:
        with counts:
            _prune(client, settings, policy, now, report)
    finally:
        report.requests_by_operation, report.seconds = (
            counts.by_operation(),
            round(time.monotonic() - started, 3),
        )
    return report


def _prune(client: Any, settings: Settings, policy: Policy, now: datetime, report: PruneReport) -> None:
    live = read_live(client, settings)
    report.live_release = live.release
    chain = read_chain(client, settings, live.position.sequence, live.release, policy, now)
    keep = retained(chain, policy, now)
    records = read_records(client, settings, keep.releases)
    listing = list_objects(client, settings.live_bucket, settings.live_prefix)
    owned = (MANIFEST_NAME, settings.history_prefix)
    decision = decide(
        chain, records, listing, live_prefix=settings.live_prefix, owned=owned, now=now, policy=policy
    )
    record(report, decision)
    if decision.refused:
        return
    if not report.dry_run:
        report.errors = delete_keys(client, settings.live_bucket, [d.key for d in decision.delete])
        report.deleted -= len(report.errors)
    if settings.artifacts_bucket:
        staged = list_objects(client, settings.artifacts_bucket, settings.staging_prefix)
        retire = to_retire(
            staged,
            keep,
            bucket=settings.artifacts_bucket,
            staging_prefix=settings.staging_prefix,
            now=now,
            policy=policy,
        )
        report.retired = [doomed.key for doomed in retire.delete]
        report.lines += [f"retire s3://{settings.artifacts_bucket}/{d.key}: {d.why}" for d in retire.delete]
        if not report.dry_run:
            tag_retired(client, settings.artifacts_bucket, report.retired)
            revive(client, settings, [link for link in chain if link.entry.kind == "rollback"])


def record(report: PruneReport, decision: Decision) -> None:
    report.retained, report.refused, report.capped = (
        list(decision.retained),
        decision.refused,
        decision.capped,
    )
    report.deleted, report.bytes_deleted, report.kept = len(decision.delete), decision.bytes, decision.kept
    report.keys = [doomed.key for doomed in decision.delete[:MAX_LISTED_KEYS]]
    report.lines = decision.describe()


def read_chain(
    client: Any, settings: Settings, sequence: int, release: str | None, policy: Policy, now: datetime
) -> list[Link]:
    """The journal entries from the live one back by `previous_sequence`, while older ones are retained.

    Stops early at a missing or unreadable entry, or one that is not the release the live manifest
    names: `retention.retained` then keeps every older object (its floor).
    """
    chain: list[Link] = []
    while sequence > 0 and len(chain) < MAX_WALK and needs_more(chain, policy, now):
        link = read_link(client, settings, sequence)
        if link is None or (not chain and link.entry.release != release):
            break
        chain.append(link)
        if link.entry.previous_sequence >= sequence:
            break  # never walk forward (a damaged entry)
        sequence = link.entry.previous_sequence
    return chain


def read_link(client: Any, settings: Settings, sequence: int) -> Link | None:
    """The entry at `sequence` with S3's LastModified of it: when its place was claimed."""
    try:
        response = client.get_object(Bucket=settings.live_bucket, Key=entry_key(settings, sequence))
        entry = JournalEntry.parse(response["Body"].read())
    except ClientError as error:
        if error_code(error) in MISSING:
            return None
        raise
    except (ValueError, TypeError):
        return None
    return Link(entry, response["LastModified"])


def read_records(client: Any, settings: Settings, releases: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """The live keys (paths) each retained release has; a release without a record is left out."""
    found = {}
    for release in releases:
        try:
            found[release] = frozenset(read_record(client, settings, release).files)
        except LiveStateError:
            continue
    return found


def list_objects(client: Any, bucket: str, prefix: str) -> list[Stored]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [
        Stored(item["Key"], int(item["Size"]), item["LastModified"])
        for page in pages
        for item in page.get("Contents", [])
    ]


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
