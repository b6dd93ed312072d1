"""The pure parts of `build_tool status` and `rollback`: the walk of the order, the verdicts, the table."""

from __future__ import annotations

import argparse
import io

import pytest

from build_tool import cli
from build_tool.commands.rollback import RollbackRefused, choose
from build_tool.commands.status import Live, Row, Status, as_json, settings_of, table, verdict
from build_tool.env import Environment
from build_tool.errors import UsageError
from staticsync.live.walk import ABANDONED, LIVE, REPLACED, Place, walk
from staticsync.model.order import JournalEntry


def entry(sequence: int, release: str, previous_sequence: int, kind: str = "deploy") -> JournalEntry:
    return JournalEntry(
        sequence, release, None, previous_sequence, kind, None, f"s3://a/staging/{release}.zip"
    )


# 1 v1, 2 v2, 3 v3 (abandoned), 4 v4 stepping over 3, 5 v2 again (a rollback): the live place.
JOURNAL = {
    1: entry(1, "v1", 0),
    2: entry(2, "v2", 1),
    3: entry(3, "v3", 2),
    4: entry(4, "v4", 2),
    5: entry(5, "v2", 4, "rollback"),
}


def outcomes(journal: dict[int, JournalEntry], start: int) -> list[tuple[int, str, str]]:
    return [(p.sequence, p.release, p.outcome) for p in walk(journal.get, start)]


def test_the_walk_follows_the_chain_back_and_marks_the_places_it_stepped_over_abandoned() -> None:
    assert outcomes(JOURNAL, 5) == [
        (5, "v2", LIVE),
        (4, "v4", REPLACED),
        (3, "v3", ABANDONED),
        (2, "v2", REPLACED),
        (1, "v1", REPLACED),
    ]


def test_the_walk_stops_at_a_missing_chain_entry_but_not_at_a_missing_abandoned_one() -> None:
    assert outcomes({k: v for k, v in JOURNAL.items() if k != 3}, 5)[-2:] == [
        (2, "v2", REPLACED),
        (1, "v1", REPLACED),
    ]
    assert outcomes({k: v for k, v in JOURNAL.items() if k != 2}, 5) == [
        (5, "v2", LIVE),
        (4, "v4", REPLACED),
        (3, "v3", ABANDONED),
    ]


def test_the_walk_never_goes_forward_from_a_damaged_entry() -> None:
    assert outcomes({2: entry(2, "v2", 7), 1: entry(1, "v1", 0)}, 2) == [(2, "v2", LIVE)]
    assert outcomes({}, 0) == []


@pytest.mark.parametrize(
    ("outcome", "release", "reason", "expected"),
    [
        (LIVE, "v2", None, (False, "it is live")),
        (REPLACED, "v2", None, (False, "it is live")),  # an older place of the live release
        (ABANDONED, "v9", None, (False, "it never went live")),
        (
            REPLACED,
            "v1",
            "its artifact s3://a/staging/v1.zip is gone",
            (False, "its artifact s3://a/staging/v1.zip is gone"),
        ),
        (REPLACED, "v4", None, (True, None)),
    ],
)
def test_only_a_replaced_retained_release_other_than_the_live_one_is_a_rollback_target(
    outcome: str, release: str, reason: str | None, expected: tuple[bool, str | None]
) -> None:
    assert verdict(Place(entry(1, release, 0), outcome), "v2", reason) == expected


def row(sequence: int, release: str, outcome: str, target: bool, why: str | None = None) -> Row:
    return Row(
        sequence,
        release,
        "deploy",
        None,
        f"{release}-commit-0123456789",
        outcome,
        "s3://a/x.zip",
        target,
        why,
    )


STATUS = Status(
    "s3://live/",
    Live("v4", "v4-commit-0123456789", 4, "deploy", None, "2026-01-01T00:00:00Z", "s3://a/staging/v4.zip"),
    (
        row(4, "v4", LIVE, False, "it is live"),
        row(3, "v3", ABANDONED, False, "it never went live"),
        row(2, "v2", REPLACED, True),
        row(1, "v1", REPLACED, False, "its artifact s3://a/staging/v1.zip is gone"),
    ),
    previous="v2",
)


