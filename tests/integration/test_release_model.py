"""The release model against SeaweedFS, one test per way it was broken on 2addabd: the deployer's own
keys, content-addressed names, order from history rather than clocks, a missing history object, and
the unhashed names a dead deploy leaves behind."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from build_tool.build.pack import Packed
from devtools.seaweed import S3Server
from staticsync.check import check_live
from staticsync.config import Settings
from staticsync.errors import LiveStateError
from staticsync.live.state import HISTORY_NAME
from staticsync.model.contract import MANIFEST_NAME
from staticsync.report import SyncReport
from tests.artifacts import build, collected_tree, stage_artifact
from tests.deploys import deploy_key
from tests.functional.test_hostile_archives import V1_APP, Draft, pack
from tests.sites import build_version

HOSTILE = "staging/model/hostile.zip"


@pytest.fixture
def live(s3_server: S3Server, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Settings]]:
    """A client and settings with a live prefix of this test's own."""
    yield s3_server.client(), Settings(live_bucket="live", live_prefix=f"model/{request.node.name}/")


def run(client: Any, settings: Settings, key: str) -> SyncReport:
    return deploy_key(client, settings, key)


def stage_draft(client: Any, draft: Draft) -> str:
    client.put_object(Bucket="artifacts", Key=HOSTILE, Body=pack(draft.members()), Metadata=draft.metadata())
    return HOSTILE


def manifest_head(client: Any, settings: Settings) -> tuple[str, dict[str, str]]:
    head = client.head_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))
    return head["ETag"], head["Metadata"]


def live_bytes(client: Any, settings: Settings, path: str) -> bytes:
    return bytes(client.get_object(Bucket="live", Key=settings.live_key(path))["Body"].read())


def deploy_versions(client: Any, settings: Settings, folder: Path, *versions: int) -> None:
    for version in versions:
        assert (
            run(client, settings, stage_artifact(client, build_version(folder, version))).outcome
            == "deployed"
        )


@pytest.mark.parametrize("path", [MANIFEST_NAME, f".releases/v1/{HISTORY_NAME}"])
def test_a_file_on_the_deployers_own_keys_is_refused_and_later_deploys_still_work(
    live: tuple[Any, Settings], tmp_path: Path, path: str
) -> None:
    client, settings = live
    deploy_versions(client, settings, tmp_path, 1)
    record = f".releases/v1/{HISTORY_NAME}"
    before = manifest_head(client, settings), live_bytes(client, settings, record)
    draft = Draft.valid()
    draft.files[path] = b'{"paths": {}, "version": "1.1"}\n'

    report = run(client, settings, stage_draft(client, draft))

    assert (report.outcome, report.reason, report.member) == ("rejected", "reserved_path", path)
    assert (
        manifest_head(client, settings),
        live_bytes(client, settings, f".releases/v1/{HISTORY_NAME}"),
    ) == before
    deploy_versions(client, settings, tmp_path, 2)
    assert check_live(client, settings, everything=True) == []


