"""Retention by releases against SeaweedFS: after seven real deploys, a prune run past the grace period
deletes exactly the keys only the two oldest releases had, nothing a retained release needs (the
checker passes before and after), stops at the cap, retires the artifacts of the releases that fell
out, and its dry run deletes nothing and lists the same keys. SeaweedFS's LastModified is the real
clock, so `now` is injected rather than waited for."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devtools.seaweed import S3Server
from staticsync.check import check_live
from staticsync.config import Settings
from staticsync.dispatch import handle_event
from staticsync.live.state import read_record
from staticsync.model.contract import MANIFEST_NAME
from staticsync.model.events import PRUNE_REQUEST, record_kind
from staticsync.model.pins import parse_prune_request
from staticsync.operations.prune import RETIRED_TAG, prune_live
from staticsync.operations.requests import handle_prune_request, request_object_key
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key
from tests.sites import build_version

SETTINGS = Settings(live_bucket="live", artifacts_bucket="artifacts")
VERSIONS = range(1, 8)
RETAINED = [f"v{n}" for n in range(3, 8)]
PAST_GRACE = timedelta(days=8)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    folder: Path = tmp_path_factory.mktemp("prune")
    return {version: build_version(folder, version) for version in VERSIONS}


@pytest.fixture
def client(s3_server: S3Server, empty_buckets: None, packed: dict[int, Any]) -> Any:
    """v1 to v7 deployed one after the other by the real deploy; v7 is live."""
    client = s3_server.client()
    for version in VERSIONS:
        key = stage_artifact(client, packed[version])
        report = deploy_key(client, SETTINGS, key)
        assert report.outcome == "deployed", report
    s3_server.events.drain()
    return client


def live_keys(client: Any) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="live")
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def files(client: Any) -> set[str]:
    """The live keys of release files (not the deployer's own)."""
    return {key for key in live_keys(client) if key != MANIFEST_NAME and not key.startswith(".releases/")}


def unreferenced(client: Any) -> list[str]:
    """What no retained release (v3..v7) has, nor the deployer keeps: the keys prune must delete."""
    needed = {path for release in RETAINED for path in read_record(client, SETTINGS, release).files}
    return sorted(
        key
        for key in live_keys(client)
        if key not in needed and key != MANIFEST_NAME and not key.startswith(".releases/")
    )


def later(days: timedelta = PAST_GRACE) -> datetime:
    return datetime.now(UTC) + days


def tags(client: Any, key: str) -> dict[str, str]:
    found = client.get_object_tagging(Bucket="artifacts", Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in found}


def test_past_the_grace_period_exactly_what_only_the_two_oldest_releases_had_is_deleted(
    client: Any, packed: dict[int, Any]
) -> None:
    assert check_live(client, SETTINGS, everything=True) == []
    expected, before, files_before = unreferenced(client), live_keys(client), files(client)
    newer = {path for n in range(3, 8) for path in packed[n].record.files}
    oldest = {path for n in (1, 2) for path in packed[n].record.files}
    assert expected == sorted(oldest - newer) and len(expected) == 16  # v1's and v2's hashed names

    dry = prune_live(client, SETTINGS, now=later(), dry_run=True)
    assert live_keys(client) == before
    assert dry.keys == expected and dry.deleted == len(expected) and dry.dry_run
    assert dry.retired == ["staging/v1.zip", "staging/v2.zip"]
    assert all(RETIRED_TAG not in tags(client, f"staging/v{n}.zip") for n in VERSIONS)

    pruned = prune_live(client, SETTINGS, now=later())
    assert pruned.keys == expected and pruned.errors == [] and not pruned.capped
    assert pruned.retained == list(reversed(RETAINED)) and pruned.marked == ["v1", "v2"]
    assert live_keys(client) == before - set(expected) | {
        ".releases/v1/pruned.json",
        ".releases/v2/pruned.json",
    }
    assert pruned.requests_by_operation["DeleteObjects"] == 1
    assert check_live(client, SETTINGS, everything=True) == []
    for release in RETAINED:
        assert set(read_record(client, SETTINGS, release).files) <= live_keys(client), release
    assert {n for n in VERSIONS if tags(client, f"staging/v{n}.zip").get(RETIRED_TAG) == "true"} == {1, 2}

    again = prune_live(client, SETTINGS, now=later())
    assert again.deleted == 0 and again.marked == [] and files(client) == files_before - set(expected)


def test_the_cap_stops_a_run_and_the_next_run_goes_on(client: Any) -> None:
    expected = unreferenced(client)
    capped = Settings(live_bucket="live", artifacts_bucket="artifacts", prune_max_deletes=3)
    first = prune_live(client, capped, now=later())
    assert first.capped and first.keys == expected[:3]
    assert set(expected[3:]) <= live_keys(client)
    assert check_live(client, SETTINGS, everything=True) == []
    rest = [prune_live(client, capped, now=later()) for _ in range(len(expected) // 3 + 1)]
    assert [key for run in rest for key in run.keys] == expected[3:] and not rest[-1].capped


def test_within_the_grace_period_every_release_is_retained_and_nothing_goes(client: Any) -> None:
    before = live_keys(client)
    pruned = prune_live(client, SETTINGS)
    assert pruned.deleted == 0 and pruned.retained == [f"v{n}" for n in reversed(VERSIONS)]
    assert pruned.retired == [] and live_keys(client) == before


def test_a_staged_prune_request_runs_inside_the_function(client: Any) -> None:
    key = request_object_key(SETTINGS, "ops-1")
    body = json.dumps({"format": 1, "request": "ops-1", "dry_run": True}).encode()
    client.put_object(Bucket="artifacts", Key=key, Body=body)
    assert record_kind(key) == PRUNE_REQUEST
    before = live_keys(client)
    ran: list[Any] = []

    def prune(bucket: str, key: str, report: SyncReport) -> None:
        ran.append(handle_prune_request(client, SETTINGS, bucket, key, report))

    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "artifacts"}, "object": {"key": key}},
            }
        ]
    }
    [report] = handle_event(event, SETTINGS, {PRUNE_REQUEST: prune}, _Quiet(), _Quiet())["deploys"]
    assert report["kind"] == "prune" and report["outcome"] == "unchanged" and ran[0].dry_run
    assert live_keys(client) == before


class _Quiet:
    """Logger and metrics that record nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def cli(argv: list[str]) -> tuple[int, str]:
    import argparse
    import io

    from build_tool.commands.prune import add_arguments, run_prune
    from build_tool.env import Environment

    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO())
    parser = argparse.ArgumentParser()
    add_arguments(parser, env)
    code = run_prune(parser.parse_args(["--bucket", "artifacts", "--live-bucket", "live", *argv]), env)
    return code, out.getvalue()


def test_build_tool_prune_previews_without_deleting_and_otherwise_stages_a_request(
    client: Any, s3_env: dict[str, str]
) -> None:
    before = live_keys(client)
    code, out = cli(["--dry-run"])
    assert code == 0 and live_keys(client) == before
    assert out.splitlines() == prune_live(client, SETTINGS, dry_run=True).lines
    assert out.startswith("0 keys, 0 bytes; ") and "kept for releases v7, v6, v5, v4, v3, v2, v1" in out

    code, out = cli([])
    [uri] = out.split()
    key = uri.removeprefix("s3://artifacts/")
    assert code == 0 and key.startswith("staging/prune-") and record_kind(key) == PRUNE_REQUEST
    assert parse_prune_request(client.get_object(Bucket="artifacts", Key=key)["Body"].read()) is False
    assert live_keys(client) == before
