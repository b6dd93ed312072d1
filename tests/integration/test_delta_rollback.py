"""Done when (issue 19): every retained release is a rollback target, deltas included (against SeaweedFS).

The same history is deployed under two live prefixes: under a/, v2 is a delta of v1 and v3 a delta of
v2 (delta -> delta -> full); under b/, every release is a full build. v4 (a full build) changes a file
v3 inherits from v1. Retention then prunes v1 and v2 (past the grace period, two releases kept), the
artifacts bucket's lifecycle expires what it retired, and v3 is rolled back to: under a/ from its delta,
whose inherited files are read from v1's artifact, which retention kept for v3's sake. The two live
prefixes end identical, object for object and header for header.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from build_tool.aws.staging import stage
from build_tool.build.pack import Packed
from build_tool.commands.rollback import RollbackRefused, make_request
from devtools.seaweed import S3Server
from staticsync.config import Settings
from staticsync.live.pins import RETIRED_TAG
from staticsync.live.state import same_history
from staticsync.model.contract import FILES_DIR
from staticsync.operations.prune import PruneReport, prune_live
from staticsync.report import SyncReport
from tests.artifacts import build, read_packed, stage_artifact
from tests.deltas import build_delta
from tests.deploys import deploy_key
from tests.functional.test_delta_rollback_completed import tamper
from tests.rollbacks import run_request, stage_request
from tests.sites import SHARED, build_version, collected, commit, created_at, site

HEADERS = ("ContentType", "CacheControl", "ContentEncoding", "ContentLength", "Metadata")
CHANGED_BY_V4 = "css/base.css"  # a file v3 inherits from v1 (through v2), changed by v4


@dataclass(frozen=True)
class Side:
    """One live prefix and its staging prefix: deltas (a/) or full builds (b/)."""

    settings: Settings
    packed: dict[int, Packed]

    def key(self, version: int) -> str:
        return f"{self.settings.staging_prefix}v{version}.zip"


def settings_of(name: str, side: str) -> Settings:
    return Settings(
        live_bucket="live",
        artifacts_bucket="artifacts",
        live_prefix=f"rollback/{name}/{side}/",
        staging_prefix=f"staging/rollback/{name}/{side}/",
        retain_releases=2,
    )


def v4(folder: Path) -> Packed:
    """v4, a full build that changes v3's inherited stylesheet."""
    folder.mkdir(parents=True, exist_ok=True)
    tree = collected({**site(4), CHANGED_BY_V4: b"html { font-family: serif }\n" * 20})
    ancestry = tuple(commit(v) for v in range(3, 0, -1))
    return build(tree, folder / "v4.zip", "v4", created_at(4), commit(4), ancestry)


@pytest.fixture
def sides(s3_server: S3Server, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    """v1..v4 deployed under a/ (v2, v3 deltas) and b/ (all full); v4 is live on both."""
    client, name = s3_server.client(), request.node.name[:40]
    full = {version: build_version(folder(tmp_path / "full"), version) for version in (1, 2, 3)}
    full[4] = v4(tmp_path / "v4")
    deltas = dict(full)
    deltas[2] = build_delta(tmp_path / "delta", 2, full[1])
    deltas[3] = build_delta(tmp_path / "delta", 3, deltas[2])
    pair = Side(settings_of(name, "a"), deltas), Side(settings_of(name, "b"), full)
    for side in pair:
        for version in (1, 2, 3, 4):
            key = stage_artifact(client, side.packed[version], prefix=side.settings.staging_prefix)
            report = deploy_key(client, side.settings, key)
            assert report.outcome == "deployed", report.detail
    yield pair


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def past_grace() -> datetime:
    return datetime.now(UTC) + timedelta(days=8)


def prune_and_expire(client: Any, settings: Settings, now: datetime | None = None) -> PruneReport:
    """A prune past the grace period, then the lifecycle rule: every staged object it retired expires."""
    pruned = prune_live(client, settings, now=now or past_grace())
    for key in staged(client, settings):
        tags = client.get_object_tagging(Bucket="artifacts", Key=key)["TagSet"]
        if {"Key": RETIRED_TAG, "Value": "true"} in tags:
            client.delete_object(Bucket="artifacts", Key=key)
    return pruned


def staged(client: Any, settings: Settings) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket="artifacts", Prefix=settings.staging_prefix
    )
    return {item["Key"] for page in pages for item in page.get("Contents", ())}


