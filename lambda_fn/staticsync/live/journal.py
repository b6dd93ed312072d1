"""The deployer's journal in the live bucket: one entry per place in the order, one claim per request.

Both are written once (`IfNoneMatch: *`), so two writers can never both own a place or a request.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import LiveStateError
from ..model.contract import dumps
from ..model.order import JournalEntry, RollbackRequest
from .objects import ClaimTaken, get_object, write_once

JOURNAL_DIR = "journal"
REQUESTS_DIR = "requests"


def entry_key(settings: Settings, sequence: int) -> str:
    return f"{settings.live_prefix}{settings.history_prefix}{JOURNAL_DIR}/{sequence:08d}.json"


def request_key(settings: Settings, request: str) -> str:
    return f"{settings.live_prefix}{settings.history_prefix}{REQUESTS_DIR}/{request}.json"


def claim_entry(client: Any, settings: Settings, entry: JournalEntry) -> None:
    """Own place `entry.sequence`; a second write of the very same entry (a retry) is ours too."""
    write_once(client, settings, entry_key(settings, entry.sequence), entry.to_json())


def read_entry(client: Any, settings: Settings, sequence: int) -> JournalEntry | None:
    found = get_object(client, settings.live_bucket, entry_key(settings, sequence))
    return JournalEntry.parse(found[0]) if found else None


def places_above(client: Any, settings: Settings, sequence: int) -> list[int]:
    """Every journal place claimed after `sequence`, in order: one LIST (a page per 1,000 places).

    A place above the live one is a deploy in flight, or one that died before its cutover (abandoned).
    """
    prefix = f"{settings.live_prefix}{settings.history_prefix}{JOURNAL_DIR}/"
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=settings.live_bucket, Prefix=prefix, StartAfter=entry_key(settings, sequence)
    )
    names = (item["Key"][len(prefix) :] for page in pages for item in page.get("Contents", ()))
    return sorted(int(name[:-5]) for name in names if name.endswith(".json") and name[:-5].isdigit())


def abandoned_claims(client: Any, settings: Settings, sequence: int) -> tuple[JournalEntry, ...]:
    """The claims above the live place `sequence`: deploys in flight or dead before their cutover.

    Places are claimed one after another from the live one, so when `sequence + 1` is free there are
    none (one GET, a 404 in the ordinary case); else one LIST finds them all, however many.
    """
    if read_entry(client, settings, sequence + 1) is None:
        return ()
    try:
        return tuple(claims_above(client, settings, sequence))
    except (ValueError, TypeError) as error:
        raise LiveStateError(
            f"a journal place after {sequence} is unreadable ({error}): repair it by hand"
        ) from None


def claims_above(client: Any, settings: Settings, sequence: int) -> list[JournalEntry]:
    """The journal entries claimed after `sequence`, read beside each other; unreadable ones raise."""
    places = places_above(client, settings, sequence)
    if not places:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(places)), thread_name_prefix="journal") as pool:
        found = list(
            pool.map(
                lambda place: get_object(client, settings.live_bucket, entry_key(settings, place)), places
            )
        )
    return [JournalEntry.parse(item.body) for item in found if item is not None]


@dataclass(frozen=True)
class RequestClaim:
    """That a rollback request started, and against which live place: at most one execution."""

    request: str
    release: str
    replaces: str
    replaces_sequence: int

    @classmethod
    def of(cls, request: RollbackRequest, sequence: int) -> RequestClaim:
        return cls(request.request, request.release, request.replaces, sequence)

    def to_json(self) -> bytes:
        return dumps(self.__dict__)


def claim_request(client: Any, settings: Settings, claim: RequestClaim) -> bool:
    """Record that the request runs now; False when it already ran (or runs) from another place."""
    key = request_key(settings, claim.request)
    try:
        write_once(client, settings, key, claim.to_json())
    except ClaimTaken as taken:
        earlier = json.loads(taken.existing)
        # The same request against the same live place: an earlier attempt died before its
        # cutover, and resuming it is the one execution.
        return bool(earlier.get("replaces_sequence") == claim.replaces_sequence)
    return True
