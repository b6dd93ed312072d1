"""Pins and tombstones in the live bucket: written once by the function, read by retention and by apps.

Both live under the history prefix, which only the function writes and only with `IfNoneMatch`, and
nothing deletes. Costs: a pin, two HEADs (the release's history record and tombstone) and one PUT; a
release retention stops keeping, one PUT in its life. Retention finds both in the LIST it makes anyway.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ..config import Settings
from ..model.pins import TOMBSTONE_NAME, Pin, Tombstone
from .journal import ClaimTaken, write_once
from .state import HISTORY_NAME
from .walk import head_of


def pin_key(settings: Settings, pin: Pin) -> str:
    return f"{settings.live_prefix}{settings.history_prefix}{pin.path}"


def tombstone_key(settings: Settings, release: str) -> str:
    return settings.history_key(release, TOMBSTONE_NAME)


def unpinnable(client: Any, settings: Settings, release: str) -> str | None:
    """Why `release` cannot be pinned (never deployed to this bucket, or pruned), or None."""
    history = settings.history_key(release, HISTORY_NAME)
    if head_of(client, settings.live_bucket, history) is None:
        return (
            f"release {release} has no record at s3://{settings.live_bucket}/{history}: deploy its static "
            "files (build_tool package --wait) before the app that pins it"
        )
    tombstone = tombstone_key(settings, release)
    if head_of(client, settings.live_bucket, tombstone) is not None:
        return (
            f"release {release} was pruned by retention (s3://{settings.live_bucket}/{tombstone}): its "
            "files are no longer kept; deploy the app with a retained release (build_tool status)"
        )
    return None


def write_pin(client: Any, settings: Settings, pin: Pin) -> str:
    """Keep `pin` (once: the same request again writes the same bytes); its key."""
    key = pin_key(settings, pin)
    write_once(client, settings, key, pin.to_json())
    return key


def mark_pruned(client: Any, settings: Settings, tombstones: list[Tombstone]) -> None:
    """Write each release's tombstone, beside each other; one already there (any run's) is kept."""
    if not tombstones:
        return
    with ThreadPoolExecutor(max_workers=min(16, len(tombstones)), thread_name_prefix="tombstone") as pool:
        list(pool.map(lambda tombstone: _mark(client, settings, tombstone), tombstones))


def _mark(client: Any, settings: Settings, tombstone: Tombstone) -> None:
    try:
        write_once(client, settings, tombstone_key(settings, tombstone.release), tombstone.to_json())
    except ClaimTaken:
        pass  # marked by an earlier run: the release was already pruned


def s3_time(response: dict[str, Any]) -> datetime | None:
    """S3's clock when it answered: the Date header of a response (a LIST page, a GET), if any."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    return parsedate_to_datetime(date) if date else None
