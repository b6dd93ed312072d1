"""The verify-and-repair pass on the example project deployed by the real handler, against SeaweedFS:
it restores exactly what is missing or wrong from the retained artifact, writes nothing to a whole
bucket, and refuses when the artifact is gone or is another release's."""

from __future__ import annotations

import math
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from build_tool.aws.staging import stage
from devtools.seaweed import S3Server
from staticsync.check import Exit, main
from staticsync.config import Settings
from staticsync.live.state import HISTORY_NAME
from staticsync.meter import RequestMeter
from staticsync.model.contract import FILES_DIR
from staticsync.model.headers import HeaderPolicy
from staticsync.model.verdicts import Problem
from staticsync.operations.repair import Depth, RepairRefused, verify_live
from staticsync.report import SyncReport
from tests.artifacts import read_packed, stage_artifact
from tests.conftest import FakeContext
from tests.deploys import deploy_key
from tests.handler import fresh_handler
from tests.integration.test_pipeline import EVENT_TIMEOUT, ROOT, package
from tests.sites import build_version

SETTINGS = Settings(live_bucket="live", artifacts_bucket="artifacts")


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project packed as release r1."""
    work = tmp_path_factory.mktemp("repair")
    project = work / "example"
    shutil.copytree(ROOT / "example", project, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    package(project, work / "r1.zip", "r1", 1767225600)
    return work / "r1.zip"


@pytest.fixture
def live(s3_env: dict[str, str], empty_buckets: None, s3_server: S3Server, example: Path) -> Iterator[Any]:
    """r1 live: staged as the build tool does and deployed by the real handler on SeaweedFS's event."""
    with fresh_handler(ARTIFACTS_BUCKET="artifacts") as app:
        client = s3_server.client()
        stage(client, read_packed(example), "artifacts", "staging/r1.zip")
        [report] = app.lambda_handler(s3_server.events.wait_event(EVENT_TIMEOUT), FakeContext())["deploys"]
        assert report["outcome"] == "deployed", report
        yield client


def metered(s3_server: S3Server) -> tuple[Any, RequestMeter]:
    meter = RequestMeter()
    return meter.attach(s3_server.client()), meter


def member(example: Path, path: str) -> bytes:
    return zipfile.ZipFile(example).read(FILES_DIR + path)


def etags(client: Any) -> dict[str, str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="live")
    return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}


def real(problems: list[Problem]) -> list[Problem]:
    """Every problem counts: nothing is sent as application/octet-stream, which SeaweedFS would store
    as a type of its own guessing (the admin's extensionless LICENSE.<hash> has its original's type)."""
    return problems


def hashed_css(example: Path) -> str:
    import json

    return str(json.loads(zipfile.ZipFile(example).read("staticfiles.json"))["paths"]["shop/css/site.css"])


def test_a_whole_bucket_is_verified_with_one_list_per_1000_keys_and_no_write(
    live: Any, s3_server: S3Server, example: Path
) -> None:
    client, meter = metered(s3_server)
    report = verify_live(client, SETTINGS, repair=True, meter=meter)

    assert (report.problems, report.restored) == ([], [])
    counts = report.requests_by_operation
    print("whole example project, LIST depth, repair mode:", report.listed, "keys", counts)
    assert report.listed == report.files > 500
    assert counts["ListObjectsV2"] == math.ceil(report.listed / 1000)
    assert "PutObject" not in counts
    assert counts["HeadObject"] == 1  # the live staticfiles.json: its headers, and that it did not move


def test_a_deleted_hashed_file_is_reported_and_restored_byte_for_byte_with_its_headers_alone(
    live: Any, s3_server: S3Server, example: Path
) -> None:
    path = hashed_css(example)
    live.delete_object(Bucket="live", Key=path)
    before = etags(live)

    check = verify_live(live, SETTINGS)
    client, meter = metered(s3_server)
    repaired = verify_live(client, SETTINGS, repair=True, meter=meter)

    assert [(p.key, p.code) for p in check.problems] == [(path, "missing_file")]
    assert repaired.restored == [path]
    assert repaired.requests_by_operation["PutObject"] == 1
    assert live.get_object(Bucket="live", Key=path)["Body"].read() == member(example, path)
    head = live.head_object(Bucket="live", Key=path)
    assert (head["ContentType"], head["CacheControl"]) == ("text/css; charset=utf-8", SETTINGS.cache_hashed)
    after = etags(live)
    assert {k: v for k, v in after.items() if k != path} == before
    assert real(verify_live(live, SETTINGS, depth=Depth.DEEP).problems) == []


@pytest.mark.parametrize("other", [b"User-agent: *\nDisallow: /\n", None], ids=["other size", "same size"])
def test_an_unhashed_file_with_other_bytes_is_rewritten(
    live: Any, s3_server: S3Server, example: Path, other: bytes | None
) -> None:
    original = member(example, "robots.txt")
    body = other or bytes(reversed(original))
    live.put_object(Bucket="live", Key="robots.txt", Body=body, ContentType="text/plain")

    check = verify_live(live, SETTINGS, depth=Depth.LIST)
    client, meter = metered(s3_server)
    repaired = verify_live(client, SETTINGS, repair=True, meter=meter)

    # An MD5 mismatch is confirmed by a HEAD (a KMS ETag is no MD5), which sees the header too.
    assert [p.code for p in check.problems] == (
        ["wrong_size"] if other else ["wrong_content", "wrong_header"]
    )
    assert repaired.restored == ["robots.txt"]
    assert repaired.requests_by_operation["PutObject"] == 1
    assert live.get_object(Bucket="live", Key="robots.txt")["Body"].read() == original
    head = live.head_object(Bucket="live", Key="robots.txt")
    policy = HeaderPolicy(SETTINGS, frozenset(), frozenset())
    assert head["CacheControl"] == policy.headers("robots.txt")["CacheControl"]


