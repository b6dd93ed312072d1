"""Retention by releases: which live keys no retained release needs, which releases it stops keeping
(their tombstones), and which staged objects retire (pure).

A release is retained while it is one of the newest `keep` of the order (default 5) or was live at
any moment of the grace period (default 7 days: open tabs and cached pages keep working); while an
unexpired pin names it (an app runs it); while a journal place above the live one claims it (a deploy
in flight or dead: its uploads include names that already existed, whose dates say nothing of it);
and while its history record is younger than the grace period (a deploy not cut over yet). A release
was live until the next place's cutover: the live manifest's LastModified for the live place; for an
older one, the claim of the place after that (made after reading it live) bounds it from above, so
the date is never early. Every time is S3's clock (LastModified, S3's Date), never the function's.
A retained release staged as a delta keeps the staged artifacts of its bases, transitively: a rollback
to it (or a repair of it) reads the files it inherits from them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .contract import MANIFEST_NAME
from .order import JournalEntry
from .pins import Kept, pinned

DEFAULT_KEEP = 5
DEFAULT_GRACE = timedelta(days=7)
# Keys deleted (or staged objects retired, or releases marked pruned) per run at most: one
# DeleteObjects request. What is left goes on the next run.
DEFAULT_MAX_DELETES = 1000
# Bases of retained deltas followed at most (one record read each).
MAX_CHAIN = 1000


@dataclass(frozen=True)
class Link:
    """One cutover of the release order: its journal entry, when S3 stored it (its place's claim),
    and when its cutover happened where S3 shows it (the live place: the manifest's LastModified)."""

    entry: JournalEntry
    claimed_at: datetime
    live_from: datetime | None = None


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
class Where:
    """The deployer's keys: the live prefix, the history prefix under it, the history object's name."""

    prefix: str
    history: str
    history_name: str

    def owned(self, path: str) -> bool:
        """staticfiles.json and everything under the history prefix: never deleted."""
        return path == MANIFEST_NAME or path.startswith(self.history)


@dataclass(frozen=True)
class Seen:
    """What one run read from S3, S3's clock (`now`) included: all retention decides from.

    `chain`: the journal from the live place back, newest first; `claimed`: releases claimed above
    the live place; `records`: the files (paths) of each retained release, once read.
    """

    chain: Sequence[Link]
    listing: Sequence[Stored]
    now: datetime
    claimed: frozenset[str] = frozenset()
    records: Mapping[str, Collection[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Retained:
    """The releases whose files stay, the order's first, then those pinned, claimed or recent.

    `floor`: the walk back ran out (the order's start, a journal gap, or releases cut over before the
    journal existed) while older releases were still needed; their files are unknown, so every object
    stored before this moment stays too.
    """

    releases: tuple[str, ...]
    artifacts: frozenset[str]  # s3://bucket/key of the walked releases' artifacts (journal entries)
    floor: datetime | None = None
    # The releases a retained delta inherits files from, transitively (`inherited_from`): their staged
    # artifacts stay as long as it does, whatever became of their live files.
    bases: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Doomed:
    """An object to delete (or to retire), and why."""

    key: str
    size: int
    modified: datetime
    why: str


@dataclass(frozen=True)
class Decision:
    """What one run marks pruned and deletes, and what it keeps; `refused` says why it does nothing."""

    retained: tuple[str, ...] = ()
    delete: tuple[Doomed, ...] = ()
    kept: int = 0
    capped: bool = False  # more was deletable (or to mark) than `max_deletes`: the next run goes on
    refused: str | None = None
    floor: datetime | None = None
    tombstones: tuple[str, ...] = ()  # releases to mark pruned, before anything is deleted

    @property
    def bytes(self) -> int:
        return sum(doomed.size for doomed in self.delete)

    def describe(self) -> list[str]:
        """The dry run: one line per release marked and key deleted, then the totals."""
        if self.refused:
            return [f"nothing deleted: {self.refused}"]
        lines = [
            f"mark release {release} pruned: retention no longer keeps it" for release in self.tombstones
        ]
        lines += [f"delete {doomed.key} ({doomed.size} bytes): {doomed.why}" for doomed in self.delete]
        summary = f"{len(self.delete)} keys, {self.bytes} bytes; {self.kept} kept for releases "
        summary += ", ".join(self.retained) or "(none)"
        if self.floor is not None:
            summary += f" and everything stored before {stamp(self.floor)} (older releases are unknown)"
        return [*lines, summary + ("; capped, the next run goes on" if self.capped else "")]


def needs_more(chain: Sequence[Link], policy: Policy, now: datetime) -> bool:
    """Whether the release before the oldest link of `chain` is retained too (so walk on)."""
    if not chain:
        return True
    distinct = len({link.entry.release for link in chain})
    # The release before chain[-1] was live until chain[-1]'s cutover (None: not known to be past).
    replaced = cut_over_at(chain, len(chain) - 1)
    return distinct < policy.keep or replaced is None or replaced >= now - policy.grace


def cut_over_at(chain: Sequence[Link], index: int) -> datetime | None:
    """When chain[index]'s cutover happened, or a moment after it; None when nothing bounds it."""
    known = chain[index].live_from
    return known if known is not None or index == 0 else chain[index - 1].claimed_at


def walk(chain: Sequence[Link], policy: Policy, now: datetime) -> Retained:
    """The releases of the order that are retained: the newest `keep`, and those live within grace."""
    walked: list[Link] = []
    for link in chain:
        if walked and not needs_more(walked, policy, now):
            break
        walked.append(link)
    releases = tuple(dict.fromkeys(link.entry.release for link in walked))
    ran_out = bool(walked) and len(walked) == len(chain) and needs_more(walked, policy, now)
    floor = walked[-1].claimed_at if ran_out else None
    return Retained(releases, frozenset(link.entry.artifact for link in walked), floor)


def retained(seen: Seen, where: Where, policy: Policy) -> Retained:
    """Every retained release: the order's, then those pinned, claimed above the live place, or recent."""
    order, kept = walk(seen.chain, policy, seen.now), kept_of(seen.listing, where)
    recent = [r for r, at in kept.histories.items() if at >= seen.now - policy.grace and r not in kept.pruned]
    others = sorted(pinned(kept.pins, seen.now) | seen.claimed | set(recent))
    return Retained(tuple(dict.fromkeys((*order.releases, *others))), order.artifacts, order.floor)


def decide(seen: Seen, where: Where, policy: Policy = Policy()) -> Decision:
    """The releases to mark pruned, then the live keys to delete: referenced by no retained release,
    stored before `now - grace`, and not the deployer's own."""
    keep = retained(seen, where, policy)
    if refused := refusal(seen, keep):
        return Decision(keep.releases, refused=refused)
    marks = kept_of(seen.listing, where).unmarked(keep.releases, keep.floor)
    if len(marks) > policy.max_deletes:  # mark them all before deleting anything
        return Decision(keep.releases, capped=True, floor=keep.floor, tombstones=marks[: policy.max_deletes])
    doomed, kept = sweep(seen, where, keep, policy)
    capped = len(doomed) > policy.max_deletes
    return Decision(
        keep.releases, doomed[: policy.max_deletes], kept, capped, floor=keep.floor, tombstones=marks
    )


def refusal(seen: Seen, keep: Retained) -> str | None:
    """Why nothing may be deleted: nothing journalled is live, or a retained release's files are unknown."""
    if not seen.chain:
        return "no journalled release is live (nothing cut over by staticsync yet)"
    missing = [release for release in keep.releases if release not in seen.records]
    return f"no record of retained release(s) {', '.join(missing)}" if missing else None


def sweep(seen: Seen, where: Where, keep: Retained, policy: Policy) -> tuple[tuple[Doomed, ...], int]:
    """Every listed key no retained release needs, past the grace period: (doomed, how many kept)."""
    needed = {path for release in keep.releases for path in seen.records[release]}
    cutoff, doomed, kept = seen.now - policy.grace, [], 0
    for stored in sorted(seen.listing, key=lambda s: s.key):
        path = stored.key[len(where.prefix) :]
        if where.owned(path) or path in needed or stays(stored, cutoff, keep.floor):
            kept += 1
            continue
        doomed.append(Doomed(stored.key, stored.size, stored.modified, why(stored, keep.releases, cutoff)))
    return tuple(doomed), kept


def inherited_from(
    bases: Mapping[str, str], base_of: Callable[[str], str | None], limit: int = MAX_CHAIN
) -> frozenset[str]:
    """Every release the retained releases inherit files from, transitively: `bases` (each retained
    delta's base, from its kept record), then each base's own base (`base_of`, None for a full build
    or a record that is gone), `limit` releases at most (a cycle stops sooner)."""
    found: dict[str, None] = {}
    todo = sorted(set(bases.values()))
    while todo and len(found) < limit:
        release = todo.pop()
        if release in found:
            continue
        found[release] = None
        base = base_of(release)
        if base is not None and base not in found:
            todo.append(base)
    return frozenset(found)


def kept_of(listing: Iterable[Stored], where: Where) -> Kept:
    base = where.prefix + where.history
    return Kept.of(
        ((s.key[len(base) :], s.modified) for s in listing if s.key.startswith(base)), where.history_name
    )


def to_retire(
    staged: Iterable[Stored],
    keep: Retained,
    *,
    bucket: str,
    staging_prefix: str,
    now: datetime,
    policy: Policy,
) -> Decision:
    """The staged objects (artifacts, requests) no retained release needs, stored before `now - grace`.

    A retained release's artifact is the one its journal entry names, or where build_tool stages it
    (`<staging prefix><release>.zip`: a release cut over before the journal, pinned, or claimed); a
    base a retained delta inherits from is where build_tool stages it (where a rollback reads it).
    """
    needed = {artifact.removeprefix(f"s3://{bucket}/") for artifact in keep.artifacts}
    needed |= {f"{staging_prefix}{release}.zip" for release in (*keep.releases, *keep.bases)}
    cutoff = now - policy.grace
    doomed, kept = [], 0
    for stored in sorted(staged, key=lambda s: s.key):
        if stored.key in needed or stays(stored, cutoff, keep.floor):
            kept += 1
            continue
        doomed.append(Doomed(stored.key, stored.size, stored.modified, why(stored, keep.releases, cutoff)))
    capped = len(doomed) > policy.max_deletes
    return Decision(keep.releases, tuple(doomed[: policy.max_deletes]), kept, capped, floor=keep.floor)


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
