"""Issue 16: the verify-and-repair pass holds the release protocol while deploys run beside it, and
trusts nothing CI can write over what the live bucket itself records (against SeaweedFS).

1. A deploy claims its journal place before it overwrites an unhashed name and cuts over after: a
   repair in between leaves every name a claim lists to that deploy (`deploy_in_flight`).
2. A lost record comes back only from the artifact whose release.json the cutover recorded
   (`release-sha256` on the live staticfiles.json), never from whatever is staged under its key.
3. A live delta is verified, and its inherited files restored, from the full build of the same
   release staged under its key; its lost record is not (only the exact artifact restores that).
"""

from __future__ import annotations

import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from build_tool.build.pack import Packed
from devtools.seaweed import S3Server
from staticsync.check import Exit, main
from staticsync.config import Settings
from staticsync.live.state import HISTORY_NAME
from staticsync.model.contract import FILES_DIR, MANIFEST_NAME, META_RELEASE_SHA256, ReleaseView
from staticsync.operations.repair import Depth, RepairRefused, verify_live
from tests.artifacts import build, stage_artifact
from tests.deltas import build_delta
from tests.deploys import deploy_key
from tests.faults import fault_response
from tests.sites import build_version, collected, site

SETTINGS = Settings(live_bucket="live", artifacts_bucket="artifacts")
STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
NO_RETRIES = {"total_max_attempts": 1}
WAIT = 60.0


@dataclass
class Cutover:
    """Stops a deploy's cutover (its PUT of the live staticfiles.json): holds it until `go` is set,
    or, with `fail`, fails it as a crash there would. Either way the deploy has claimed its journal
    place and written its unhashed names, and has not cut over."""

    fail: bool = False
    reached: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send.s3.PutObject", self.before_send)
        return client

    def before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        if not urlsplit(request.url).path.endswith(f"/live/{SETTINGS.live_key(MANIFEST_NAME)}"):
            return None
        self.reached.set()
        if self.fail:
            return fault_response("500", request)
        assert self.go.wait(WAIT), "the test never let the cutover go"
        return None


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def served(client: Any, path: str) -> bytes:
    return bytes(client.get_object(Bucket="live", Key=SETTINGS.live_key(path))["Body"].read())


def member(packed: Packed, path: str) -> bytes:
    return zipfile.ZipFile(packed.path).read(FILES_DIR + path)


def view_of(packed: Packed) -> ReleaseView:
    return ReleaseView.of(packed.record, zipfile.ZipFile(packed.path).read(MANIFEST_NAME))


def unhashed(packed: Packed) -> list[str]:
    view = view_of(packed)
    return sorted(path for path in packed.record.files if not view.content_addressed(path))


def hashed_css(packed: Packed) -> str:
    return view_of(packed).manifest["css/base.css"]


def history_key(release: str) -> str:
    return SETTINGS.history_key(release, HISTORY_NAME)


def no_record(client: Any, release: str) -> bool:
    return "Contents" not in client.list_objects_v2(Bucket="live", Prefix=history_key(release))


def v1_live(client: Any, where: Path) -> Packed:
    packed = build_version(folder(where / "v1"), 1)
    report = deploy_key(client, SETTINGS, stage_artifact(client, packed))
    assert report.outcome == "deployed", report.detail
    return packed


def deploy_held_at_cutover(s3_server: S3Server, key: str, cutover: Cutover) -> Any:
    """Start deploying `key` on its own client; return the future once it waits at its cutover."""
    client = cutover.attach(s3_server.client(retries=NO_RETRIES))
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deploy")
    future = pool.submit(deploy_key, client, SETTINGS, key)
    pool.shutdown(wait=False)
    assert cutover.reached.wait(WAIT), "the deploy never reached its cutover"
    return future


# 1. Repair mixes releases.


