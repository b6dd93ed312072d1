"""Retention against SeaweedFS, one test per way issue 16 found it broken: an app pinned to a release
retention pruned, a release dated by the claim rather than the cutover that replaced it, the
function's clock judged against S3's, a staged request read whole, and an in-flight deploy's files
deleted because an older release had them first. SeaweedFS's LastModified is the real clock, so a
test that needs days to pass gives the pass S3's clock as it will be (`now=`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devtools.seaweed import S3Server
from staticsync.config import Settings
from staticsync.errors import OutOfTime
from staticsync.live.journal import entry_key
from staticsync.model.contract import MANIFEST_NAME
from staticsync.model.pins import MAX_REQUEST_BYTES, pin_request_key
from staticsync.operations.prune import prune_live
from staticsync.operations.requests import handle_pin_request, handle_prune_request, request_object_key
from staticsync.report import SyncReport
from tests.artifacts import build, stage_artifact
from tests.deploys import deploy_key
from tests.inprocess import pinned_site
from tests.sites import build_version, collected, commit, created_at, site

VERSIONS = range(1, 8)  # v1..v7: with RETAIN_RELEASES=5, v1 and v2 fall out past the grace period
PAST_GRACE = timedelta(days=8)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    folder: Path = tmp_path_factory.mktemp("retention")
    versions = {version: build_version(folder, version) for version in VERSIONS}
    # v8 brings back v1's first stylesheet (a revert): its hashed name is v1's, stored with v1's date.
    tree = collected({**site(8), "css/page0.css": site(1)["css/page0.css"]})
    ancestry = tuple(commit(v) for v in range(7, 0, -1))
    return versions | {8: build(tree, folder / "v8.zip", "v8", created_at(8), commit(8), ancestry)}


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    """Live and staging prefixes of this test's own."""
    name = request.node.name.replace("[", "-").rstrip("]")
    return Settings(
        live_bucket="live",
        artifacts_bucket="artifacts",
        live_prefix=f"retention/{name}/",
        staging_prefix=f"staging/retention/{name}/",
    )


@pytest.fixture
def client(s3_server: S3Server) -> Any:
    return s3_server.client()


def deploy(client: Any, settings: Settings, packed: Any, **options: Any) -> SyncReport:
    return deploy_key(
        client, settings, stage_artifact(client, packed, prefix=settings.staging_prefix), **options
    )


@pytest.fixture
def seven(client: Any, settings: Settings, packed: dict[int, Any]) -> Any:
    """v1 to v7 deployed one after the other; v7 is live."""
    for version in VERSIONS:
        assert deploy(client, settings, packed[version]).outcome == "deployed"
    return client


def keys(client: Any, settings: Settings) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="live", Prefix=settings.live_prefix)
    return {item["Key"][len(settings.live_prefix) :] for page in pages for item in page.get("Contents", ())}


def only(packed: dict[int, Any], version: int, *others: int) -> set[str]:
    """The files of `version` that none of `others` has."""
    return set(packed[version].record.files) - {p for n in others for p in packed[n].record.files}


def later(days: timedelta = PAST_GRACE) -> datetime:
    return datetime.now(UTC) + days


def stage_json(client: Any, key: str, document: dict[str, Any], padding: int = 0) -> None:
    body = json.dumps(document).encode() + b" " * padding
    client.put_object(Bucket="artifacts", Key=key, Body=body)


def pin(client: Any, settings: Settings, release: str, days: int, request: str = "app-deploy") -> SyncReport:
    """Stage a pin request as an app deploy would, and run it as the function does."""
    key = pin_request_key(settings.staging_prefix, request)
    stage_json(
        client, key, {"format": 1, "request": request, "app": "shop", "release": release, "days": days}
    )
    report = SyncReport(f"s3://artifacts/{key}")
    handle_pin_request(client, settings, "artifacts", key, report)
    return report


def test_a_release_an_unexpired_pin_names_keeps_every_file_past_retention(
    seven: Any, settings: Settings, packed: dict[int, Any]
) -> None:
    pinned = pin(seven, settings, "v1", days=30)
    assert (pinned.outcome, pinned.reason) == ("unchanged", None) and "until" in (pinned.detail or "")

    pruned = prune_live(seven, settings, now=later())

    assert set(packed[1].record.files) <= keys(seven, settings)
    assert "v1" in pruned.retained and pruned.marked == ["v2"]
    assert only(packed, 2, 1, 3, 4, 5, 6, 7) and not only(packed, 2, 1, 3, 4, 5, 6, 7) & keys(seven, settings)


def test_an_expired_pin_keeps_nothing(seven: Any, settings: Settings, packed: dict[int, Any]) -> None:
    assert pin(seven, settings, "v1", days=1).outcome == "unchanged"

    pruned = prune_live(seven, settings, now=later())

    assert pruned.marked == ["v1", "v2"] and not only(packed, 1, 3, 4, 5, 6, 7) & keys(seven, settings)


def test_a_pin_request_for_a_release_never_deployed_here_is_refused(client: Any, settings: Settings) -> None:
    refused = pin(client, settings, "v1", days=30)
    assert (refused.outcome, refused.reason) == ("rejected", "not_retained")
    assert "has no record" in (refused.detail or "") and not keys(client, settings)


