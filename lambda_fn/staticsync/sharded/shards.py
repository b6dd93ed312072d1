"""A sharded deploy's shard list and done-markers, under the deployer's own prefix and written once.

The list is the plan's content-addressed names in the artifact's member order, cut into runs of
adjacent members; each item carries what its child needs (the artifact and its ETag, the claimed
place) and its own digest. The state machine carries the list's digest to each child, and the
finish step checks one marker per item, naming that item's digest, before any cutover.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from ..config import Settings
from ..errors import SyncError
from ..live.objects import ClaimTaken, get_object, write_once
from ..model.contract import dumps
from .complete import COMPLETE_NAME, complete_body, names_release

SHARDS_DIR = "shards"


class ShardRefused(SyncError, RuntimeError):
    """A shard's input does not match what the plan wrote (list, digest, artifact): nothing uploaded.
    Final: a retry reads the same objects. The deploy's claim is left for the next deploy to step over."""


class ShardsIncomplete(SyncError, RuntimeError):
    """The finish step found a shard without its done-marker (or with another digest): no cutover."""


@dataclass(frozen=True)
class Shard:
    """One child's work: a run of adjacent members of the artifact whose content-addressed names it
    uploads, and the plan it belongs to."""

    index: int
    release: str
    artifact: str  # s3://bucket/key
    artifact_etag: str
    release_sha256: str
    sequence: int  # the journal place the plan step claimed
    planned: str  # the live state the plan step planned against (order.planned_against)
    paths: tuple[str, ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(dumps({**asdict(self), "paths": list(self.paths)})).hexdigest()

    def item(self) -> dict[str, Any]:
        return {**asdict(self), "paths": list(self.paths), "digest": self.digest}

    @classmethod
    def of_item(cls, item: dict[str, Any]) -> Shard:
        fields = {k: v for k, v in item.items() if k != "digest"}
        shard = cls(**{**fields, "paths": tuple(fields["paths"])})
        if shard.digest != item.get("digest"):
            raise ShardRefused(f"shard {shard.index}'s digest does not match its contents")
        return shard


@dataclass(frozen=True)
class ShardList:
    """Every shard of one plan: the JSON array the Distributed Map's ItemReader reads."""

    shards: tuple[Shard, ...]

    def to_json(self) -> bytes:
        return dumps([shard.item() for shard in self.shards])

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(path for shard in self.shards for path in shard.paths)

    @classmethod
    def parse(cls, body: bytes) -> ShardList:
        try:
            items = json.loads(body)
            shards = tuple(Shard.of_item(item) for item in items)
        except (ValueError, TypeError, KeyError) as error:
            raise ShardRefused(f"the shard list is unreadable ({error})") from None
        if [shard.index for shard in shards] != list(range(len(shards))):
            raise ShardRefused("the shard list's items are not numbered 0, 1, 2, ...")
        return cls(shards)


@dataclass(frozen=True)
class ListRef:
    """Where a shard list is and what it must hash to: the plan step's output, carried by the state
    machine (never read from the list itself)."""

    release: str
    digest: str
    bucket: str
    key: str
    shards: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, document: dict[str, Any]) -> ListRef:
        return cls(**{name: document[name] for name in ("release", "digest", "bucket", "key", "shards")})


def cut(paths: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """`paths` (in member order) in runs of at most `size`."""
    return [tuple(paths[start : start + size]) for start in range(0, len(paths), size)]


def list_key(settings: Settings, release: str, digest: str) -> str:
    return settings.history_key(release, f"{SHARDS_DIR}/{digest}.json")


def marker_key(settings: Settings, release: str, digest: str, index: int) -> str:
    return settings.history_key(release, f"{SHARDS_DIR}/{digest}/{index:05d}.json")


def marker_body(list_digest: str, shard: Shard) -> bytes:
    return dumps({"list": list_digest, "index": shard.index, "digest": shard.digest})


def write_list(client: Any, settings: Settings, listing: ShardList, release: str) -> ListRef:
    """Write the list once (a retry of the same plan writes the same bytes) and say where it is."""
    digest = listing.digest
    key = list_key(settings, release, digest)
    write_once(client, settings, key, listing.to_json())
    return ListRef(release, digest, settings.live_bucket, key, len(listing.shards))


def read_list(client: Any, settings: Settings, ref: ListRef) -> ShardList:
    """The list the plan step wrote, only from the deployer's own key and only with the digest the
    state machine carried."""
    key = list_key(settings, ref.release, ref.digest)
    if (ref.bucket, ref.key) != (settings.live_bucket, key):
        raise ShardRefused(f"s3://{ref.bucket}/{ref.key} is not where a shard list of {ref.release} lives")
    found = get_object(client, settings.live_bucket, key)
    if found is None or hashlib.sha256(found.body).hexdigest() != ref.digest:
        raise ShardRefused(f"the shard list {key} is missing or does not hash to {ref.digest}")
    return ShardList.parse(found.body)


def write_marker(client: Any, settings: Settings, ref: ListRef, shard: Shard) -> None:
    write_once(
        client,
        settings,
        marker_key(settings, ref.release, ref.digest, shard.index),
        marker_body(ref.digest, shard),
    )


def write_complete(client: Any, settings: Settings, release: str, list_digest: str | None) -> None:
    """Write the release's complete marker once (docs/artifact.md, "A sharded deploy claims first").
    A retry finds its own bytes and goes on; a marker an earlier plan of the same release wrote (its
    shards verified, then a cutover lost its race) says the same thing and stands."""
    key = settings.history_key(release, COMPLETE_NAME)
    try:
        write_once(client, settings, key, complete_body(release, list_digest))
    except ClaimTaken as taken:
        if not names_release(taken.existing, release):
            raise ShardRefused(f"{key} exists and is not {release}'s complete marker") from None


def has_marker(client: Any, settings: Settings, ref: ListRef, shard: Shard) -> bool:
    found = get_object(
        client, settings.live_bucket, marker_key(settings, ref.release, ref.digest, shard.index)
    )
    return found is not None and found.body == marker_body(ref.digest, shard)


def unfinished(client: Any, settings: Settings, ref: ListRef, listing: ShardList) -> list[int]:
    """The shards without a done-marker naming their digest (one GET each, 16 at a time)."""
    if not listing.shards:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(listing.shards)), thread_name_prefix="markers") as pool:
        done = list(pool.map(lambda shard: has_marker(client, settings, ref, shard), listing.shards))
    return [shard.index for shard, ok in zip(listing.shards, done, strict=True) if not ok]
