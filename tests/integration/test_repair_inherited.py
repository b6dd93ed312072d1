"""Issue 19: with a delta live, the verify-and-repair pass restores the files it inherits from its base
chain's retained artifacts, each checked against the live record, and refuses a base it cannot trust
before it writes anything (against SeaweedFS)."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Any

import pytest

from build_tool.aws.staging import stage
from build_tool.build.pack import Packed
from staticsync.check import Exit, check_live, main
from staticsync.config import Settings
from staticsync.live.state import HISTORY_NAME
from staticsync.model.contract import FILES_DIR, parse_release
from staticsync.model.verdicts import Problem
from staticsync.operations.repair import RepairRefused, verify_live
from tests.artifacts import read_packed, stage_artifact
from tests.deltas import chain
from tests.deploys import deploy_key
from tests.functional.test_delta_rollback_completed import tamper
from tests.rollbacks import run_request, stage_request
from tests.sites import build_version

SETTINGS = Settings(live_bucket="live", artifacts_bucket="artifacts")
ARGV = ["--bucket", "live", "--artifacts-bucket", "artifacts"]


@pytest.fixture
def live_v3(s3: Any, empty_buckets: None, tmp_path: Path) -> dict[int, Packed]:
    """v1 full, v2 a delta of v1, v3 a delta of v2, deployed one after the other: v3 is live."""
    packed = chain(tmp_path, range(2, 4))
    for version in (1, 2, 3):
        report = deploy_key(s3, SETTINGS, stage_artifact(s3, packed[version]))
        assert report.outcome == "deployed", report.detail
    return packed


def inherited(packed: dict[int, Packed]) -> list[str]:
    """The stylesheet v3 inherits from v1 (through v2), its hashed name, and robots.txt."""
    names = set(zipfile.ZipFile(packed[3].path).namelist())
    paths = [p for p in packed[3].record.files if p.startswith("css/base.") and not p.endswith(".gz")]
    paths = sorted([*paths, "robots.txt"])
    assert len(paths) == 3 and not {FILES_DIR + path for path in paths} & names
    return paths


def member(packed: Packed, path: str) -> bytes:
    return zipfile.ZipFile(packed.path).read(FILES_DIR + path)


def listing(s3: Any) -> dict[str, str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="live")
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", ())}


def test_a_deleted_stylesheet_a_live_delta_inherited_is_restored_from_its_base_s_artifact(
    s3: Any, live_v3: dict[int, Packed]
) -> None:
    paths = inherited(live_v3)
    for path in paths:
        s3.delete_object(Bucket="live", Key=path)
    assert {(p.key, p.code) for p in check_live(s3, SETTINGS)} == {(path, "missing_file") for path in paths}

    assert main([*ARGV, "--repair"], client=s3) == Exit.OK

    assert check_live(s3, SETTINGS) == []
    served = {path: s3.get_object(Bucket="live", Key=path)["Body"].read() for path in paths}
    assert served == {path: member(live_v3[1], path) for path in paths}  # v1's bytes, v3's record
    assert main([*ARGV, "--deep"], client=s3) == Exit.OK


def test_a_base_artifact_with_other_bytes_for_an_inherited_file_restores_nothing(
    s3: Any, live_v3: dict[int, Packed], tmp_path: Path
) -> None:
    paths = inherited(live_v3)
    for path in paths:
        s3.delete_object(Bucket="live", Key=path)
    other = member(live_v3[1], "robots.txt")[::-1]  # same size, other bytes
    tampered = tamper(live_v3[1].path, tmp_path / "v1-other.zip", "robots.txt", other)
    stage(s3, read_packed(tampered), "artifacts", "staging/v1.zip")  # v1's record, one file's bytes not
    before = listing(s3)

    with pytest.raises(RepairRefused) as refused:
        verify_live(s3, SETTINGS, repair=True)

    assert listing(s3) == before  # the stylesheets read before robots.txt were not written either
    damaged = "robots.txt does not match its SHA-256 in release.json) (robots.txt was read from "
    assert f"{damaged}s3://artifacts/staging/v1.zip, a base artifact): nothing restored" in str(refused.value)


def test_a_base_artifact_that_is_gone_is_a_clear_refusal_and_nothing_is_written(
    s3: Any, live_v3: dict[int, Packed]
) -> None:
    for path in inherited(live_v3):
        s3.delete_object(Bucket="live", Key=path)
    s3.delete_object(Bucket="artifacts", Key="staging/v1.zip")
    before = listing(s3)

    with pytest.raises(
        RepairRefused, match="inherits files from v1, whose artifact s3://artifacts/staging/v1.zip is gone"
    ):
        verify_live(s3, SETTINGS, repair=True)

    assert listing(s3) == before
    assert main([*ARGV, "--repair"], client=s3) == Exit.REFUSED


def test_a_live_delta_s_own_files_are_restored_without_reading_its_bases(
    s3: Any, live_v3: dict[int, Packed]
) -> None:
    s3.delete_object(Bucket="artifacts", Key="staging/v1.zip")  # not needed: nothing inherited is missing
    s3.delete_object(Bucket="live", Key="js/app.js")

    repaired = verify_live(s3, SETTINGS, repair=True)

    assert repaired.restored == ["js/app.js"] and repaired.remaining == []
    assert all(isinstance(p, Problem) for p in repaired.problems)


def test_a_lost_record_of_a_delta_rolled_back_to_is_restored_from_it_completed_by_its_base_chain(
    s3: Any, empty_buckets: None, tmp_path: Path
) -> None:
    """v2 (a delta of v1) rolled back to while v3 is live: the cutover recorded the release.json of v2
    completed by its chain, which is the one a lost record of v2 comes back from."""
    packed = chain(tmp_path, range(2, 3))
    packed[3] = build_version(folder(tmp_path / "full"), 3)
    for version in (1, 2, 3):
        assert deploy_key(s3, SETTINGS, stage_artifact(s3, packed[version])).outcome == "deployed"
    back = run_request(s3, SETTINGS, stage_request(s3, "back-to-v2", "v2", "v3", "staging/v2.zip"))
    assert back.outcome == "deployed", back.detail
    history = SETTINGS.history_key("v2", HISTORY_NAME)
    s3.delete_object(Bucket="live", Key=history)

    repaired = verify_live(s3, SETTINGS, repair=True)

    assert repaired.restored == [history] and repaired.remaining == []
    record = s3.get_object(Bucket="live", Key=history)["Body"].read().splitlines()[0]
    assert parse_release(record) == dataclasses.replace(packed[2].record, base=None)
    assert check_live(s3, SETTINGS) == []


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