def test_a_repair_while_a_deploy_waits_at_its_cutover_leaves_its_unhashed_files_and_v2_serves_its_own(
    s3: Any, s3_server: S3Server, empty_buckets: None, tmp_path: Path
) -> None:
    v1 = v1_live(s3, tmp_path)
    v2 = build_version(folder(tmp_path / "v2"), 2)
    s3.delete_object(Bucket="live", Key=hashed_css(v1))  # broken meanwhile: the repair restores it
    cutover = Cutover()
    deploying = deploy_held_at_cutover(s3_server, stage_artifact(s3, v2), cutover)
    try:
        repaired = verify_live(s3, SETTINGS, repair=True)
    finally:
        cutover.go.set()
    assert deploying.result(timeout=WAIT).outcome == "deployed"

    assert [path for path in unhashed(v2) if served(s3, path) != member(v2, path)] == []  # none of v1's
    changed = [p for p in unhashed(v2) if v2.record.files[p] != v1.record.files.get(p)]
    assert changed and {p.key for p in repaired.problems if p.code == "deploy_in_flight"} == set(changed)
    assert repaired.restored == [hashed_css(v1)]  # and everything else is restored
    assert verify_live(s3, SETTINGS, depth=Depth.DEEP).problems == []


@dataclass
class DeployDuringList:
    """Runs a whole deploy, up to its held cutover, just before the repair's LIST of the live prefix:
    its claim and its unhashed writes land after anything the repair read before that LIST."""

    s3_server: S3Server
    key: str
    cutover: Cutover = field(default_factory=Cutover)
    deploying: Any = None

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send.s3.ListObjectsV2", self.before_send)
        return client

    def before_send(self, request: AWSPreparedRequest, **_: Any) -> None:
        if self.deploying is None and "journal" not in request.url:
            self.deploying = deploy_held_at_cutover(self.s3_server, self.key, self.cutover)


def test_a_deploy_that_claims_just_before_the_repairs_list_still_has_its_names_left_to_it(
    s3: Any, s3_server: S3Server, empty_buckets: None, tmp_path: Path
) -> None:
    v1_live(s3, tmp_path)
    v2 = build_version(folder(tmp_path / "v2"), 2)
    race = DeployDuringList(s3_server, stage_artifact(s3, v2))
    try:
        repaired = verify_live(race.attach(s3_server.client()), SETTINGS, repair=True)
    finally:
        race.cutover.go.set()
    assert race.deploying.result(timeout=WAIT).outcome == "deployed"

    assert [path for path in unhashed(v2) if served(s3, path) != member(v2, path)] == []
    assert repaired.restored == [] and {p.code for p in repaired.problems} == {"deploy_in_flight"}


def test_the_names_a_dead_deploys_claim_lists_are_left_to_the_next_deploy_which_rewrites_them(
    s3: Any, s3_server: S3Server, empty_buckets: None, tmp_path: Path
) -> None:
    v1 = v1_live(s3, tmp_path)
    v2 = build_version(folder(tmp_path / "v2"), 2)
    key = stage_artifact(s3, v2)
    crashing = Cutover(fail=True).attach(s3_server.client(retries=NO_RETRIES))
    with pytest.raises(Exception, match="InternalError"):
        deploy_key(crashing, SETTINGS, key)

    repaired = verify_live(s3, SETTINGS, repair=True)

    changed = [p for p in unhashed(v2) if v2.record.files[p] != v1.record.files.get(p)]
    assert [path for path in changed if served(s3, path) != member(v2, path)] == []  # the repair's: none
    assert {p.key for p in repaired.remaining} == set(changed) and repaired.restored == []
    assert {p.code for p in repaired.problems} == {"deploy_in_flight"}
    assert deploy_key(s3, SETTINGS, key).outcome == "deployed"
    assert verify_live(s3, SETTINGS, depth=Depth.DEEP).problems == []


# 2. Repair trusts what CI can write.


def forged(where: Path, packed: Packed) -> Packed:
    """Another build of `packed`'s release (version 1) with the same staticfiles.json: only the
    unhashed robots.txt differs, which no manifest names."""
    tree = collected(site(1))
    tree["robots.txt"] = b"User-agent: *\nDisallow: /\n"
    out = folder(where / "forged") / f"{packed.record.release}.zip"
    record = packed.record
    return build(tree, out, record.release, record.created_at, record.source_commit, record.ancestry)