def test_an_app_pinned_to_a_release_retention_pruned_refuses_to_start_and_cannot_pin_it_again(
    seven: Any, settings: Settings, s3_env: dict[str, str]
) -> None:
    assert pinned_site("v1", settings.live_prefix, "css/page0.css", s3_env).startswith("/static/css/page0.")

    prune_live(seven, settings, now=later())

    started = pinned_site("v1", settings.live_prefix, "css/page0.css", s3_env)
    assert started.startswith("ImproperlyConfigured: release v1 was pruned by retention at ")
    assert "Deploy the app at a retained release" in started
    assert pinned_site("v3", settings.live_prefix, "css/page0.css", s3_env).startswith("/static/css/page0.")
    refused = pin(seven, settings, "v1", days=30)
    assert (refused.outcome, refused.reason) == ("rejected", "not_retained")
    assert "pruned by retention" in (refused.detail or "")


class FailingDeletes:
    """A client whose DeleteObjects fails, as if the function died there."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        if name == "delete_objects":
            raise ConnectionError("the function died while deleting")
        return getattr(self.client, name)


def test_a_pass_marks_every_release_it_prunes_before_it_deletes_a_file(
    seven: Any, settings: Settings, packed: dict[int, Any]
) -> None:
    before = keys(seven, settings)
    with pytest.raises(ConnectionError):
        prune_live(FailingDeletes(seven), settings, now=later())
    marked = {f"{settings.history_prefix}v{n}/pruned.json" for n in (1, 2)}
    assert keys(seven, settings) == before | marked


def cutover_delayed(client: Any, settings: Settings, packed: Any) -> None:
    """Deploy `packed` up to its journal claim, then (after S3's clock has moved on) resume it."""
    with pytest.raises(OutOfTime):
        deploy(client, settings, packed, remaining_seconds=iter([900.0, 900.0, 5.0]).__next__)
    time.sleep(2.5)
    assert deploy(client, settings, packed).outcome == "deployed"


def test_a_release_replaced_moments_ago_keeps_its_files_though_its_successor_claimed_long_before(
    client: Any, settings: Settings, packed: dict[int, Any]
) -> None:
    one = replace(settings, retain_releases=1)
    assert deploy(client, one, packed[1]).outcome == "deployed"
    cutover_delayed(client, one, packed[2])
    claimed = client.head_object(Bucket="live", Key=entry_key(one, 2))["LastModified"]
    cut_over = client.head_object(Bucket="live", Key=one.live_key(MANIFEST_NAME))["LastModified"]
    assert cut_over - claimed >= timedelta(seconds=2)

    # S3's clock a second short of the grace period after the cutover: v1 was live until then.
    pruned = prune_live(client, one, now=cut_over + timedelta(days=7) - timedelta(seconds=1))

    assert set(packed[1].record.files) <= keys(client, one)
    assert pruned.retained == ["v2", "v1"] and pruned.deleted == 0


class FastClock(datetime):
    """This machine's clock, thirty days ahead of S3's."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + timedelta(days=30)


def test_a_function_clock_days_ahead_of_s3s_deletes_nothing_of_releases_live_moments_ago(
    seven: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = keys(seven, settings)
    for module in ("staticsync.operations.prune", "staticsync.live.pins", "staticsync.model.retention"):
        monkeypatch.setattr(f"{module}.datetime", FastClock, raising=False)

    pruned = prune_live(seven, settings)

    assert pruned.deleted == 0 and pruned.marked == [] and keys(seven, settings) == before
    assert pruned.clock is not None and pruned.clock < FastClock.now(UTC).strftime("%Y-%m-%d")


@pytest.mark.parametrize("kind", ["prune", "pin"])
def test_a_staged_request_larger_than_any_real_one_is_rejected_without_being_read(
    seven: Any, settings: Settings, kind: str
) -> None:
    before = keys(seven, settings)
    if kind == "prune":
        key, handle = request_object_key(settings, "big"), handle_prune_request
        document: dict[str, Any] = {"format": 1, "request": "big", "dry_run": False}
    else:
        key, handle = pin_request_key(settings.staging_prefix, "big"), handle_pin_request
        document = {"format": 1, "request": "big", "app": "shop", "release": "v1", "days": 30}
    stage_json(seven, key, document, padding=4 * MAX_REQUEST_BYTES)  # valid JSON, only too large
    report = SyncReport(f"s3://artifacts/{key}")

    handle(seven, settings, "artifacts", key, report)

    assert (report.outcome, report.reason) == ("rejected", "request_too_large")
    assert keys(seven, settings) == before


def test_a_deploy_claimed_above_the_live_place_keeps_the_files_an_older_release_had_first(
    seven: Any, settings: Settings, packed: dict[int, Any]
) -> None:
    with pytest.raises(OutOfTime):  # v8 uploaded, kept its history and claimed place 8, then stopped
        deploy(seven, settings, packed[8], remaining_seconds=iter([900.0, 900.0, 5.0]).__next__)
    shared = only(packed, 1, 2, 3, 4, 5, 6, 7) & set(packed[8].record.files)
    assert shared and shared <= keys(seven, settings)

    pruned = prune_live(seven, settings, now=later())

    assert shared <= keys(seven, settings)
    assert "v8" in pruned.retained and pruned.deleted > 0
    assert deploy(seven, settings, packed[8]).outcome == "deployed"


@pytest.fixture(autouse=True)
def _quiet_events(s3_server: S3Server) -> Iterator[None]:
    """Forget the webhook events the staged objects raise (no handler runs on them here)."""
    yield
    s3_server.events.drain()
