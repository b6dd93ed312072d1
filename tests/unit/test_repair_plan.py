"""The verify pass's pure decisions, without S3: what a listing says about the release's files, which
of them a repair rewrites, which it leaves to a deploy in flight, and which artifact may restore them."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from staticsync.bucket import LiveBucket
from staticsync.config import Settings
from staticsync.errors import ArtifactRejected
from staticsync.model.contract import ReleaseRecord
from staticsync.model.headers import HeaderPolicy
from staticsync.model.order import JournalEntry
from staticsync.model.verdicts import (
    IN_FLIGHT,
    Listed,
    Problem,
    Proof,
    claimed_keys,
    compare_listing,
    hold_claimed,
    is_deployer_key,
    listed_paths,
    plain_md5,
    to_restore,
    unique,
)
from staticsync.operations.restore import Restore, put_back

SETTINGS = Settings(live_bucket="live", live_prefix="static/")
BODIES = {"app.0123456789ab.css": b"body{}", "robots.txt": b"User-agent: *\n", "big.bin": b"x" * 10}
FILES = {path: hashlib.sha256(data).hexdigest() for path, data in BODIES.items()}
SIZES = {path: len(data) for path, data in BODIES.items()}


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def listing(**changes: Listed | None) -> dict[str, Listed]:
    whole = {path: Listed(len(data), f'"{md5(data)}"') for path, data in BODIES.items()}
    for path, value in changes.items():
        path = path.replace("_", ".")
        if value is None:
            whole.pop(path)
        else:
            whole[path] = value
    return whole


def test_a_whole_listing_leaves_only_the_md5_comparison() -> None:
    comparison = compare_listing(FILES, SIZES, listing())
    assert (comparison.missing, comparison.wrong_size, comparison.by_head) == ((), (), ())
    assert comparison.by_md5 == {path: md5(data) for path, data in BODIES.items()}


def test_a_missing_key_and_a_wrong_size_are_decided_without_reading() -> None:
    comparison = compare_listing(
        FILES, SIZES, listing(robots_txt=None, big_bin=Listed(3, '"' + "0" * 32 + '"'))
    )
    assert comparison.missing == ("robots.txt",)
    assert comparison.wrong_size == ("big.bin",)
    assert set(comparison.by_md5) == {"app.0123456789ab.css"}


@pytest.mark.parametrize("etag", ['"0123456789abcdef0123456789abcdef-3"', '"not-an-md5"', ""])
def test_an_etag_that_is_no_md5_is_decided_by_a_head(etag: str) -> None:
    comparison = compare_listing(FILES, SIZES, listing(big_bin=Listed(10, etag)))
    assert comparison.by_head == ("big.bin",)
    assert "big.bin" not in comparison.by_md5


def test_md5_checks_turned_off_send_every_present_file_to_a_head() -> None:
    comparison = compare_listing(FILES, SIZES, listing(robots_txt=None), etag_md5=False)
    assert comparison.by_md5 == {}
    assert comparison.by_head == ("app.0123456789ab.css", "big.bin")


def test_without_the_artifact_only_presence_is_judged() -> None:
    comparison = compare_listing(FILES, None, listing(robots_txt=None, big_bin=Listed(1, "x")))
    assert comparison == type(comparison)(("robots.txt",), (), {}, ())


def test_the_deployers_own_keys_are_left_out_of_the_listing() -> None:
    page = {
        "Contents": [
            {"Key": "static/staticfiles.json", "Size": 1, "ETag": '"a"'},
            {"Key": "static/.releases/r1/history.jsonl", "Size": 1, "ETag": '"b"'},
            {"Key": "static/.releases/journal/00000001.json", "Size": 1, "ETag": '"c"'},
            {"Key": "static/robots.txt", "Size": 14, "ETag": '"d"'},
        ]
    }
    assert listed_paths([page, {}], SETTINGS) == {"robots.txt": Listed(14, '"d"')}
    assert is_deployer_key("staticfiles.json", SETTINGS) and not is_deployer_key(
        "css/staticfiles.json", SETTINGS
    )


def test_plain_md5_reads_quoted_and_bare_etags_only() -> None:
    digest = "0123456789abcdef0123456789abcdef"
    assert plain_md5(f'"{digest}"') == plain_md5(digest) == digest
    assert plain_md5(f'"{digest}-2"') is None


def test_a_repair_rewrites_what_is_missing_or_wrong_and_nothing_else() -> None:
    problems = [
        Problem("static/robots.txt", "missing_file", ""),
        Problem("static/big.bin", "wrong_size", ""),
        Problem("static/app.0123456789ab.css", "wrong_header", ""),
        Problem("static/staticfiles.json", "manifest_mismatch", ""),
        Problem("static/other.css", "not_in_record", ""),
        Problem("static/gone.css", "wrong_content", ""),  # not a file of the release: never written
    ]
    assert to_restore(problems, SETTINGS, FILES) == ["app.0123456789ab.css", "big.bin", "robots.txt"]
    assert to_restore([], SETTINGS, FILES) == []


def test_one_problem_per_key_and_code() -> None:
    seen_twice = [Problem("k", "missing_file", "LIST"), Problem("k", "missing_file", "HEAD")]
    assert unique([*seen_twice, Problem("a", "wrong_header", "")]) == [
        Problem("a", "wrong_header", ""),
        Problem("k", "missing_file", "LIST"),
    ]


def entry(sequence: int, release: str, mutable: tuple[str, ...]) -> JournalEntry:
    return JournalEntry(sequence, release, "r1", 1, "deploy", None, f"s3://a/{release}.zip", mutable)


def test_a_repairable_problem_on_a_name_a_claim_above_the_live_place_lists_is_left_to_that_deploy() -> None:
    claimed = claimed_keys([entry(2, "r2", ("robots.txt",)), entry(3, "r3", ("big.bin",))], SETTINGS)
    problems = [
        Problem("static/robots.txt", "wrong_content", "a"),
        Problem("static/robots.txt", "wrong_header", "b"),
        Problem("static/big.bin", "missing_file", ""),
        Problem("static/app.0123456789ab.css", "missing_file", ""),  # hashed: always restored
    ]

    held = hold_claimed(problems, claimed)

    assert [(p.key, p.code) for p in held] == [
        ("static/app.0123456789ab.css", "missing_file"),
        ("static/big.bin", IN_FLIGHT),
        ("static/robots.txt", IN_FLIGHT),
    ]
    assert "journal place 2 (release r2)" in held[2].detail
    assert to_restore(held, SETTINGS, FILES) == ["app.0123456789ab.css"]


RECORD = ReleaseRecord("r2", "2026-01-01T00:00:00Z", FILES, "0" * 64, base="r1")
FULL = dataclasses.replace(RECORD, base=None)
OTHER = dataclasses.replace(FULL, files={**FILES, "robots.txt": "1" * 64})
CUT_OVER, STAGED = "a" * 64, "b" * 64


@pytest.mark.parametrize(
    ("live", "digest", "artifact", "artifact_digest", "refused"),
    [
        (RECORD, CUT_OVER, RECORD, CUT_OVER, None),  # the artifact deployed
        (RECORD, CUT_OVER, FULL, STAGED, None),  # the full build of a live delta: the same release
        (RECORD, None, FULL, STAGED, None),  # files need no release-sha256: each is checked by digest
        (RECORD, CUT_OVER, OTHER, STAGED, "another build"),
        (None, CUT_OVER, RECORD, CUT_OVER, None),  # a lost record: only from the artifact deployed
        (None, CUT_OVER, FULL, STAGED, "not the one release r2 was cut over with"),
        (None, CUT_OVER, OTHER, STAGED, "not the one release r2 was cut over with"),
        (None, None, RECORD, CUT_OVER, "no release-sha256"),
    ],
    ids=[
        "exact",
        "full build of a delta",
        "old manifest",
        "other build",
        "record: exact",
        "record: full build",
        "record: other build",
        "record: old manifest",
    ],
)
def test_an_artifact_restores_the_live_release_only_when_proven_to_be_it(
    live: ReleaseRecord | None,
    digest: str | None,
    artifact: ReleaseRecord,
    artifact_digest: str,
    refused: str | None,
) -> None:
    refusal = Proof("r2", live, digest).refusal("s3://a/r2.zip", artifact, artifact_digest)
    assert refusal is None if refused is None else refused in (refusal or "")


class Recording:
    """A client that records the objects put."""

    def __init__(self) -> None:
        self.puts: list[str] = []

    def put_object(self, **request: Any) -> dict[str, Any]:
        self.puts.append(request["Key"])
        return {}


def test_a_file_is_put_back_only_with_the_bytes_the_live_record_lists() -> None:
    client = Recording()
    bucket = LiveBucket(client, SETTINGS)
    job = Restore(["robots.txt"], FILES, HeaderPolicy(SETTINGS, frozenset(), frozenset()), listing())

    with pytest.raises(ArtifactRejected, match="not the live record's bytes"):
        put_back(bucket, job, "robots.txt", b"User-agent: *\nDisallow: /\n")
    assert put_back(bucket, job, "robots.txt", BODIES["robots.txt"])

    assert client.puts == ["static/robots.txt"]