def test_the_table_has_one_aligned_row_per_place_and_names_the_default_target() -> None:
    assert table(STATUS).splitlines() == [
        "live: v4 (commit v4-commit-01), place 4, deploy, live since 2026-01-01T00:00:00Z, from s3://a/staging/v4.zip",
        "PLACE  RELEASE  KIND    REQUEST  COMMIT        OUTCOME    ROLLBACK",
        "4      v4       deploy  -        v4-commit-01  live       -",
        "3      v3       deploy  -        v3-commit-01  abandoned  -",
        "2      v2       deploy  -        v2-commit-01  replaced   yes",
        "1      v1       deploy  -        v1-commit-01  replaced   no: its artifact s3://a/staging/v1.zip "
        "is gone",
        "rollback targets: v2 (default: v2)",
    ]


def test_the_default_target_is_none_when_the_previous_release_is_not_retained() -> None:
    rows = tuple(r for r in STATUS.rows if r.release != "v2")
    status = Status(STATUS.where, STATUS.live, rows, previous="v2")
    assert (status.targets, status.default_target) == ([], None)
    assert table(status).splitlines()[-1] == "rollback targets: none"


def test_the_json_record_has_every_field_of_the_live_release_and_of_each_place() -> None:
    document = as_json(STATUS)
    assert document["live"]["release"] == "v4" and document["live"]["live_since"] == "2026-01-01T00:00:00Z"
    assert document["order"][2] == {
        "sequence": 2,
        "release": "v2",
        "kind": "deploy",
        "request": None,
        "commit": "v2-commit-0123456789",
        "outcome": REPLACED,
        "artifact": "s3://a/x.zip",
        "rollback_target": True,
        "not_retained": None,
    }
    assert (document["rollback_targets"], document["default_target"]) == (["v2"], "v2")


def test_nothing_live_is_one_line() -> None:
    assert table(Status("s3://live/static/", None)) == "nothing is live at s3://live/static/"
    assert as_json(Status("s3://live/", None))["live"] is None


def test_rollback_refuses_the_live_release_and_a_missing_target() -> None:
    found = Place(entry(2, "v2", 1), REPLACED)
    assert choose(found, "v4", None) is found
    with pytest.raises(RollbackRefused, match="v4 is the live release"):
        choose(None, "v4", "v4")
    with pytest.raises(RollbackRefused, match="no release was live before v4"):
        choose(None, "v4", None)
    with pytest.raises(RollbackRefused, match="release v1 is not retained"):
        choose(None, "v4", "v1")
    assert issubclass(RollbackRefused, UsageError)  # exit 2


@pytest.mark.parametrize(
    ("flag", "value"), [("live_prefix", "static"), ("history_prefix", ""), ("prefix", "/staging/")]
)
def test_prefix_flags_must_end_with_a_slash(flag: str, value: str) -> None:
    args = argparse.Namespace(
        live_bucket="live", live_prefix="", history_prefix=".releases/", prefix="staging/"
    )
    setattr(args, flag, value)
    with pytest.raises(UsageError):
        settings_of(args, "artifacts")


def run(*argv: str) -> tuple[int, str, str]:
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    code = cli.main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status"], "--live-bucket"),
        (["status", "--live-bucket", "l", "--limit", "0"], "--limit 0 must be at least 1"),
        (["rollback", "--live-bucket", "l"], "--bucket"),
        (
            ["rollback", "--bucket", "a", "--live-bucket", "l", "--wait", "--timeout", "0"],
            "--timeout above 0",
        ),
        (["package", "--settings", "s", "--bucket", "b", "--rollback"], "run `build_tool rollback RELEASE`"),
    ],
)
def test_wrong_flags_are_one_line_and_exit_2_before_any_request(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert (code, out) == (2, "")
    assert message in err and err.strip().splitlines()[-1].startswith(("build_tool", "usage"))
