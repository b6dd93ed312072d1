"""The release order as the journal tells it: places walked back from the live one, and what is retained.

`build_tool status` and `build_tool rollback` read it; the walk itself is pure over a `read` function,
so it is tested without S3. Costs: one GET per place walked, one HEAD per retention check.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..bucket import MISSING, error_code
from ..config import Settings
from ..model.contract import META_BASE
from ..model.order import JournalEntry
from ..model.pins import TOMBSTONE_NAME
from ..model.plan import LiveState
from .journal import read_entry
from .state import HISTORY_NAME

LIVE, REPLACED, ABANDONED = "live", "replaced", "abandoned"
# Places walked at most when looking for a release (a rollback's target): far past any retention.
MAX_WALK = 1000


@dataclass(frozen=True)
class Place:
    """One place in the order: its journal entry and what became of it.

    `live`: the live release's place; `replaced`: it went live and a later one replaced it;
    `abandoned`: claimed, but a later deploy stepped over it, so it never went live.
    """

    entry: JournalEntry
    outcome: str

    @property
    def sequence(self) -> int:
        return self.entry.sequence

    @property
    def release(self) -> str:
        return self.entry.release


def walk(read: Callable[[int], JournalEntry | None], sequence: int) -> Iterator[Place]:
    """The places from `sequence` (the live one) back to the first, newest first.

    The chain follows `previous_sequence`; every place it steps over was abandoned. The walk stops
    at a missing or damaged chain entry (it cannot say what came before).
    """
    start, chain = sequence, sequence
    while sequence > 0:
        entry = read(sequence)
        if entry is None or entry.sequence != sequence:
            if sequence == chain:
                return
            sequence -= 1  # an unreadable abandoned claim: nothing went live there
            continue
        yield Place(entry, outcome_of(sequence, chain, start))
        if sequence == chain:
            if entry.previous_sequence >= sequence:
                return  # a damaged entry: never walk forward
            chain = entry.previous_sequence
        sequence -= 1


def outcome_of(sequence: int, chain: int, start: int) -> str:
    """A place on the chain went live (the first one still is); a place off it was abandoned."""
    if sequence != chain:
        return ABANDONED
    return LIVE if sequence == start else REPLACED


def walk_live(client: Any, settings: Settings, live: LiveState) -> Iterator[Place]:
    """`walk` from the live place, one journal entry read per place, lazily.

    Nothing when the live entry names another release than the live manifest: then the journal
    cannot be trusted to say what came before.
    """
    if not live.release:
        return
    for place in walk(lambda sequence: read_entry_safely(client, settings, sequence), live.position.sequence):
        if place.outcome == LIVE and place.release != live.release:
            return
        yield place


def walk_order(client: Any, settings: Settings, limit: int, live: LiveState) -> list[Place]:
    """The last `limit` places of the order, newest (the live one) first."""
    return list(itertools.islice(walk_live(client, settings, live), limit))


def find_live_place(
    client: Any, settings: Settings, release: str, live: LiveState, limit: int = MAX_WALK
) -> Place | None:
    """The newest place where `release` went live and was replaced (a rollback target), or None."""
    places = itertools.islice(walk_live(client, settings, live), limit)
    return next((p for p in places if p.outcome == REPLACED and p.release == release), None)


def read_entry_safely(client: Any, settings: Settings, sequence: int) -> JournalEntry | None:
    """The journal entry at `sequence`; None when it is missing or does not parse."""
    try:
        return read_entry(client, settings, sequence)
    except (ValueError, TypeError):
        return None


def artifact_location(entry: JournalEntry, settings: Settings) -> tuple[str, str] | str:
    """(bucket, key) of the entry's artifact, or why a rollback request could not name it.

    A request is staged in the artifacts bucket and may only name a `.zip` under its staging prefix.
    """
    bucket, _, key = entry.artifact.removeprefix("s3://").partition("/")
    if settings.artifacts_bucket and bucket != settings.artifacts_bucket:
        return f"its artifact {entry.artifact} is not in the artifacts bucket {settings.artifacts_bucket}"
    if not (key.startswith(settings.staging_prefix) and key.endswith(".zip")):
        return f"its artifact {entry.artifact} is not a .zip under {settings.staging_prefix}"
    return bucket, key


def not_retained(
    client: Any,
    settings: Settings,
    entry: JournalEntry,
    history: bool | None = None,
    live_release: str | None = None,
) -> str | None:
    """Why `entry`'s release can no longer be returned to, or None when it can.

    It needs its history object (its record and manifest) in the live bucket, no tombstone (retention
    pruned it), and its artifact in the artifacts bucket: one HEAD each (`history` when the caller
    already knows whether it exists). With `live_release`, an artifact staged as a delta (its `base`
    metadata) needs the artifacts of its base chain too, down to a full one or the live release.
    """
    history_key = settings.history_key(entry.release, HISTORY_NAME)
    if history is None:
        history = exists(client, settings.live_bucket, history_key)
    if not history:
        return f"its record s3://{settings.live_bucket}/{history_key} is gone"
    if was_pruned(client, settings, entry.release):
        return "it was pruned by retention (its tombstone is kept beside its record)"
    location = artifact_location(entry, settings)
    if isinstance(location, str):
        return location
    head = head_of(client, *location)
    if head is None:
        return f"its artifact s3://{location[0]}/{location[1]} is gone"
    base = head.get("Metadata", {}).get(META_BASE)
    return chain_reason(client, settings, location[0], base, live_release) if live_release else None


def chain_reason(
    client: Any, settings: Settings, bucket: str, base: str | None, live: str | None
) -> str | None:
    """Why a release staged as a delta of `base` cannot be completed by its base chain now, or None.

    Each base's artifact is where build_tool stages it (`<staging prefix><base>.zip`), followed by
    the `base` metadata of each (a hint: the function reads release.json and checks every byte), one
    HEAD a base, until a full artifact or the live release (onto which a delta deploys as it is).
    """
    seen: list[str] = []
    while base is not None and base != live and base not in seen and len(seen) < MAX_WALK:
        seen.append(base)
        key = f"{settings.staging_prefix}{base}.zip"
        head = head_of(client, bucket, key)
        if head is None:
            where = f"s3://{bucket}/{key}"
            return f"it was staged as a delta and inherits files from {base}, whose artifact {where} is gone"
        base = head.get("Metadata", {}).get(META_BASE)
    return None


def was_pruned(client: Any, settings: Settings, release: str) -> bool:
    """Whether retention pruned `release`: its tombstone, written before any of its files went (one HEAD)."""
    return exists(client, settings.live_bucket, settings.history_key(release, TOMBSTONE_NAME))


def exists(client: Any, bucket: str, key: str) -> bool:
    return head_of(client, bucket, key) is not None


def head_of(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object's HEAD response, or None when there is no such object."""
    try:
        response: dict[str, Any] = client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING:
            return None
        raise
    return response