def test_a_live_hashed_name_shipped_as_an_unhashed_file_with_other_bytes_is_refused(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    client, settings = live
    deploy_versions(client, settings, tmp_path, 1)
    immutable = live_bytes(client, settings, V1_APP)
    draft = Draft.valid()
    draft.files[V1_APP] = b"console.log('not what the immutable URL served');\n"

    report = run(client, settings, stage_draft(client, draft))

    assert (report.outcome, report.reason, report.member) == ("rejected", "immutable_name_conflict", V1_APP)
    assert live_bytes(client, settings, V1_APP) == immutable
    assert "PutObject" not in report.requests_by_operation


def test_an_older_releases_hashed_name_is_never_overwritten_either(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """v1's app.js hash is no longer live once v2 is, but pages cached a year still ask for it."""
    client, settings = live
    deploy_versions(client, settings, tmp_path, 1, 2)
    immutable = live_bytes(client, settings, V1_APP)
    draft = dataclasses.replace(Draft.valid(), record={"release": "v3-evil"})
    draft.files[V1_APP] = b"console.log('evil');\n"

    report = run(client, settings, stage_draft(client, draft))

    assert (report.outcome, report.reason, report.member) == ("rejected", "immutable_name_conflict", V1_APP)
    assert live_bytes(client, settings, V1_APP) == immutable
    assert manifest_head(client, settings)[1]["release"] == "v2"
    assert check_live(client, settings, everything=True) == []


def test_a_commit_dated_in_the_future_is_refused_and_does_not_block_normal_builds(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    client, settings = live
    deploy_versions(client, settings, tmp_path, 1)
    draft = dataclasses.replace(Draft.valid(), record={"created_at": "2099-01-01T00:00:00Z"})

    report = run(client, settings, stage_draft(client, draft))

    assert (report.outcome, report.reason) == ("rejected", "future_timestamp")
    deploy_versions(client, settings, tmp_path, 2)


def test_two_releases_of_the_same_second_deploy_in_the_order_they_arrive(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    client, settings = live
    same = "2026-01-01T00:05:00Z"
    keys = [
        stage_artifact(client, build(collected_tree({"a.css": body}), tmp_path / f"{name}.zip", name, same))
        for name, body in (("s2", b"b{}"), ("s1", b"a{}"))
    ]

    outcomes = [run(client, settings, key).outcome for key in keys]

    assert outcomes == ["deployed", "deployed"]
    assert manifest_head(client, settings)[1] | {"recent": "", "release-sha256": ""} == {
        "release-sha256": "",
        "release": "s1",
        "sequence": "2",
        "previous": "s2",
        "kind": "deploy",
        "recent": "",
    }


def test_a_missing_history_object_of_the_live_release_stops_deploys_instead_of_skipping_checks(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    client, settings = live
    deploy_versions(client, settings, tmp_path, 1, 2)
    client.delete_object(Bucket="live", Key=settings.history_key("v2", HISTORY_NAME))
    replay = stage_artifact(client, build_version(tmp_path, 1))
    report = SyncReport(replay)

    with pytest.raises(LiveStateError, match="no record"):
        deploy_key(client, settings, replay, report)

    assert report.outcome == "failed" and manifest_head(client, settings)[1]["release"] == "v2"
    assert "--repair" in (report.detail or "")


def site(robots: bytes, css: bytes) -> dict[str, bytes]:
    return {"robots.txt": robots, "css/app.css": css}


def crash_at_cutover(client: Any, settings: Settings) -> None:
    """The process dies as it sends staticfiles.json: every earlier write landed."""

    def die(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == settings.live_key(MANIFEST_NAME):
            raise ConnectionError("the invocation died")

    client.meta.events.register("before-parameter-build.s3.PutObject", die)


def test_unhashed_names_a_dead_deploy_overwrote_are_rewritten_by_the_next_deploy(
    s3_server: S3Server, live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """d2 overwrites robots.txt, then dies before its cutover; d3 has d1's robots.txt (unchanged
    against the live d1, so not in its own diff) and still puts it back."""
    client, settings = live

    def packed(name: str, files: dict[str, bytes], minute: int) -> Packed:
        return build(collected_tree(files), tmp_path / f"{name}.zip", name, f"2026-01-01T00:0{minute}:00Z")

    d1 = stage_artifact(client, packed("d1", site(b"User-agent: *\n", b"a{}"), 1))
    d2 = stage_artifact(client, packed("d2", site(b"Disallow: /\n", b"b{}"), 2))
    d3 = stage_artifact(client, packed("d3", site(b"User-agent: *\n", b"c{}"), 3))
    assert run(client, settings, d1).outcome == "deployed"
    dying = s3_server.client()
    crash_at_cutover(dying, settings)
    with pytest.raises(ConnectionError):
        run(dying, settings, d2)
    assert live_bytes(client, settings, "robots.txt") == b"Disallow: /\n"  # dirty under d1

    report = run(client, settings, d3)

    assert report.outcome == "deployed" and report.sequence == 3  # place 2 was d2's, abandoned
    assert live_bytes(client, settings, "robots.txt") == b"User-agent: *\n"
    assert check_live(client, settings, everything=True) == []
