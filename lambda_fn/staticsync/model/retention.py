"""Retention by releases: which live keys no retained release needs, and which staged objects retire (pure).

A release is retained while it is one of the newest `keep` releases of the order (default 5), or was
live at any moment of the grace period (default 7 days, so open tabs and cached pages keep working).
The cutover that dropped a key came at or after the cutover of the newest release that still had it,
so keeping every file of every release live since `now - grace` keeps each dropped key for at least
the grace period after the cutover that dropped it. Times are S3's clock: the LastModified of each
journal entry (written just before its cutover) and of each listed object, never the build's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .order import JournalEntry

DEFAULT_KEEP = 5
DEFAULT_GRACE = timedelta(days=7)
# Keys deleted (or staged objects retired) per run at most: one DeleteObjects request. What is left
# goes on the next run; a bucket pruned for the first time after years converges over a few deploys.
DEFAULT_MAX_DELETES = 1000


@dataclass(frozen=True)
class Link:
    """One cutover of the release order: its journal entry, and when S3 stored it (its place's claim)."""

    entry: JournalEntry
    claimed_at: datetime


@dataclass(frozen=True)
class Stored:
    """What ListObjectsV2 says about one object: its full key, size and LastModified."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Policy:
    """How much to keep, and how much to delete at most in one run."""

    keep: int = DEFAULT_KEEP
    grace: timedelta = DEFAULT_GRACE
    max_deletes: int = DEFAULT_MAX_DELETES


@dataclass(frozen=True)
class Retained:
    """The releases whose files stay, newest first.

    `floor`: the walk back ran out (the order's start, a journal gap, or releases cut over before the
    journal existed) while older releases were still needed; their files are unknown, so every object
    stored before this moment stays too.
    """

    releases: tuple[str, ...]
    artifacts: frozenset[str]  # s3://bucket/key of the retained releases' artifacts (journal entries)
    floor: datetime | None = None


@dataclass(frozen=True)
class Doomed:
    """An object to delete (or to retire), and why."""

    key: str
    size: int
    modified: datetime
    why: str


@dataclass(frozen=True)
class Decision:
    """What one run deletes, and what it keeps; `refused` says why it deletes nothing at all."""

    retained: tuple[str, ...] = ()
    delete: tuple[Doomed, ...] = ()
    kept: int = 0
    capped: bool = False  # more was deletable than `max_deletes`: the next run goes on
    refused: str | None = None
    floor: datetime | None = None

    @property
    def bytes(self) -> int:
        return sum(doomed.size for doomed in self.delete)

    def describe(self) -> list[str]:
        """The dry run: one line per key, then the totals."""
        if self.refused:
            return [f"nothing deleted: {self.refused}"]
        lines = [f"delete {doomed.key} ({doomed.size} bytes): {doomed.why}" for doomed in self.delete]
        summary = f"{len(self.delete)} keys, {self.bytes} bytes; {self.kept} kept for releases "
        summary += ", ".join(self.retained) or "(none)"
        if self.floor is not None:
            summary += f" and everything stored before {stamp(self.floor)} (older releases are unknown)"
        return [
            *lines,
            summary + (f"; capped at {len(self.delete)}, the next run goes on" if self.capped else ""),
        ]


def needs_more(chain: Sequence[Link], policy: Policy, now: datetime) -> bool:
    """Whether the release before the oldest link of `chain` is retained too (so walk on)."""
    if not chain:
        return True
    distinct = len({link.entry.release for link in chain})
    # The release before chain[-1] was live until chain[-1]'s cutover.
    return distinct < policy.keep or chain[-1].claimed_at >= now - policy.grace


def retained(chain: Sequence[Link], policy: Policy, now: datetime) -> Retained:
    """The releases `chain` (newest first, from the live one back) shows to be retained."""
    walked: list[Link] = []
    for link in chain:
        if walked and not needs_more(walked, policy, now):
            break
        walked.append(link)
    releases = tuple(dict.fromkeys(link.entry.release for link in walked))
    artifacts = frozenset(link.entry.artifact for link in walked)
    oldest = walked[-1] if walked else None
    floor = (
        oldest.claimed_at
        if oldest and len(walked) == len(chain) and needs_more(walked, policy, now)
        else None
    )
    return Retained(releases, artifacts, floor)


def decide(
    chain: Sequence[Link],
    records: Mapping[str, Collection[str]],
    listing: Iterable[Stored],
    *,
    live_prefix: str,
    owned: Collection[str],
    now: datetime,
    policy: Policy = Policy(),
) -> Decision:
    """The live keys to delete: referenced by no retained release, stored before `now - grace`.

    `records` are the retained releases' files (paths under the live prefix); `owned` are the
    deployer's own paths (staticfiles.json, the history prefix with a trailing '/'), never deleted.
    The newest object modified within the grace period is kept however unreferenced: it may be an
    upload of a deploy in flight.
    """
    if not chain:
        return Decision(refused="no journalled release is live (nothing cut over by staticsync yet)")
    keep = retained(chain, policy, now)
    missing = [release for release in keep.releases if release not in records]
    if missing:
        return Decision(keep.releases, refused=f"no record of retained release(s) {', '.join(missing)}")
    needed = {path for release in keep.releases for path in records[release]}
    cutoff = now - policy.grace
    doomed, kept = [], 0
    for stored in sorted(listing, key=lambda s: s.key):
        path = stored.key[len(live_prefix) :]
        if is_owned(path, owned) or path in needed or stays(stored, cutoff, keep.floor):
            kept += 1
            continue
        doomed.append(Doomed(stored.key, stored.size, stored.modified, why(stored, keep.releases, cutoff)))
    capped = len(doomed) > policy.max_deletes
    return Decision(keep.releases, tuple(doomed[: policy.max_deletes]), kept, capped, floor=keep.floor)


def to_retire(
    staged: Iterable[Stored],
    keep: Retained,
    *,
    bucket: str,
    staging_prefix: str,
    now: datetime,
    policy: Policy = Policy(),
) -> Decision:
    """The staged objects (artifacts, requests) no retained release needs, stored before `now - grace`.

    A retained release's artifact is the one its journal entry names, or, for a release cut over
    before the journal, where build_tool stages it (`<staging prefix><release>.zip`).
    """
    needed = {artifact.removeprefix(f"s3://{bucket}/") for artifact in keep.artifacts}
    needed |= {f"{staging_prefix}{release}.zip" for release in keep.releases}
    cutoff = now - policy.grace
    doomed, kept = [], 0
    for stored in sorted(staged, key=lambda s: s.key):
        if stored.key in needed or stays(stored, cutoff, keep.floor):
            kept += 1
            continue
        doomed.append(Doomed(stored.key, stored.size, stored.modified, why(stored, keep.releases, cutoff)))
    capped = len(doomed) > policy.max_deletes
    return Decision(keep.releases, tuple(doomed[: policy.max_deletes]), kept, capped, floor=keep.floor)


def is_owned(path: str, owned: Collection[str]) -> bool:
    return any(path == name or (name.endswith("/") and path.startswith(name)) for name in owned)


def stays(stored: Stored, cutoff: datetime, floor: datetime | None) -> bool:
    """Too new to judge (a deploy in flight, a dropped key in its grace period), or older than the floor."""
    return stored.modified >= cutoff or (floor is not None and stored.modified < floor)


def why(stored: Stored, releases: Sequence[str], cutoff: datetime) -> str:
    return (
        f"in none of the retained releases ({', '.join(releases)}), stored {stamp(stored.modified)}, "
        f"before the grace period began ({stamp(cutoff)})"
    )


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