def objects(client: Any, settings: Settings) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every live object, by key relative to the live prefix: its bytes and the headers a visitor gets."""
    found = {}
    prefix = settings.live_prefix
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="live", Prefix=prefix):
        for item in page.get("Contents", []):
            response = client.get_object(Bucket="live", Key=item["Key"])
            headers = {name: response.get(name) for name in HEADERS}
            found[item["Key"].removeprefix(prefix)] = (response["Body"].read(), headers)
    return found


def roll_back(client: Any, side: Side, request: str = "back-to-v3") -> SyncReport:
    key = stage_request(client, request, "v3", "v4", side.key(3), prefix=side.settings.staging_prefix)
    return run_request(client, side.settings, key)


def test_a_rollback_to_a_delta_whose_base_was_pruned_ends_identical_to_a_rollback_to_its_full_build(
    s3: Any, sides: tuple[Side, Side]
) -> None:
    deltas, full = sides
    now = past_grace()  # one clock for both sides: their tombstones are dated alike
    pruned = [prune_and_expire(s3, side.settings, now) for side in sides]
    assert [report.marked for report in pruned] == [["v1", "v2"], ["v1", "v2"]]  # tombstones
    assert [report.bases for report in pruned] == [["v1", "v2"], []]
    assert {deltas.key(1), deltas.key(2)} <= staged(s3, deltas.settings)  # kept for v3's sake
    assert not {full.key(1), full.key(2)} & staged(s3, full.settings)  # retired and expired
    assert FILES_DIR + CHANGED_BY_V4 not in zipfile.ZipFile(deltas.packed[3].path).namelist()

    reports = [roll_back(s3, side) for side in sides]

    assert [(r.outcome, r.reason) for r in reports] == [("deployed", None), ("deployed", None)], reports[
        0
    ].detail
    uploaded = [
        sorted(key.removeprefix(side.settings.live_prefix) for key in r.keys_uploaded)
        for side, r in zip(sides, reports, strict=True)
    ]
    assert uploaded[0] == uploaded[1] and CHANGED_BY_V4 in uploaded[0]
    in_a, in_b = objects(s3, deltas.settings), objects(s3, full.settings)
    assert sorted(in_a) == sorted(in_b)
    history = deltas.settings.history_prefix
    for key in sorted(in_a):
        (body_a, head_a), (body_b, head_b) = in_a[key], in_b[key]
        if key in (f"{history}v2/history.jsonl", f"{history}v3/history.jsonl"):  # deltas' have a `base`
            assert same_history(body_a, body_b) and body_a != body_b
            assert head_a["Metadata"] == head_b["Metadata"]
        elif key.startswith(f"{history}journal/"):  # each side's entries name its own artifacts
            entries = [json.loads(body) for body in (body_a, body_b)]
            assert [entry.pop("artifact") for entry in entries] == [
                f"s3://artifacts/{side.settings.staging_prefix}{entries[0]['release']}.zip" for side in sides
            ]
            assert entries[0] == entries[1]
        else:
            assert in_a[key] == in_b[key], key
    assert in_a["staticfiles.json"][1]["Metadata"]["release-sha256"] == full.packed[3].release_sha256
    assert in_a[CHANGED_BY_V4][0] == SHARED[CHANGED_BY_V4]


def test_a_base_artifact_staged_again_with_other_bytes_is_refused_and_nothing_is_written(
    s3: Any, sides: tuple[Side, Side], tmp_path: Path
) -> None:
    deltas, _ = sides
    prune_and_expire(s3, deltas.settings)
    other = b"html { display: none }\n".ljust(len(SHARED[CHANGED_BY_V4]))
    tampered = tamper(deltas.packed[1].path, tmp_path / "v1-other.zip", CHANGED_BY_V4, other)
    stage(s3, read_packed(tampered), "artifacts", deltas.key(1))  # v1's record kept, one file's bytes not
    before = objects(s3, deltas.settings)

    report = roll_back(s3, deltas)

    assert (report.outcome, report.reason, report.member) == ("rejected", "checksum_mismatch", CHANGED_BY_V4)
    assert f"was read from s3://artifacts/{deltas.key(1)}" in (report.detail or "")
    assert objects(s3, deltas.settings) == before  # no file, no request claim, no journal place


def test_a_base_artifact_an_operator_deleted_is_a_clear_not_retained_and_nothing_is_written(
    s3: Any, sides: tuple[Side, Side]
) -> None:
    deltas, _ = sides
    prune_and_expire(s3, deltas.settings)
    s3.delete_object(Bucket="artifacts", Key=deltas.key(1))
    before = objects(s3, deltas.settings)
    with pytest.raises(
        RollbackRefused,
        match=f"inherits files from v1, whose artifact s3://artifacts/{deltas.key(1)} is gone",
    ):
        make_request(s3, deltas.settings, "v3", "tests")

    report = roll_back(s3, deltas)

    assert (report.outcome, report.reason) == ("rejected", "not_retained")
    assert f"inherits files from v1, whose artifact s3://artifacts/{deltas.key(1)} is gone" in (
        report.detail or ""
    )
    assert objects(s3, deltas.settings) == before
