"""Racing deploys and repeated deliveries, against SeaweedFS (its conditional writes are atomic under
concurrent writers, as S3's are): exactly one release ends live and whole; the others are refused,
and, retried as Lambda retries them, re-plan or are refused as stale; no release record is lost."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devtools.seaweed import S3Server
from staticsync.check import check_live
from staticsync.config import Settings
from staticsync.errors import LiveChanged
from staticsync.model.contract import MANIFEST_NAME
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key
from tests.rollbacks import run_request, stage_request
from tests.sites import build_version, stage_version

RACERS = [2, 3, 4, 5]
CLIENTS = threading.Lock()


@pytest.fixture(scope="module")
def versions(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """Versions 1 to 6 of a small site, each built a minute after the last, staged; keys by version."""
    folder = tmp_path_factory.mktemp("versions")
    client = s3_server.client()
    return {version: stage_version(client, folder, version) for version in range(1, 7)}


def new_client(s3_server: S3Server) -> Any:
    with CLIENTS:  # boto3's default session is not safe to share between threads
        return s3_server.client()


def attempt(client: Any, settings: Settings, key: str) -> str:
    """One handler invocation: its outcome, or the name of what it raised (Lambda then retries)."""
    report = SyncReport(key)
    try:
        deploy_key(client, settings, key, report)
    except LiveChanged:
        return "LiveChanged"
    return report.outcome if report.outcome != "rejected" else f"rejected:{report.reason}"


def at_once(s3_server: S3Server, settings: Settings, keys: list[str], *, cutover_together: bool) -> list[str]:
    """Deploy `keys` in parallel; with `cutover_together`, all of them reach the cutover first."""
    clients = [new_client(s3_server) for _ in keys]
    if cutover_together:
        barrier = threading.Barrier(len(keys))

        def wait_for_the_others(params: dict[str, Any], **_: Any) -> None:
            if params.get("Key") == settings.live_key(MANIFEST_NAME):
                barrier.wait(timeout=30)

        for client in clients:
            client.meta.events.register("provide-client-params.s3.PutObject", wait_for_the_others)
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        return list(
            pool.map(lambda pair: attempt(pair[0], settings, pair[1]), zip(clients, keys, strict=True))
        )


def retried_until_settled(
    s3_server: S3Server, settings: Settings, outcomes: dict[str, str]
) -> dict[str, str]:
    """Retry every invocation that raised, all at once, until none raises (Lambda retries twice; a
    race of n needs at most n rounds)."""
    for _ in range(len(outcomes)):
        pending = [key for key, outcome in outcomes.items() if outcome == "LiveChanged"]
        if not pending:
            break
        outcomes |= dict(
            zip(pending, at_once(s3_server, settings, pending, cutover_together=False), strict=True)
        )
    return outcomes


def live_release(client: Any, settings: Settings) -> str:
    head = client.head_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))
    return str(head["Metadata"]["release"])


def kept_releases(client: Any, settings: Settings) -> set[str]:
    """Releases with a history record under HISTORY_PREFIX."""
    prefix = settings.live_prefix + settings.history_prefix
    listed = client.list_objects_v2(Bucket="live", Prefix=prefix).get("Contents", [])
    return {item["Key"][len(prefix) :].split("/")[0] for item in listed}


def prepared(
    s3_server: S3Server, versions: dict[int, str], prefix: str, racers: int
) -> tuple[Settings, list[str]]:
    """Version 1 live under `prefix`; the keys of versions 2 to racers + 1, in a random order."""
    settings = Settings(live_bucket="live", live_prefix=prefix)
    assert attempt(new_client(s3_server), settings, versions[1]) == "deployed"
    keys = [versions[v] for v in range(2, racers + 2)]
    random.Random(racers).shuffle(keys)
    return settings, keys


@pytest.mark.parametrize("racers", RACERS)
def test_deploys_that_reach_the_cutover_together_leave_one_release_live_and_refuse_the_rest(
    s3_server: S3Server, versions: dict[int, str], racers: int
) -> None:
    settings, keys = prepared(s3_server, versions, f"race/together-{racers}/", racers)

    first_round = at_once(s3_server, settings, keys, cutover_together=True)

    assert sorted(first_round) == ["LiveChanged"] * (racers - 1) + ["deployed"]
    client = new_client(s3_server)
    [winner] = [key for key, outcome in zip(keys, first_round, strict=True) if outcome == "deployed"]
    assert live_release(client, settings) == Path(winner).stem
    assert check_live(client, settings) == []


@pytest.mark.parametrize("cutover_together", [True, False], ids=["cutover together", "free running"])
@pytest.mark.parametrize("racers", RACERS)
def test_racing_deploys_retried_as_lambda_does_end_with_the_newest_release_live_and_whole(
    s3_server: S3Server, versions: dict[int, str], racers: int, cutover_together: bool
) -> None:
    settings, keys = prepared(s3_server, versions, f"race/retried-{racers}-{cutover_together}/", racers)
    first_round = at_once(s3_server, settings, keys, cutover_together=cutover_together)

    outcomes = retried_until_settled(s3_server, settings, dict(zip(keys, first_round, strict=True)))

    client = new_client(s3_server)
    newest = max(keys)  # staging/v<n>.zip: a later version was built later
    assert live_release(client, settings) == Path(newest).stem
    assert outcomes[newest] == "deployed"
    assert set(outcomes.values()) <= {"deployed", "rejected:stale_artifact"}
    assert check_live(client, settings) == []
    deployed = {Path(key).stem for key, outcome in outcomes.items() if outcome == "deployed"}
    assert deployed | {"v1"} <= kept_releases(client, settings)


def test_the_same_artifact_delivered_again_uploads_nothing_and_leaves_the_live_release(
    s3_server: S3Server, versions: dict[int, str]
) -> None:
    settings = Settings(live_bucket="live", live_prefix="duplicate/sequential/")
    client = new_client(s3_server)
    deploy_key(client, settings, versions[2], SyncReport("first"))
    before = client.head_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))["ETag"]

    again = deploy_key(client, settings, versions[2], SyncReport("again"))

    assert (again.outcome, again.files_uploaded) == ("unchanged", 0)
    assert "PutObject" not in again.requests_by_operation
    assert client.head_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))["ETag"] == before


def test_two_deliveries_of_one_artifact_at_once_make_it_live_once_and_neither_fails(
    s3_server: S3Server, versions: dict[int, str]
) -> None:
    settings = Settings(live_bucket="live", live_prefix="duplicate/concurrent/")

    outcomes = at_once(s3_server, settings, [versions[3], versions[3]], cutover_together=True)

    assert sorted(outcomes) == ["deployed", "unchanged"]
    client = new_client(s3_server)
    assert live_release(client, settings) == "v3"
    assert check_live(client, settings) == []


def test_a_late_delivery_of_an_artifact_that_was_live_before_is_refused_and_the_live_release_stays(
    s3_server: S3Server, versions: dict[int, str]
) -> None:
    settings = Settings(live_bucket="live", live_prefix="duplicate/late/")
    client = new_client(s3_server)
    for version in (4, 5):
        deploy_key(client, settings, versions[version], SyncReport("v"))

    late = deploy_key(client, settings, versions[4], SyncReport("late"))

    assert (late.outcome, late.reason) == ("rejected", "rollback_required")
    assert "was live before v5" in (late.detail or "")
    assert "PutObject" not in late.requests_by_operation
    assert live_release(client, settings) == "v5"
    assert check_live(client, settings) == []


def test_order_comes_from_history_not_from_the_build_clock(
    s3_server: S3Server, versions: dict[int, str], tmp_path: Path
) -> None:
    """v5, built before v6 and never deployed, is refused when its commit is in the ancestry of the
    live v6; when v6 came from a shallow clone (no ancestry) nothing proves v5 older, so it goes
    forward. The build's clock decides nothing either way; a replay of v6 after that is a rollback."""
    client = new_client(s3_server)
    full = Settings(live_bucket="live", live_prefix="duplicate/clock-full/")
    deploy_key(client, full, versions[6], SyncReport("v6"))
    shallow = Settings(live_bucket="live", live_prefix="duplicate/clock-shallow/")
    v6s = stage_artifact(client, build_version(tmp_path, 6, release="v6s", shallow=True), prefix="staging/s/")
    deploy_key(client, shallow, v6s, SyncReport("v6s"))

    ancestor = deploy_key(client, full, versions[5], SyncReport("v5"))
    unordered = deploy_key(client, shallow, versions[5], SyncReport("v5"))
    replayed = deploy_key(client, shallow, v6s, SyncReport("v6s"))

    assert (ancestor.outcome, ancestor.reason) == ("rejected", "stale_artifact")
    assert live_release(client, full) == "v6"
    assert unordered.outcome == "deployed"
    assert (replayed.outcome, replayed.reason) == ("rejected", "rollback_required")
    assert live_release(client, shallow) == "v5"


