"""The release protocol's deploy side against SeaweedFS, one test per way issue 16 found it broken on
cdd3fbf: rejected artifacts' claims, a Lambda retry after a later cutover, the order kept only in
mutable metadata, rollback requests that disabled rollbacks, went to a release never live or reported
success without running, a `--wait` success that could not be pinned, and a delta's late refusal."""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from build_tool.build.delta import Base
from build_tool.build.pack import pack
from build_tool.build.recipe import Recipe
from build_tool.build.release import ReleaseInfo
from devtools.seaweed import S3Server
from staticsync.check import check_live
from staticsync.config import Settings
from staticsync.errors import OutOfTime
from staticsync.live.journal import claim_entry
from staticsync.live.state import HISTORY_NAME
from staticsync.meter import RequestMeter
from staticsync.model.contract import MANIFEST_NAME
from staticsync.model.names import hashed_name
from staticsync.model.order import JournalEntry
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key, request_key
from tests.rollbacks import run_request, stage_request
from tests.sites import build_version, collected, commit, created_at, site


@pytest.fixture
def live(s3_server: S3Server, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Settings]]:
    """A client and settings with a live prefix of this test's own."""
    yield s3_server.client(), Settings(live_bucket="live", live_prefix=f"protocol/{request.node.name}/")


def stage(client: Any, folder: Path, version: int, release: str | None = None, shallow: bool = False) -> str:
    packed = build_version(folder, version, release=release, shallow=shallow)
    return stage_artifact(client, packed, prefix=f"staging/{folder.name}/")


def deployed(client: Any, settings: Settings, key: str) -> SyncReport:
    report = deploy_key(client, settings, key)
    assert report.outcome == "deployed", report.detail
    return report


def live_release(client: Any, settings: Settings) -> str:
    head = client.head_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))
    return str(head["Metadata"]["release"])


def keys(client: Any, settings: Settings, under: str = "") -> set[str]:
    prefix = settings.live_prefix + under
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="live", Prefix=prefix)
    return {item["Key"][len(prefix) :] for page in pages for item in page.get("Contents", ())}


def journal(client: Any, settings: Settings) -> set[str]:
    return keys(client, settings, f"{settings.history_prefix}journal/")


def stage_delta(client: Any, folder: Path, base: int, version: int) -> str:
    """Stage v<version> as build_tool would build it as a delta of the live v<base>."""
    (folder / "base").mkdir(exist_ok=True)
    base_files = build_version(folder / "base", base).record.files
    with tempfile.TemporaryDirectory() as root:
        for path, data in collected(site(version)).items():
            (Path(root) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(root) / path).write_bytes(data)
        info = ReleaseInfo(f"v{version}", created_at(version), commit(version))
        recipe = Recipe("django.contrib.staticfiles.storage.ManifestStaticFilesStorage", tool="tests")
        packed = pack(
            Path(root), folder / f"v{version}-delta.zip", info, recipe, Base(f"v{base}", base_files)
        )
    assert packed.inherited
    return stage_artifact(client, packed, prefix=f"staging/{folder.name}/delta/")


def tags(client: Any, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket="artifacts", Key=key)["TagSet"]}


def dies_before_the_cutover() -> Callable[[], float]:
    """Time left as the deploy asks before uploading, before its claim, then before its cutover."""
    left = itertools.chain([900.0, 900.0], itertools.repeat(1.0))
    return lambda: next(left)


def dead_before_the_cutover(client: Any, settings: Settings, key: str) -> None:
    """Deploy `key` in an invocation that runs out of time right before its cutover."""
    with pytest.raises(OutOfTime):
        deploy_key(client, settings, key, remaining_seconds=dies_before_the_cutover())