def test_a_lost_record_is_not_restored_from_another_build_with_the_same_manifest_restaged_under_its_key(
    s3: Any, empty_buckets: None, tmp_path: Path
) -> None:
    v1 = v1_live(s3, tmp_path)
    robots = served(s3, "robots.txt")
    s3.delete_object(Bucket="live", Key=history_key("v1"))
    other = forged(tmp_path, v1)
    assert other.record.manifest_sha256 == v1.record.manifest_sha256 and other.record != v1.record
    stage_artifact(s3, other)

    with pytest.raises(RepairRefused, match="release-sha256"):
        verify_live(s3, SETTINGS, repair=True)

    assert no_record(s3, "v1") and served(s3, "robots.txt") == robots


def test_a_lost_record_under_a_manifest_without_release_sha256_is_refused_and_says_how_to_recover(
    s3: Any, empty_buckets: None, tmp_path: Path
) -> None:
    v1_live(s3, tmp_path)
    key = SETTINGS.live_key(MANIFEST_NAME)
    head = s3.head_object(Bucket="live", Key=key)
    metadata = {k: v for k, v in head["Metadata"].items() if k != META_RELEASE_SHA256}
    s3.copy_object(
        Bucket="live",
        Key=key,
        CopySource={"Bucket": "live", "Key": key},
        MetadataDirective="REPLACE",
        Metadata=metadata,
        ContentType=head["ContentType"],
        CacheControl=head["CacheControl"],
    )
    s3.delete_object(Bucket="live", Key=history_key("v1"))

    with pytest.raises(RepairRefused, match="no release-sha256 .* put .* back by hand .* deploy again"):
        verify_live(s3, SETTINGS, repair=True)

    assert no_record(s3, "v1")


# 3. A live delta cannot be verified once its full build is staged.


def delta_live_then_full_staged(client: Any, where: Path) -> tuple[Packed, Packed]:
    """v2 deployed as a delta of v1, then the full build of v2 staged under its key (a rollback
    target, as docs/artifact.md advises): (the delta, the full build)."""
    v1 = v1_live(client, where)
    delta = build_delta(where / "delta", 2, v1)
    assert delta.record.base == "v1"
    assert deploy_key(client, SETTINGS, stage_artifact(client, delta)).outcome == "deployed"
    full = build_version(folder(where / "full"), 2)
    assert stage_artifact(client, full) == "staging/v2.zip"
    return delta, full


def test_a_live_delta_checks_whole_and_its_inherited_files_are_restored_from_its_full_build(
    s3: Any, empty_buckets: None, tmp_path: Path
) -> None:
    delta, full = delta_live_then_full_staged(s3, tmp_path)
    argv = ["--bucket", "live", "--artifacts-bucket", "artifacts"]
    assert main([*argv, "--list-only"], client=s3) == Exit.OK
    inherited = ["robots.txt", hashed_css(full)]
    assert not {FILES_DIR + path for path in inherited} & set(zipfile.ZipFile(delta.path).namelist())
    for path in inherited:
        s3.delete_object(Bucket="live", Key=path)

    repaired = verify_live(s3, SETTINGS, repair=True)

    assert repaired.restored == sorted(inherited) and repaired.remaining == []
    assert all(served(s3, path) == member(full, path) for path in inherited)
    assert main([*argv, "--deep"], client=s3) == Exit.OK


def test_a_lost_record_of_a_live_delta_is_not_restored_from_its_full_build(
    s3: Any, empty_buckets: None, tmp_path: Path
) -> None:
    delta_live_then_full_staged(s3, tmp_path)
    s3.delete_object(Bucket="live", Key=history_key("v2"))

    with pytest.raises(RepairRefused, match="not the one release v2 was cut over with"):
        verify_live(s3, SETTINGS, repair=True)

    assert no_record(s3, "v2")
