"""Retention's I/O under the pass: pins and tombstones, what a pass reads and deletes, the tags that retire.

Pins and tombstones live under the history prefix, which only the function writes, only with
`IfNoneMatch`, and nothing deletes (model/pins.py says what they mean). Costs: a pin, two HEADs (the
release's history record and tombstone) and one PUT; a release retention stops keeping, one PUT in
its life. A pass finds both in the LIST of the live prefix it makes anyway, whose Date is its clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import ClientError

from ..bucket import MISSING, error_code
from ..config import Settings
from ..errors import LiveStateError
from ..model.order import JournalEntry
from ..model.pins import TOMBSTONE_NAME, Pin, Tombstone
from ..model.plan import LiveState
from ..model.retention import Link, Policy, Stored, inherited_from, needs_more
from .journal import entry_key
from .objects import ClaimTaken, get_object, write_once
from .state import HISTORY_NAME, read_record
from .walk import head_of

# The lifecycle rule of the artifacts bucket expires staged objects with this tag (template.yaml).
RETIRED_TAG = "staticsync-retired"
BATCH = 1000  # DeleteObjects takes at most 1,000 keys
MAX_WALK = 1000  # journal entries read at most; past it, older objects are kept (the floor)


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
    with contextlib.suppress(ClaimTaken):  # marked by an earlier run: the release was already pruned
        write_once(client, settings, tombstone_key(settings, tombstone.release), tombstone.to_json())


def s3_time(response: dict[str, Any]) -> datetime | None:
    """S3's clock when it answered: the Date header of a response (a LIST page, a GET), if any."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    return parsedate_to_datetime(date) if date else None


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
) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """The live keys (paths) each retained release has, and the base of each one kept as a delta; a
    release without a record is left out."""
    found = {live.release: frozenset(live.record.files)} if live.release and live.record else {}
    bases = {live.release: live.record.base} if live.release and live.record and live.record.base else {}
    for release in releases:
        if release in found:
            continue
        try:
            record = read_record(client, settings, release)
        except LiveStateError:
            continue
        found[release] = frozenset(record.files)
        if record.base is not None:
            bases[release] = record.base
    return found, bases


def read_bases(client: Any, settings: Settings, bases: dict[str, str]) -> frozenset[str]:
    """The releases retained deltas inherit from, transitively (`bases`: each retained delta's base):
    one record read per base followed that is not itself a retained release."""

    def base_of(release: str) -> str | None:
        if release in bases:  # a retained release: its record was read already
            return bases[release]
        try:
            return read_record(client, settings, release).base
        except LiveStateError:
            return None  # no record: its own base is unknown (the deployer's keys are never deleted)

    return inherited_from(bases, base_of)


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


def revive(client: Any, settings: Settings, links: list[Link], keys: Iterable[str] = ()) -> None:
    """A rollback brought back a release whose artifact an earlier run retired, or a retained delta
    needs a base's artifact an earlier run retired: keep it again."""
    bucket = settings.artifacts_bucket
    for link in links:
        where, _, key = link.entry.artifact.removeprefix("s3://").partition("/")
        if where == bucket:
            untag(client, bucket, key)
    for key in keys:
        untag(client, bucket, key)


def untag(client: Any, bucket: str, key: str) -> None:
    try:
        tags = client.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
    except ClientError:
        return  # gone: nothing to keep
    kept = [tag for tag in tags if tag["Key"] != RETIRED_TAG]
    if len(kept) != len(tags):
        client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": kept})