def test_rejected_artifacts_leave_no_claim_and_no_record_and_never_block_a_later_deploy(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """On cdd3fbf each artifact rejected at its content-addressed PUT had already claimed a journal
    place beside it; after 16 (MAX_CLAIMS) every deploy and rollback raised LiveStateError."""
    client, settings = live
    deployed(client, settings, stage(client, tmp_path, 1))
    # Something else already holds other bytes under v2's hashed app.js: every v2 build is refused.
    taken = settings.live_key(hashed_name("js/app.js", site(2)["js/app.js"]))
    client.put_object(Bucket="live", Key=taken, Body=b"other", Metadata={"sha256": "0" * 64})
    before = journal(client, settings)

    for attempt in range(20):
        report = deploy_key(client, settings, stage(client, tmp_path, 2, release=f"v2-{attempt}"))
        assert (report.outcome, report.reason) == ("rejected", "immutable_name_conflict")

    assert journal(client, settings) == before
    assert not any(key.startswith("v2-") for key in keys(client, settings, settings.history_prefix))
    client.delete_object(Bucket="live", Key=taken)
    assert deployed(client, settings, stage(client, tmp_path, 3)).sequence == 2
    assert check_live(client, settings) == []


def test_many_dead_deploys_claims_are_stepped_over_in_one_deploy(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """No cap: 20 claims of deploys that died before their cutover cost the next deploy one LIST."""
    client, settings = live
    deployed(client, settings, stage(client, tmp_path, 1))
    for place in range(2, 22):
        entry = JournalEntry(
            place, f"dead{place}", "v1", 1, "deploy", None, "s3://artifacts/x.zip", ("robots.txt",)
        )
        claim_entry(client, settings, entry)

    meter = RequestMeter()
    meter.attach(client)
    report = deploy_key(client, settings, stage(client, tmp_path, 2), meter=meter)

    assert (report.outcome, report.sequence) == ("deployed", 22)
    assert report.requests_by_operation.get("ListObjectsV2") == 1
    assert settings.live_key("robots.txt") in report.keys_uploaded  # what the dead deploys may have written
    assert check_live(client, settings) == []


def test_a_lambda_retry_of_a_deploy_whose_claim_a_later_cutover_stepped_over_is_refused(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """On cdd3fbf the retry of v2 (shallow: no ancestry to prove it older) deployed over v3."""
    client, settings = live
    deployed(client, settings, stage(client, tmp_path, 1, shallow=True))
    v2 = stage(client, tmp_path, 2, shallow=True)
    dead_before_the_cutover(client, settings, v2)
    assert deployed(client, settings, stage(client, tmp_path, 3, shallow=True)).sequence == 3

    retry = deploy_key(client, settings, v2)

    assert (retry.outcome, retry.reason) == ("rejected", "superseded")
    assert live_release(client, settings) == "v3"
    assert check_live(client, settings) == []


def test_a_retry_with_nothing_cut_over_since_resumes_its_own_claim(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    client, settings = live
    deployed(client, settings, stage(client, tmp_path, 1, shallow=True))
    v2 = stage(client, tmp_path, 2, shallow=True)
    dead_before_the_cutover(client, settings, v2)

    assert deployed(client, settings, v2).sequence == 2
    assert check_live(client, settings) == []


def test_a_replayed_event_is_refused_though_the_live_manifest_lost_its_order_metadata(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """On cdd3fbf, with staticfiles.json re-put without its metadata (a sync tool, an operator), a
    replay of v1's event rolled the site back: the order lived only in that metadata."""
    client, settings = live
    v1 = stage(client, tmp_path, 1, shallow=True)
    deployed(client, settings, v1)
    deployed(client, settings, stage(client, tmp_path, 2, shallow=True))
    key = settings.live_key(MANIFEST_NAME)
    body = client.get_object(Bucket="live", Key=key)["Body"].read()
    client.put_object(Bucket="live", Key=key, Body=body, ContentType="application/json")

    replay = deploy_key(client, settings, v1)

    assert (replay.outcome, replay.reason) == ("rejected", "superseded")
    assert client.get_object(Bucket="live", Key=key)["Body"].read() == body


def test_a_wrong_rollback_request_does_not_disable_rollbacks_to_a_good_release(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """On cdd3fbf a request naming the wrong release for an artifact tagged that artifact
    rejected/rollback_mismatch, and every later correct request to it was `already_rejected`."""
    client, settings = live
    v1 = stage(client, tmp_path, 1)
    deployed(client, settings, v1)
    deployed(client, settings, stage(client, tmp_path, 2))

    wrong = run_request(client, settings, stage_request(client, "wrong", "v9", "v2", v1))
    right = run_request(client, settings, stage_request(client, "right", "v1", "v2", v1))

    assert (wrong.outcome, wrong.reason) == ("rejected", "rollback_mismatch")
    assert right.outcome == "deployed"
    assert tags(client, v1) == {}
    assert live_release(client, settings) == "v1"


def test_a_rollback_goes_only_to_a_release_that_was_live(live: tuple[Any, Settings], tmp_path: Path) -> None:
    """On cdd3fbf a request could deploy a release that was never live, even a provably older one."""
    client, settings = live
    deployed(client, settings, stage(client, tmp_path, 1))
    deployed(client, settings, stage(client, tmp_path, 3))
    never = stage(client, tmp_path, 2)

    report = run_request(client, settings, stage_request(client, "never", "v2", "v3", never))

    assert (report.outcome, report.reason) == ("rejected", "never_live")
    assert live_release(client, settings) == "v3"
    assert tags(client, never) == {}


def test_a_rollback_request_that_never_ran_is_not_reported_as_a_success(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """On cdd3fbf a retried request whose claim was made against another live place was reported
    `unchanged (replayed)`, so `build_tool rollback --wait` exited 0 though nothing ran."""
    client, settings = live
    v1 = stage(client, tmp_path, 1)
    deployed(client, settings, v1)
    v2 = stage(client, tmp_path, 2)
    deployed(client, settings, v2)
    request = stage_request(client, "late", "v1", "v2", v1)
    with pytest.raises(OutOfTime):  # the request's deploy dies before its cutover
        request_key(client, settings, request, remaining_seconds=dies_before_the_cutover())
    # Meanwhile v3 goes live, and another request takes the site back to v2.
    deployed(client, settings, stage(client, tmp_path, 3))
    assert run_request(client, settings, stage_request(client, "back", "v2", "v3", v2)).outcome == "deployed"

    retried = run_request(client, settings, request)

    assert (retried.outcome, retried.reason) == ("rejected", "request_not_run")
    assert live_release(client, settings) == "v2"


def test_a_rollback_request_larger_than_any_real_one_is_rejected_unread(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    client, settings = live
    key = "staging/rollback-huge.json"
    client.put_object(Bucket="artifacts", Key=key, Body=b" " * (1024 * 1024))

    meter = RequestMeter()
    meter.attach(client)
    report = request_key(client, settings, key, meter=meter)

    assert (report.outcome, report.reason) == ("rejected", "bad_request")
    assert "is 1048576 bytes" in (report.detail or "")  # refused by its size, not parsed
    assert report.requests_by_operation == {"GetObject": 1}


def test_every_release_wait_reports_as_live_can_be_pinned_even_when_nothing_changed(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """On cdd3fbf a commit with no static change ended `unchanged` and wrote no record, so an app
    pinned to its release id could not start."""
    client, settings = live
    deployed(client, settings, stage(client, tmp_path, 1))

    same = deploy_key(client, settings, stage(client, tmp_path, 1, release="v1-docs-only"))

    assert same.outcome == "unchanged"
    record = client.get_object(Bucket="live", Key=settings.history_key("v1-docs-only", HISTORY_NAME))
    manifest = client.get_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))["Body"].read()
    assert record["Body"].read().split(b"\n")[1] == manifest
    assert live_release(client, settings) == "v1"


def test_a_delta_that_inherits_a_name_a_dead_deploy_overwrote_is_refused_before_writing_anything(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """On cdd3fbf the refusal came after the delta had written its files and its history record."""
    client, settings = live
    deployed(client, settings, stage(client, tmp_path, 1))
    dead = JournalEntry(2, "dead", "v1", 1, "deploy", None, "s3://artifacts/x.zip", ("robots.txt",))
    claim_entry(client, settings, dead)
    before = keys(client, settings)
    report = deploy_key(client, settings, stage_delta(client, tmp_path, base=1, version=2))

    assert (report.outcome, report.reason) == ("rejected", "base_mismatch")
    assert "PutObject" not in report.requests_by_operation
    assert keys(client, settings) == before


def test_a_deploy_whose_claim_is_above_a_cutover_that_landed_late_is_newer_not_superseded(
    s3_server: S3Server, live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """The model's counterexample (models/README.md, M16): v2's cutover is sent, its invocation dies,
    and the PUT lands only after v3 claimed the place above; v3's retry must still go live."""
    client, settings = live
    deployed(client, settings, stage(client, tmp_path, 1, shallow=True))
    manifest = f"/live/{settings.live_key(MANIFEST_NAME)}"
    reached, go = threading.Event(), threading.Event()

    def hold(request: Any, **_: Any) -> None:
        if urlsplit(request.url).path.endswith(manifest):
            reached.set()
            assert go.wait(30)

    late = s3_server.client()
    late.meta.events.register("before-send.s3.PutObject", hold)
    with ThreadPoolExecutor(max_workers=1) as pool:
        v2 = pool.submit(deploy_key, late, settings, stage(client, tmp_path, 2, shallow=True))
        assert reached.wait(30)
        v3 = stage(client, tmp_path, 3, shallow=True)
        dead_before_the_cutover(client, settings, v3)  # v3 claims above v2's claim
        go.set()
        assert v2.result().outcome == "deployed"  # v2's cutover lands, under v3's claim

    retried = deploy_key(client, settings, v3)

    assert retried.outcome == "deployed", retried.detail
    assert live_release(client, settings) == "v3"
    assert check_live(client, settings) == []


def test_a_rollback_request_whose_target_is_live_already_is_not_a_success(
    live: tuple[Any, Settings], tmp_path: Path
) -> None:
    """The model's M6: v1 is live again by another request; this one (v1 replacing v2) did not run."""
    client, settings = live
    v1 = stage(client, tmp_path, 1)
    deployed(client, settings, v1)
    deployed(client, settings, stage(client, tmp_path, 2))
    assert run_request(client, settings, stage_request(client, "first", "v1", "v2", v1)).outcome == "deployed"

    second = run_request(client, settings, stage_request(client, "second", "v1", "v2", v1))

    assert (second.outcome, second.reason) == ("rejected", "request_not_run")
    assert live_release(client, settings) == "v1"
