"""The plan: which files a deploy uploads, decided from the new release and the live state alone."""

from __future__ import annotations

import hashlib
import json

import pytest

from staticsync.contract import ReleaseRecord
from staticsync.errors import ArtifactRejected
from staticsync.plan import LiveState, check_not_stale, make_plan, missing_from_live


def sha(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


def release(
    files: dict[str, str], manifest: dict[str, str], name: str = "r2", created: str = "2026-02-01T00:00:00Z"
) -> tuple[ReleaseRecord, bytes]:
    manifest_bytes = json.dumps({"paths": manifest, "version": "1.1"}).encode()
    record = ReleaseRecord(
        release=name,
        created_at=created,
        files={p: sha(c) for p, c in files.items()},
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
    )
    return record, manifest_bytes


OLD_FILES = {
    "app.css": "a{}",
    "app.aaaaaaaaaaaa.css": "a{}",
    "app.aaaaaaaaaaaa.css.gz": "gz-a",
    "app.css.gz": "gz-a",
    "robots.txt": "robots",
    "robots.bbbbbbbbbbbb.txt": "robots",
}
OLD_MANIFEST = {"app.css": "app.aaaaaaaaaaaa.css", "robots.txt": "robots.bbbbbbbbbbbb.txt"}


def live_state(files: dict[str, str] = OLD_FILES, manifest: dict[str, str] = OLD_MANIFEST) -> LiveState:
    record, manifest_bytes = release(files, manifest, name="r1", created="2026-01-01T00:00:00Z")
    return LiveState(manifest_bytes, '"etag-1"', "r1", record, manifest)


def test_first_deploy_uploads_everything() -> None:
    record, manifest = release(OLD_FILES, OLD_MANIFEST)
    plan = make_plan(record, manifest, LiveState())
    assert plan.uploads == tuple(sorted(OLD_FILES))
    assert plan.unchanged == ()
    assert plan.cutover and plan.live_etag is None


def test_redeploying_the_live_content_uploads_nothing_and_does_not_cut_over() -> None:
    record, manifest = release(OLD_FILES, OLD_MANIFEST)
    live = live_state()
    plan = make_plan(record, manifest, live)
    assert plan.uploads == ()
    assert plan.unchanged == tuple(sorted(OLD_FILES))
    assert not plan.cutover


def test_one_changed_file_uploads_exactly_the_files_whose_bytes_changed() -> None:
    files = {k: v for k, v in OLD_FILES.items() if not k.startswith("app.")}
    files |= {
        "app.css": "b{}",
        "app.cccccccccccc.css": "b{}",
        "app.cccccccccccc.css.gz": "gz-b",
        "app.css.gz": "gz-b",
        "app.aaaaaaaaaaaa.css": "a{}",  # whitenoise keeps old hashed files only if still collected
    }
    manifest = {**OLD_MANIFEST, "app.css": "app.cccccccccccc.css"}
    record, manifest_bytes = release(files, manifest)
    plan = make_plan(record, manifest_bytes, live_state())
    assert plan.uploads == ("app.cccccccccccc.css", "app.cccccccccccc.css.gz", "app.css", "app.css.gz")
    assert plan.cutover and plan.live_etag == '"etag-1"'


def test_same_name_with_new_bytes_is_uploaded_no_prefix_matching() -> None:
    files = {**OLD_FILES, "robots.txt": "changed"}
    record, manifest = release(files, OLD_MANIFEST)
    assert make_plan(record, manifest, live_state()).uploads == ("robots.txt",)


def test_files_the_manifest_does_not_list_are_compared_too() -> None:
    files = {**OLD_FILES, "extra/readme.txt": "new file"}
    record, manifest = release(files, OLD_MANIFEST)
    assert make_plan(record, manifest, live_state()).uploads == ("extra/readme.txt",)


def test_without_a_live_record_only_shared_hashed_names_count_as_live() -> None:
    record, manifest = release(OLD_FILES, OLD_MANIFEST)
    live = LiveState(b'{"paths": {}, "version": "1.1"}', '"e"', None, None, OLD_MANIFEST)
    plan = make_plan(record, manifest, live)
    assert plan.unchanged == ("app.aaaaaaaaaaaa.css", "robots.bbbbbbbbbbbb.txt")
    assert "app.aaaaaaaaaaaa.css.gz" in plan.uploads  # siblings are not content-addressed by name


def test_an_older_artifact_is_refused_as_stale() -> None:
    record, _ = release(OLD_FILES, OLD_MANIFEST, created="2025-12-31T23:59:59Z")
    with pytest.raises(ArtifactRejected) as caught:
        check_not_stale(record, live_state(), rollback=False)
    assert caught.value.code == "stale_artifact"


@pytest.mark.parametrize(
    ("created", "rollback"),
    [("2025-12-31T00:00:00Z", True), ("2026-01-01T00:00:00Z", False), ("2026-03-01T00:00:00Z", False)],
)
def test_rollbacks_and_newer_artifacts_are_not_stale(created: str, rollback: bool) -> None:
    record, _ = release(OLD_FILES, OLD_MANIFEST, created=created)
    check_not_stale(record, live_state(), rollback=rollback)


def test_every_manifest_target_is_live_after_a_plan() -> None:
    record, manifest = release(OLD_FILES, OLD_MANIFEST)
    plan = make_plan(record, manifest, live_state())
    assert missing_from_live(plan, OLD_MANIFEST) == []
    assert missing_from_live(plan, {"x.css": "x.dddddddddddd.css"}) == ["x.dddddddddddd.css"]