def test_deep_mode_finds_and_repairs_a_wrong_header_the_list_cannot_see(live: Any, example: Path) -> None:
    key = "robots.txt"
    live.copy_object(
        Bucket="live",
        Key=key,
        CopySource={"Bucket": "live", "Key": key},
        MetadataDirective="REPLACE",
        ContentType="application/octet-stream",
        Metadata=live.head_object(Bucket="live", Key=key)["Metadata"],
    )

    assert verify_live(live, SETTINGS, depth=Depth.LIST).problems == []
    restored = verify_live(live, SETTINGS, depth=Depth.DEEP, repair=True).restored
    # Besides robots.txt, only the .gz files SeaweedFS relabels (see `real`) would be rewritten.
    assert [p for p in restored if not p.startswith("admin/img/LICENSE")] == [key]
    assert live.head_object(Bucket="live", Key=key)["ContentType"] == "text/plain; charset=utf-8"


def test_the_command_repairs_and_then_finds_the_site_whole(
    live: Any, example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live.delete_object(Bucket="live", Key="robots.txt")
    argv = ["--bucket", "live", "--artifacts-bucket", "artifacts"]

    assert main([*argv, "--list-only"], client=live) == Exit.PROBLEMS
    assert main([*argv, "--repair"], client=live) == Exit.OK
    assert "robots.txt: missing_file" in capsys.readouterr().out
    assert main([*argv, "--list-only"], client=live) == Exit.OK
    assert capsys.readouterr().err.strip() == "s3://live/: whole"


def refuse_with(live: Any, damage: str, tmp_path: Path) -> None:
    if damage == "artifact deleted":
        live.delete_object(Bucket="artifacts", Key="staging/r1.zip")
    else:  # another build staged under the live release's key
        stage_artifact(live, build_version(tmp_path, 2, release="r1"))


@pytest.mark.parametrize("damage", ["artifact deleted", "another release under its key"])
def test_a_missing_or_foreign_artifact_is_refused_before_any_write(
    live: Any, s3_server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    live.delete_object(Bucket="live", Key="robots.txt")
    refuse_with(live, damage, tmp_path)
    client, meter = metered(s3_server)

    with pytest.raises(RepairRefused, match="r1"):
        verify_live(client, SETTINGS, repair=True, meter=meter)
    status = main(["--bucket", "live", "--artifacts-bucket", "artifacts", "--repair"], client=client)

    assert status == Exit.REFUSED
    assert capsys.readouterr().err.startswith("check: refused: ")
    assert "PutObject" not in meter.by_operation()


def test_ten_thousand_files_cost_ten_lists_plus_the_artifact_reads(
    s3_server: S3Server, empty_buckets: None, tmp_path: Path
) -> None:
    """The figure docs/failure-modes.md quotes: 10,000 small files, whole, then one file deleted."""
    client = s3_server.client()
    key = stage_artifact(client, build_version(tmp_path, 1, pages=2498))
    settings = Settings(live_bucket="live", live_prefix="big/", artifacts_bucket="artifacts")
    deploy_key(client, settings, key)
    metered_client, meter = metered(s3_server)

    whole = verify_live(metered_client, settings, repair=True, meter=meter)
    client.delete_object(Bucket="live", Key="big/css/page7.css")
    broken = verify_live(metered_client, settings, repair=True, meter=meter)
    deep = verify_live(metered_client, settings, depth=Depth.DEEP, meter=meter)

    print("10,000 files whole:", whole.listed, whole.requests_by_operation)
    print("10,000 files, one missing:", broken.requests_by_operation)
    print("10,000 files, --deep check:", deep.requests_by_operation)
    assert whole.listed == whole.files >= 10_000 and whole.problems == []
    assert whole.requests_by_operation["ListObjectsV2"] == math.ceil(whole.listed / 1000)
    assert "PutObject" not in whole.requests_by_operation
    assert broken.restored == ["big/css/page7.css"] and broken.requests_by_operation["PutObject"] == 1
    assert deep.requests_by_operation["HeadObject"] == deep.files + 1


def test_a_lost_record_of_the_live_release_is_restored_from_its_artifact_and_deploys_work_again(
    live: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    key = SETTINGS.history_key("r1", HISTORY_NAME)
    record = live.get_object(Bucket="live", Key=key)["Body"].read()
    live.delete_object(Bucket="live", Key=key)
    assert [p.code for p in verify_live(live, SETTINGS).problems] == ["missing_release_record"]

    repaired = verify_live(live, SETTINGS, repair=True)

    assert repaired.restored[0] == key and real(repaired.remaining) == []
    assert live.get_object(Bucket="live", Key=key)["Body"].read() == record
    later = stage_artifact(live, build_version(tmp_path, 2))
    assert deploy_key(live, SETTINGS, later, SyncReport("v2")).outcome == "deployed"


def test_a_lost_record_is_not_restored_from_an_artifact_that_built_another_manifest(
    live: Any, tmp_path: Path
) -> None:
    key = SETTINGS.history_key("r1", HISTORY_NAME)
    live.delete_object(Bucket="live", Key=key)
    other = build_version(tmp_path, 1, release="r1")  # the same id, other files: not what is live
    stage(live, other, "artifacts", "staging/r1.zip")

    with pytest.raises(RepairRefused, match="did not build the live staticfiles.json"):
        verify_live(live, SETTINGS, repair=True)

    assert "Contents" not in live.list_objects_v2(Bucket="live", Prefix=".releases/r1/")
