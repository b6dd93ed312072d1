"""Retention by releases, decided without S3: exactly what is unreferenced past the grace period goes,
never what a retained (or pinned, claimed, recent) release needs, never the deployer's own keys, never
more than the cap; a release is dated by the cutover that replaced it, and every release retention
stops keeping is marked pruned before anything is deleted."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from staticsync.model.order import JournalEntry
from staticsync.model.pins import BadPinRequest, Kept, Pin, PinRequest, Tombstone
from staticsync.model.retention import (
    Decision,
    Link,
    Policy,
    Seen,
    Stored,
    Where,
    decide,
    inherited_from,
    needs_more,
    retained,
    to_retire,
    walk,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
WHERE = Where("static/", ".releases/", "history.jsonl")


def chain(*ages: float, kinds: dict[int, str] | None = None, exact: bool = True) -> list[Link]:
    """Releases r1..rN cut over `ages` days ago (oldest first), as the walk returns them: newest first.

    `exact`: every cutover's time is known (each claimed at the moment it cut over); else only the
    live one's, as S3 shows it (the live manifest's LastModified)."""
    links = []
    for number, age in enumerate(ages, start=1):
        kind = (kinds or {}).get(number, "deploy")
        entry = JournalEntry(
            number,
            f"r{number}",
            f"r{number - 1}" if number > 1 else None,
            number - 1,
            kind,
            None,
            f"s3://artifacts/staging/r{number}.zip",
        )
        live = exact or number == len(ages)
        links.append(Link(entry, NOW - age * DAY, NOW - age * DAY if live else None))
    return links[::-1]


def files(*numbers: int) -> dict[str, frozenset[str]]:
    """Release n has shared.css, its own app.n.css, and (for n > 2) page.css, which r1 and r2 lack."""
    return {
        f"r{n}": frozenset({"shared.css", f"app.{n}.css", *(["page.css"] if n > 2 else [])}) for n in numbers
    }


def listing(
    records: Mapping[str, frozenset[str]], age: float = 30, extra: Mapping[str, float] | None = None
) -> list[Stored]:
    paths: dict[str, float] = {path: age for record in records.values() for path in record}
    paths |= extra or {}
    return [Stored(f"static/{path}", 100, NOW - days * DAY) for path, days in sorted(paths.items())]


def histories(*numbers: int, age: float = 80) -> dict[str, float]:
    """The history records of releases `numbers`, stored `age` days ago (listing's `extra`)."""
    return {f".releases/r{n}/history.jsonl": age for n in numbers}


def deleted(decision: Decision) -> list[str]:
    return [doomed.key for doomed in decision.delete]


def run(
    links: list[Link],
    records: dict[str, frozenset[str]],
    stored: list[Stored],
    keep: int = 5,
    max_deletes: int = 1000,
    claimed: frozenset[str] = frozenset(),
) -> Decision:
    seen = Seen(links, stored, NOW, claimed, records)
    return decide(seen, WHERE, Policy(keep=keep, max_deletes=max_deletes))


def test_keys_only_releases_older_than_the_last_five_had_are_deleted() -> None:
    links = chain(70, 60, 50, 40, 30, 20, 10)  # r1..r7, each live for ten days
    decision = run(links, files(3, 4, 5, 6, 7), listing(files(1, 2, 3, 4, 5, 6, 7), age=80))
    assert decision.retained == ("r7", "r6", "r5", "r4", "r3")
    assert deleted(decision) == ["static/app.1.css", "static/app.2.css"]
    assert decision.kept == 7 and decision.bytes == 200 and not decision.capped


def test_every_release_live_within_the_grace_period_is_retained_beyond_the_last_five() -> None:
    links = chain(70, 60, 6, 5, 4, 3, 2)  # r2 was live until r3's cutover, 6 days ago: inside 7 days
    decision = run(links, files(2, 3, 4, 5, 6, 7), listing(files(1, 2, 3, 4, 5, 6, 7), age=80))
    assert decision.retained == ("r7", "r6", "r5", "r4", "r3", "r2")
    assert deleted(decision) == ["static/app.1.css"]


def test_a_key_dropped_by_a_cutover_inside_the_grace_period_stays_whatever_keep_says() -> None:
    links = chain(70, 3)  # r2 dropped app.1.css three days ago
    decision = run(links, files(1, 2), listing(files(1, 2), age=80), keep=1)
    assert decision.retained == ("r2", "r1") and deleted(decision) == []


def test_a_release_replaced_moments_ago_by_a_cutover_claimed_days_ago_is_retained() -> None:
    # r2's deploy claimed its place ten days ago and was resumed, and cut over, a minute ago.
    links = chain(70, 10)
    links[0] = Link(links[0].entry, NOW - 10 * DAY, live_from=NOW - timedelta(minutes=1))
    decision = run(links, files(1, 2), listing(files(1, 2), age=80), keep=1)
    assert decision.retained == ("r2", "r1") and deleted(decision) == []


def test_an_older_release_is_dated_by_the_claim_after_the_cutover_that_replaced_it_never_its_own() -> None:
    # r1 was replaced by r2's cutover, which S3 does not date: r2 was claimed 30 days ago, but r3's
    # claim (read after r2's cutover) 5 days ago is the earliest S3 shows r1 to have been replaced.
    links = chain(40, 30, 5, exact=False)
    assert walk(links, Policy(keep=1), NOW).releases == ("r3", "r2", "r1")
    # Where S3 dates r2's cutover (30 days ago), r1 is not retained.
    assert walk(chain(40, 30, 5), Policy(keep=1), NOW).releases == ("r3", "r2")


def test_an_unreferenced_object_stored_within_the_grace_period_stays() -> None:
    links = chain(70, 60, 50, 40, 30, 20)
    stored = listing(files(1, 2, 3, 4, 5, 6), age=80, extra={"inflight.css": 0.1, "old-upload.css": 8})
    decision = run(links, files(2, 3, 4, 5, 6), stored)
    assert deleted(decision) == ["static/app.1.css", "static/old-upload.css"]


def test_the_deployers_own_keys_are_never_deleted() -> None:
    links = chain(70, 60)
    extra = {"staticfiles.json": 80, ".releases/r0/history.jsonl": 80, ".releases/journal/00000001.json": 80}
    decision = run(links, files(1, 2), listing(files(1, 2), age=80, extra=extra), keep=1)
    assert deleted(decision) == ["static/app.1.css"]


def test_a_release_rolled_back_to_counts_once_and_keeps_its_files() -> None:
    links = chain(70, 60, 50, 40, 30, 20, 10, kinds={7: "rollback"})
    links[0] = Link(
        JournalEntry(7, "r2", "r6", 6, "rollback", "req", "s3://artifacts/staging/r2.zip"),
        NOW - 10 * DAY,
        NOW - 10 * DAY,
    )
    decision = run(links, files(2, 3, 4, 5, 6), listing(files(1, 2, 3, 4, 5, 6), age=80))
    assert decision.retained == ("r2", "r6", "r5", "r4", "r3")
    assert deleted(decision) == ["static/app.1.css"]


def test_an_unexpired_pin_keeps_a_release_older_than_the_retained_ones() -> None:
    links = chain(70, 60, 50)
    pin = Pin("shop", "r1", NOW + DAY)
    stored = listing(files(1, 2, 3), age=80, extra={f".releases/{pin.path}": 1})
    decision = run(links, files(1, 2, 3), stored, keep=1)
    assert decision.retained == ("r3", "r1") and deleted(decision) == ["static/app.2.css"]


def test_an_expired_pin_keeps_nothing() -> None:
    links = chain(70, 60, 50)
    pin = Pin("shop", "r1", NOW - timedelta(seconds=1))
    stored = listing(files(1, 2, 3), age=80, extra={f".releases/{pin.path}": 30})
    decision = run(links, files(3), stored, keep=1)
    assert decision.retained == ("r3",) and deleted(decision) == ["static/app.1.css", "static/app.2.css"]


def test_a_release_claimed_above_the_live_place_keeps_every_file_it_has() -> None:
    # r9's deploy claimed the place after r3's and stopped before its cutover; it has app.1.css again.
    links = chain(70, 60, 50)
    records = {**files(3), "r9": frozenset({"app.1.css", "shared.css"})}
    decision = run(links, records, listing(files(1, 2, 3), age=80), keep=1, claimed=frozenset({"r9"}))
    assert decision.retained == ("r3", "r9") and deleted(decision) == ["static/app.2.css"]


def test_a_release_whose_history_is_younger_than_the_grace_period_is_retained() -> None:
    links = chain(70, 60, 50)
    records = {**files(3), "r9": frozenset({"app.1.css"})}
    stored = listing(files(1, 2, 3), age=80, extra=histories(9, age=2))
    decision = run(links, records, stored, keep=1)
    assert decision.retained == ("r3", "r9") and deleted(decision) == ["static/app.2.css"]


def test_every_release_retention_stops_keeping_is_marked_pruned_once() -> None:
    links = chain(70, 60, 50, 40)
    stored = listing(
        files(1, 2, 3, 4), age=80, extra={**histories(1, 2, 3, 4), ".releases/r1/pruned.json": 9}
    )
    decision = run(links, files(3, 4), stored, keep=2)
    assert decision.tombstones == ("r2",)  # r1 was marked by an earlier run
    assert "mark release r2 pruned" in decision.describe()[0]


def test_with_more_releases_to_mark_than_the_cap_a_run_marks_and_deletes_nothing() -> None:
    links = chain(70, 60, 50, 40)
    decision = run(links, files(4), listing(files(1, 2, 3, 4), age=80, extra=histories(1, 2, 3, 4)), keep=1)
    assert decision.tombstones == ("r1", "r2", "r3") and len(deleted(decision)) == 3
    capped = run(
        links,
        files(4),
        listing(files(1, 2, 3, 4), age=80, extra=histories(1, 2, 3, 4)),
        keep=1,
        max_deletes=2,
    )
    assert capped.tombstones == ("r1", "r2") and deleted(capped) == [] and capped.capped


def test_deletion_stops_at_the_cap_and_says_so() -> None:
    links = chain(70, 60)
    extra = {f"old{i}.css": 80 for i in range(5)}
    decision = run(links, files(1, 2), listing(files(2), age=80, extra=extra), keep=1, max_deletes=3)
    assert deleted(decision) == ["static/old0.css", "static/old1.css", "static/old2.css"]
    assert decision.capped and "capped" in decision.describe()[-1]


def test_a_retained_release_without_a_record_refuses_the_whole_run() -> None:
    decision = run(chain(70, 60), files(2), listing(files(1, 2), age=80), keep=2)
    assert decision.delete == () and decision.refused is not None and "r1" in decision.refused


def test_nothing_journalled_live_deletes_nothing() -> None:
    assert run([], {}, listing(files(1), age=80)).refused is not None


def test_when_the_walk_runs_out_everything_older_than_the_oldest_cutover_stays() -> None:
    # Three releases, keep five: whatever was live before r1 (unknown files) is still retained.
    links = chain(70, 60, 50)
    stored = listing(files(1, 2, 3), age=50, extra={"before-r1.css": 75, "abandoned.css": 55, **histories(0)})
    decision = run(links, files(1, 2, 3), stored)
    assert decision.floor == NOW - 70 * DAY
    assert deleted(decision) == ["static/abandoned.css"] and decision.tombstones == ()


@pytest.mark.parametrize(
    ("ages", "walked"),
    [
        ((70, 60, 50, 40, 30, 20), 5),
        ((70, 60, 50, 40, 30, 2), 5),
        ((70, 6, 5, 4, 3, 2), 6),
        ((70, 1, 1, 1, 1, 1), 6),
    ],
)
def test_the_walk_stops_once_keep_releases_are_known_and_one_predates_the_grace_period(
    ages: tuple[float, ...], walked: int
) -> None:
    links = chain(*ages)
    stops = next(
        (n for n in range(1, len(links) + 1) if not needs_more(links[:n], Policy(), NOW)), len(links)
    )
    assert stops == walked
    assert len(walk(links, Policy(), NOW).releases) == walked


def test_staged_objects_of_no_retained_release_retire_after_the_grace_period() -> None:
    links = chain(70, 60, 50, 40, 30, 20, 10)
    keep = retained(Seen(links, [], NOW), WHERE, Policy())
    staged = [Stored(f"staging/r{n}.zip", 10, NOW - (80 - 10 * n) * DAY) for n in range(1, 8)]
    staged += [Stored("staging/rejected.zip", 10, NOW - 9 * DAY), Stored("staging/new.zip", 10, NOW - DAY)]
    staged += [Stored("staging/rollback-a.json", 1, NOW - 30 * DAY)]
    decision = to_retire(
        staged, keep, bucket="artifacts", staging_prefix="staging/", now=NOW, policy=Policy()
    )
    assert deleted(decision) == [
        "staging/r1.zip",
        "staging/r2.zip",
        "staging/rejected.zip",
        "staging/rollback-a.json",
    ]


def test_the_artifacts_a_retained_delta_inherits_from_stay_as_long_as_it_does() -> None:
    links = chain(70, 60, 50, 40, 30, 20, 10)  # r3..r7 retained; r3 a delta of r2, itself a delta of r1
    keep = retained(Seen(links, [], NOW), WHERE, Policy())
    bases = {"r1": None, "r2": "r1", "r3": "r2"}
    keep = replace(keep, bases=inherited_from({"r3": "r2"}, bases.get))
    staged = [Stored(f"staging/r{n}.zip", 10, NOW - (80 - 10 * n) * DAY) for n in range(1, 8)]
    staged.append(Stored("staging/r0.zip", 10, NOW - 90 * DAY))
    decision = to_retire(
        staged, keep, bucket="artifacts", staging_prefix="staging/", now=NOW, policy=Policy()
    )
    assert keep.bases == {"r1", "r2"}
    assert deleted(decision) == ["staging/r0.zip"]


@pytest.mark.parametrize(
    ("bases", "base_of", "expected"),
    [
        ({}, {}, set()),  # no retained delta
        ({"r9": "r8"}, {"r8": "r7", "r7": None}, {"r8", "r7"}),  # delta -> delta -> full
        ({"r9": "r8", "r5": "r4"}, {"r8": "r4", "r4": None}, {"r8", "r4"}),  # two deltas, one chain
        ({"r9": "r8"}, {"r8": "r7", "r7": "r8"}, {"r8", "r7"}),  # a cycle stops
        ({"r9": "r8"}, {}, {"r8"}),  # a base without a record: its own base is unknown
    ],
)
def test_a_retained_delta_inherits_from_its_bases_transitively(
    bases: dict[str, str], base_of: dict[str, str | None], expected: set[str]
) -> None:
    assert inherited_from(bases, base_of.get) == expected


def test_the_dry_run_description_names_each_key_why_and_the_bytes() -> None:
    decision = run(chain(70, 60), files(1, 2), listing(files(1, 2), age=80), keep=1)
    [line, summary] = decision.describe()
    assert line.startswith("delete static/app.1.css (100 bytes): in none of the retained releases (r2)")
    assert summary.startswith("1 keys, 100 bytes; 2 kept for releases r2")


def test_a_pin_is_named_by_its_key_alone_and_the_listing_shows_pins_tombstones_and_histories() -> None:
    pin = Pin("shop-web", "v1.2", datetime(2026, 4, 1, 12, 30, tzinfo=UTC))
    assert pin.path == "pins/shop-web/v1.2/20260401T123000Z.json"
    assert Pin.from_path(pin.path) == pin
    assert Pin.from_path("pins/shop-web/v1.2/soon.json") is None
    kept = Kept.of([(pin.path, NOW), ("v1.2/history.jsonl", NOW), ("v1.1/pruned.json", NOW)], "history.jsonl")
    assert (kept.pins, dict(kept.histories), kept.pruned) == ((pin,), {"v1.2": NOW}, frozenset({"v1.1"}))
    assert json.loads(Tombstone("v1.1", NOW, "v1.2").to_json())["pruned_at"] == "2026-03-01T00:00:00Z"


def test_a_pin_request_expires_days_after_s3_stored_it() -> None:
    request = PinRequest.parse(b'{"format": 1, "request": "a1", "app": "shop", "release": "r1", "days": 30}')
    assert request.pin(NOW + timedelta(microseconds=5)) == Pin("shop", "r1", NOW + 30 * DAY)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[", "not JSON"),
        (b'{"format": 2}', "not a format 1 pin request"),
        (b'{"format": 1, "request": "a", "app": "../x", "release": "r1", "days": 1}', "app"),
        (b'{"format": 1, "request": "a", "app": "shop", "release": "r1", "days": 0}', "days 0"),
        (b'{"format": 1, "request": "a", "app": "shop", "release": "r1", "days": true}', "days True"),
        (b'{"format": 1, "request": "a", "app": "shop", "days": 3}', "release None"),
    ],
)
def test_a_pin_request_that_does_not_parse_says_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(BadPinRequest, match=says):
        PinRequest.parse(body)


class Broken:
    """An S3 client whose every call fails."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError("S3 is down")


@pytest.mark.parametrize(
    ("outcome", "after_deploy", "runs"),
    [("deployed", True, True), ("unchanged", True, False), ("deployed", False, False)],
)
def test_the_prune_after_a_cutover_runs_only_after_one_and_never_fails_the_deploy(
    outcome: str, after_deploy: bool, runs: bool
) -> None:
    from staticsync.config import Settings
    from staticsync.operations.prune import prune_after_cutover
    from staticsync.report import SyncReport

    report = SyncReport("s3://artifacts/staging/r1.zip", outcome=outcome)
    settings = Settings(live_bucket="live", prune_after_deploy=after_deploy)
    assert prune_after_cutover(Broken(), settings, report) is None
    assert report.warnings == (["prune failed: RuntimeError: S3 is down"] if runs else [])
    assert report.outcome == outcome
