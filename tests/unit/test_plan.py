"""The plan: which files a deploy uploads, decided from the new release and the live state alone."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from staticsync.errors import ArtifactRejected
from staticsync.model.contract import ReleaseRecord, ReleaseView
from staticsync.model.order import JournalEntry, Position, digest
from staticsync.model.plan import Intent, LiveState, Plan, make_plan


def sha(data: str) -> str:
    return hashlib.sha256(data.encode()).hexdigest()


NOW = datetime(2026, 6, 1, tzinfo=UTC)
DEPLOY = Intent("s3://artifacts/staging/r2.zip", NOW)


def release(
    files: dict[str, str],
    manifest: dict[str, str],
    name: str = "r2",
    created: str = "2026-02-01T00:00:00Z",
    commit: str | None = None,
    ancestry: tuple[str, ...] = (),
) -> ReleaseView:
    manifest_bytes = json.dumps({"paths": manifest, "version": "1.1"}).encode()
    record = ReleaseRecord(
        release=name,
        created_at=created,
        files={p: sha(c) for p, c in files.items()},
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        source_commit=commit,
        ancestry=ancestry,
    )
    return ReleaseView.of(record, manifest_bytes)


def plan_of(view: ReleaseView, live: LiveState, intent: Intent = DEPLOY) -> Plan:
    return make_plan(view, live, intent, owned=(".releases/",))


def rejection(view: ReleaseView, live: LiveState, intent: Intent = DEPLOY) -> str:
    with pytest.raises(ArtifactRejected) as caught:
        plan_of(view, live, intent)
    return caught.value.code


OLD_FILES = {
    "app.css": "a{}",
    "app.aaaaaaaaaaaa.css": "a{}",
    "app.aaaaaaaaaaaa.css.gz": "gz-a",
    "app.css.gz": "gz-a",
    "robots.txt": "robots",
    "robots.bbbbbbbbbbbb.txt": "robots",
}
OLD_MANIFEST = {"app.css": "app.aaaaaaaaaaaa.css", "robots.txt": "robots.bbbbbbbbbbbb.txt"}


LIVE_POSITION = Position(sequence=7, recent=(digest("r0"),))


def live_state(
    files: dict[str, str] = OLD_FILES,
    manifest: dict[str, str] = OLD_MANIFEST,
    position: Position = LIVE_POSITION,
    ancestry: tuple[str, ...] = ("b" * 40, "c" * 40),
) -> LiveState:
    view = release(files, manifest, "r1", "2026-01-01T00:00:00Z", "a" * 40, ancestry)
    return LiveState(view.manifest_bytes, '"etag-1"', "r1", view.record, manifest, position)


CHANGED_CSS = {
    **{k: v for k, v in OLD_FILES.items() if not k.startswith("app.")},
    "app.css": "b{}",
    "app.cccccccccccc.css": "b{}",
    "app.cccccccccccc.css.gz": "gz-b",
    "app.css.gz": "gz-b",
    "app.aaaaaaaaaaaa.css": "a{}",  # whitenoise keeps old hashed files only if still collected
}
CHANGED_MANIFEST = {**OLD_MANIFEST, "app.css": "app.cccccccccccc.css"}


def test_first_deploy_uploads_everything_and_takes_the_first_place() -> None:
    plan = plan_of(release(OLD_FILES, OLD_MANIFEST), LiveState())
    assert plan.uploads == tuple(sorted(OLD_FILES))
    assert plan.cutover is not None and plan.cutover.condition() == {"IfNoneMatch": "*"}
    assert plan.cutover.position == Position(sequence=1, kind="deploy")
    assert plan.entry is not None and plan.entry.sequence == 1 and plan.entry.previous is None


def test_redeploying_the_live_release_does_nothing() -> None:
    live = live_state()
    assert live.record is not None
    plan = plan_of(ReleaseView.of(live.record, live.manifest_bytes or b""), live)
    assert plan.uploads == () and plan.cutover is None and plan.entry is None


def test_a_new_release_with_the_live_contents_does_not_cut_over() -> None:
    plan = plan_of(release(OLD_FILES, OLD_MANIFEST), live_state())
    assert plan.uploads == () and plan.cutover is None


def test_content_addressed_names_go_first_and_the_rest_after_the_claim() -> None:
    plan = plan_of(release(CHANGED_CSS, CHANGED_MANIFEST), live_state())
    assert plan.immutable == ("app.cccccccccccc.css", "app.cccccccccccc.css.gz")
    assert plan.mutable == ("app.css", "app.css.gz")
    assert plan.entry is not None and plan.entry.mutable == plan.mutable
    assert plan.cutover is not None and plan.cutover.condition() == {"IfMatch": '"etag-1"'}


def test_the_cutover_takes_the_next_place_and_remembers_the_live_release() -> None:
    plan = plan_of(release(CHANGED_CSS, CHANGED_MANIFEST), live_state())
    assert plan.cutover is not None
    position = plan.cutover.position
    assert (position.sequence, position.previous, position.kind) == (8, "r1", "deploy")
    assert position.recent == (digest("r1"), digest("r0"))
    assert position.metadata("r2") == {
        "release": "r2",
        "sequence": "8",
        "kind": "deploy",
        "previous": "r1",
        "recent": f"{digest('r1')} {digest('r0')}",
    }
    assert Position.from_metadata(position.metadata("r2")) == position


def test_the_metadata_stays_within_s3s_two_kilobytes_however_long_the_history() -> None:
    position = Position()
    for number in range(500):
        position = position.next(f"release-{number:0>120}", "rollback", "r" * 128)
    size = sum(len(k) + len(v) for k, v in position.metadata("x" * 128).items())
    assert size < 2048 and len(position.recent) == 128


def test_same_name_with_new_bytes_is_uploaded_no_prefix_matching() -> None:
    plan = plan_of(release({**OLD_FILES, "robots.txt": "changed"}, OLD_MANIFEST), live_state())
    assert plan.uploads == ("robots.txt",) and plan.mutable == ("robots.txt",)


def test_files_the_manifest_does_not_list_are_compared_too() -> None:
    plan = plan_of(release({**OLD_FILES, "extra/readme.txt": "new"}, OLD_MANIFEST), live_state())
    assert plan.uploads == ("extra/readme.txt",)


def test_without_a_live_record_only_shared_hashed_names_count_as_live() -> None:
    live = LiveState(b'{"paths": {}, "version": "1.1"}', '"e"', None, None, OLD_MANIFEST)
    plan = plan_of(release(OLD_FILES, OLD_MANIFEST), live)
    assert plan.unchanged == ("app.aaaaaaaaaaaa.css", "robots.bbbbbbbbbbbb.txt")
    assert "app.aaaaaaaaaaaa.css.gz" in plan.immutable  # a sibling: written only where absent


@pytest.mark.parametrize("path", ["staticfiles.json", ".releases/r1/history.jsonl", ".releases/journal/1"])
def test_a_file_on_the_deployers_own_keys_is_refused(path: str) -> None:
    assert rejection(release({**OLD_FILES, path: "x"}, OLD_MANIFEST), live_state()) == "reserved_path"


def test_a_live_hashed_name_shipped_with_other_bytes_outside_the_manifest_is_refused() -> None:
    files = {**OLD_FILES, "app.aaaaaaaaaaaa.css": "evil"}
    manifest = {"robots.txt": "robots.bbbbbbbbbbbb.txt"}  # app.css left out: the name looks unhashed
    assert rejection(release(files, manifest), live_state()) == "immutable_name_conflict"


def test_a_name_of_the_hashed_shape_is_content_addressed_even_if_no_manifest_lists_it() -> None:
    plan = plan_of(release({**OLD_FILES, "vendor/lib.0123456789ab.js": "x"}, OLD_MANIFEST), live_state())
    assert plan.immutable == ("vendor/lib.0123456789ab.js",) and plan.mutable == ()


def test_a_build_dated_in_the_future_is_refused() -> None:
    view = release(CHANGED_CSS, CHANGED_MANIFEST, created="2026-06-01T02:00:00Z")
    assert rejection(view, live_state()) == "future_timestamp"


def test_a_build_dated_before_the_live_one_deploys_when_nothing_proves_it_older() -> None:
    view = release(CHANGED_CSS, CHANGED_MANIFEST, created="2020-01-01T00:00:00Z")
    assert plan_of(view, live_state()).cutover is not None


def test_a_release_that_was_live_before_needs_a_rollback_request() -> None:
    view = release(CHANGED_CSS, CHANGED_MANIFEST, "r0")
    assert rejection(view, live_state()) == "rollback_required"
    rollback = Intent(DEPLOY.artifact, NOW, "rollback", "req-1")
    plan = plan_of(view, live_state(), rollback)
    assert plan.cutover is not None and plan.cutover.position.request == "req-1"
    assert (
        plan.cutover.position.kind == "rollback" and plan.entry is not None and plan.entry.kind == "rollback"
    )


def test_an_ancestor_of_the_live_commit_is_refused_as_older() -> None:
    view = release(CHANGED_CSS, CHANGED_MANIFEST, commit="c" * 40)
    assert rejection(view, live_state()) == "stale_artifact"


@pytest.mark.parametrize("commit", ["a" * 40, "d" * 40, None])
def test_the_live_commit_itself_a_descendant_or_no_commit_deploy(commit: str | None) -> None:
    view = release(CHANGED_CSS, CHANGED_MANIFEST, commit=commit, ancestry=("a" * 40,))
    assert plan_of(view, live_state()).cutover is not None


def test_other_contents_under_the_live_release_id_are_refused() -> None:
    assert rejection(release(CHANGED_CSS, CHANGED_MANIFEST, "r1"), live_state()) == "release_id_reused"


def test_names_an_abandoned_deploy_overwrote_are_rewritten_and_its_place_is_stepped_over() -> None:
    dead = JournalEntry(8, "r9", "r1", 7, "deploy", None, "s3://a/k", ("robots.txt", "gone.txt"))
    plan = plan_of(release(CHANGED_CSS, CHANGED_MANIFEST), live_state().with_abandoned(dead))
    assert plan.mutable == ("app.css", "app.css.gz", "robots.txt")  # gone.txt is not in this release
    assert plan.entry is not None and plan.entry.sequence == 9 and plan.entry.previous_sequence == 7
    assert plan.cutover is not None and plan.cutover.position.sequence == 9


def test_an_abandoned_deploy_makes_even_an_unchanged_release_cut_over_to_repair_it() -> None:
    dead = JournalEntry(8, "r9", "r1", 7, "deploy", None, "s3://a/k", ("robots.txt",))
    plan = plan_of(release(OLD_FILES, OLD_MANIFEST), live_state().with_abandoned(dead))
    assert plan.mutable == ("robots.txt",) and plan.cutover is not None
