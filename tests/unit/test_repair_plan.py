"""The verify pass's pure decisions, without S3: what a listing says about the release's files, and
which of them a repair rewrites."""

from __future__ import annotations

import hashlib

import pytest

from staticsync.config import Settings
from staticsync.model.verdicts import (
    Listed,
    Problem,
    compare_listing,
    is_deployer_key,
    listed_paths,
    plain_md5,
    to_restore,
    unique,
)

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