def test_a_rollback_request_runs_once_and_its_replay_after_a_newer_release_is_a_no_op(
    s3_server: S3Server, versions: dict[int, str]
) -> None:
    settings = Settings(live_bucket="live", live_prefix="duplicate/rollback-once/")
    client = new_client(s3_server)
    for version in (2, 3):
        deploy_key(client, settings, versions[version], SyncReport("v"))
    request = stage_request(client, "back-to-v2", "v2", "v3", versions[2], prefix="staging/races/")

    first = run_request(client, settings, request)
    replay_at_once = run_request(client, settings, request)
    deploy_key(client, settings, versions[4], SyncReport("v4"))
    replay_later = run_request(client, settings, request)

    assert first.outcome == "deployed" and first.live_release_before == "v3"
    assert (replay_at_once.outcome, replay_at_once.reason) == ("unchanged", "replayed")
    assert (replay_later.outcome, replay_later.reason) == ("rejected", "rollback_conflict")
    assert live_release(client, settings) == "v4"
    assert check_live(client, settings, everything=True) == []


def test_a_rollback_request_replayed_after_the_site_came_back_to_the_release_it_replaced_is_a_no_op(
    s3_server: S3Server, versions: dict[int, str]
) -> None:
    """v3 -> (request A) v2 -> (request B) v3: A names v3 as replaced again, yet it already ran."""
    settings = Settings(live_bucket="live", live_prefix="duplicate/rollback-cas/")
    client = new_client(s3_server)
    for version in (2, 3):
        deploy_key(client, settings, versions[version], SyncReport("v"))
    a = stage_request(client, "a", "v2", "v3", versions[2], prefix="staging/races/cas-")
    b = stage_request(client, "b", "v3", "v2", versions[3], prefix="staging/races/cas-")

    outcomes = [run_request(client, settings, key).outcome for key in (a, b)]
    replay = run_request(client, settings, a)

    assert outcomes == ["deployed", "deployed"]
    assert (replay.outcome, replay.reason) == ("unchanged", "replayed")
    assert live_release(client, settings) == "v3"


def test_an_empty_artifact_is_rejected_not_raised(s3_server: S3Server) -> None:
    """S3 answers a ranged GET of an empty object with 416, which is no reason to retry."""
    client = new_client(s3_server)
    client.put_object(Bucket="artifacts", Key="staging/races/empty.zip", Body=b"")
    settings = Settings(live_bucket="live", live_prefix="duplicate/empty/")

    report = deploy_key(client, settings, "staging/races/empty.zip", SyncReport("e"))

    assert (report.outcome, report.reason) == ("rejected", "empty_artifact")
    tags = client.get_object_tagging(Bucket="artifacts", Key="staging/races/empty.zip")["TagSet"]
    assert {"Key": "staticsync", "Value": "rejected"} in tags
