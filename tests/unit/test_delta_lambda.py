"""Delta artifacts on the Lambda's side: the record's `base`, inherited files, and the checks against the
live release (docs/artifact.md, "Delta artifacts")."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from build_tool.build.delta import Base
from build_tool.build.pack import pack
from build_tool.build.recipe import Recipe
from build_tool.build.release import ReleaseInfo
from staticsync.artifact.archive import Artifact
from staticsync.artifact.members import check_record_matches
from staticsync.artifact.ranged import BytesRange, SparseFile
from staticsync.config import Settings
from staticsync.errors import ArtifactRejected
from staticsync.live.state import history_body, same_history
from staticsync.live.walk import not_retained
from staticsync.model.contract import ReleaseRecord, ReleaseView, parse_release
from staticsync.model.order import JournalEntry, Position
from staticsync.model.plan import Intent, LiveState, make_plan

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DEPLOY = Intent("s3://artifacts/staging/r2.zip", NOW)
ROLLBACK = Intent("s3://artifacts/staging/r2.zip", NOW, "rollback", "req1")
MANIFEST = json.dumps({"paths": {"app.css": "app.aaaaaaaaaaaa.css"}, "version": "1.1"}).encode()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


LIVE_FILES = {
    "app.css": sha("a{}"),
    "app.css.gz": sha("gz-a"),
    "app.aaaaaaaaaaaa.css": sha("a{}"),
    "robots.txt": sha("robots"),
}


def record(name: str, files: dict[str, str], base: str | None = None) -> ReleaseRecord:
    return ReleaseRecord(
        release=name,
        created_at="2026-02-01T00:00:00Z",
        files=files,
        manifest_sha256=hashlib.sha256(MANIFEST).hexdigest(),
        base=base,
    )


def live_of(files: dict[str, str] = LIVE_FILES, release: str = "r1") -> LiveState:
    return LiveState(MANIFEST, '"etag"', release, record(release, files), json.loads(MANIFEST)["paths"])


def delta(inherited: set[str], changes: dict[str, str], base: str = "r1", **extra: str) -> ReleaseView:
    """r2: the live files, `changes` packed, `inherited` (and `extra` claims) not."""
    files = {**LIVE_FILES, **changes, **extra}
    view = ReleaseView.of(record("r2", files, base), MANIFEST)
    return dataclasses.replace(view, inherited=frozenset(inherited | set(extra)))


def rejection(view: ReleaseView, live: LiveState, intent: Intent = DEPLOY) -> ArtifactRejected:
    with pytest.raises(ArtifactRejected) as caught:
        make_plan(view, live, intent, owned=(".releases/",))
    return caught.value


UNCHANGED = {"app.css", "app.css.gz", "app.aaaaaaaaaaaa.css"}


def test_a_delta_of_the_live_release_uploads_only_its_members_and_leaves_the_inherited_unchanged() -> None:
    plan = make_plan(delta(UNCHANGED, {"robots.txt": sha("new")}), live_of(), DEPLOY)
    assert plan.uploads == ("robots.txt",)
    assert set(plan.unchanged) == UNCHANGED
    assert plan.cutover is not None


def test_a_delta_whose_base_is_not_live_is_refused_and_says_how_to_stage_one_that_deploys() -> None:
    error = rejection(delta(UNCHANGED, {"robots.txt": sha("new")}), live_of(release="r0"))
    assert error.code == "base_not_live"
    assert "r1" in str(error) and "r0 is live" in str(error) and "--full" in str(error)


def test_a_delta_onto_an_empty_bucket_is_refused_as_base_not_live() -> None:
    assert rejection(delta(UNCHANGED, {}), LiveState()).code == "base_not_live"


def test_an_inherited_file_whose_digest_differs_from_the_live_record_is_a_base_mismatch() -> None:
    view = delta(UNCHANGED, {"app.css.gz": sha("other gzip")})  # claims to inherit other bytes
    error = rejection(view, live_of())
    assert (error.code, error.member) == ("base_mismatch", "app.css.gz")


def test_hostile_a_delta_claiming_to_inherit_files_the_live_record_lacks_is_a_base_mismatch() -> None:
    view = delta(UNCHANGED, {}, **{"evil.js": sha("not live anywhere")})
    error = rejection(view, live_of())
    assert (error.code, error.member) == ("base_mismatch", "evil.js")


def test_an_inherited_name_an_abandoned_deploy_may_have_overwritten_is_a_base_mismatch() -> None:
    dead = JournalEntry(2, "r9", "r1", 1, "deploy", None, "s3://artifacts/staging/r9.zip", ("app.css",))
    live = dataclasses.replace(live_of(), position=Position(1), abandoned=(dead,))
    error = rejection(delta(UNCHANGED | {"robots.txt"}, {}), live)
    assert (error.code, error.member) == ("base_mismatch", "app.css")
    assert "full artifact" in str(error)


def test_a_rollback_to_a_delta_whose_base_is_not_live_is_refused_as_not_retained() -> None:
    error = rejection(delta(UNCHANGED, {"robots.txt": sha("new")}), live_of(release="r3"), ROLLBACK)
    assert error.code == "not_retained"
    assert "staged as a delta of r1" in str(error) and "full build of its commit" in str(error)


def test_a_full_artifact_needs_no_base() -> None:
    view = ReleaseView.of(record("r2", {**LIVE_FILES, "robots.txt": sha("new")}), MANIFEST)
    assert make_plan(view, live_of(release="r0"), DEPLOY).uploads == ("robots.txt",)


def test_the_record_keeps_its_base_and_refuses_a_bad_one() -> None:
    data = record("r2", LIVE_FILES, base="r1").to_json(0)
    assert json.loads(data)["base"] == "r1" and parse_release(data).base == "r1"
    assert "base" not in json.loads(record("r2", LIVE_FILES).to_json(0))
    for bad in ("r2", "../x", 7):
        document = {**json.loads(data), "base": bad}
        with pytest.raises(ArtifactRejected, match="base"):
            parse_release(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("base", "names", "code"),
    [
        ("r1", ["static/robots.txt"], None),  # the rest inherited
        (None, ["static/robots.txt"], "record_mismatch"),  # a full record needs every member
        ("r1", ["static/robots.txt", "static/extra.txt"], "record_mismatch"),  # a member not listed
        ("r1", ["static/app.css"], "record_mismatch"),  # its .gz inherited: a split family
        ("r1", ["static/app.css", "static/app.css.gz"], None),
    ],
)
def test_a_delta_record_lists_its_members_and_inherits_whole_families(
    base: str | None, names: list[str], code: str | None
) -> None:
    manifest = json.loads(MANIFEST)["paths"]
    if code is None:
        check_record_matches(record("r2", LIVE_FILES, base), manifest, names)
        return
    with pytest.raises(ArtifactRejected) as caught:
        check_record_matches(record("r2", LIVE_FILES, base), manifest, names)
    assert caught.value.code == code


def test_a_packed_delta_opens_with_its_inherited_files_known(tmp_path: Path) -> None:
    root = tmp_path / "static"
    tree = {
        "app.css": b"a{}",
        "app.aaaaaaaaaaaa.css": b"a{}",
        "robots.txt": b"new",
        "staticfiles.json": MANIFEST,
    }
    for path, data in tree.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    base = Base("r1", LIVE_FILES)
    packed = pack(
        root,
        tmp_path / "r2.zip",
        ReleaseInfo("r2", "2026-02-01T00:00:00Z", None),
        Recipe("s", tool="tests"),
        base,
    )
    artifact = Artifact(SparseFile(BytesRange(packed.path.read_bytes())), Settings("live"), None)
    assert artifact.record.base == "r1"
    assert artifact.inherited == {"app.css", "app.css.gz", "app.aaaaaaaaaaaa.css"}
    assert artifact.record.files == {**LIVE_FILES, "robots.txt": sha("new")}
    assert artifact.read_file("robots.txt") == b"new"


def test_a_full_artifact_of_a_live_delta_is_the_same_release_not_a_reused_id() -> None:
    live = dataclasses.replace(live_of(release="r2"), record=record("r2", LIVE_FILES, base="r1"))
    full = ReleaseView.of(record("r2", LIVE_FILES), MANIFEST)
    assert make_plan(full, live, DEPLOY).cutover is None
    other = ReleaseView.of(record("r2", {**LIVE_FILES, "robots.txt": sha("new")}), MANIFEST)
    assert rejection(other, live).code == "release_id_reused"


def test_the_kept_history_of_a_delta_stands_for_the_full_artifact_of_the_same_build() -> None:
    delta_body = history_body(record("r2", LIVE_FILES, base="r1").to_json(10), MANIFEST)
    full_body = history_body(record("r2", LIVE_FILES).to_json(9999), MANIFEST)
    other_body = history_body(record("r2", {**LIVE_FILES, "robots.txt": sha("new")}).to_json(9), MANIFEST)
    assert same_history(delta_body, full_body) and same_history(full_body, delta_body)
    assert not same_history(delta_body, other_body)
    assert not same_history(delta_body, b"garbage\n{}\n")


class Heads:
    """head_object answering from a dict of key -> metadata (anything else: 404)."""

    def __init__(self, metadata: dict[str, dict[str, str]]) -> None:
        self.metadata = metadata

    def head_object(self, Bucket: str, Key: str) -> dict[str, object]:  # noqa: N803 - boto3's names
        if Key not in self.metadata:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return {"Metadata": self.metadata[Key]}


def test_a_staged_delta_is_a_rollback_target_while_its_base_chain_is_retained() -> None:
    entry = JournalEntry(3, "r3", "r2", 2, "deploy", None, "s3://artifacts/staging/r3.zip")
    history: dict[str, dict[str, str]] = {".releases/r3/history.jsonl": {}}
    chain = {"staging/r3.zip": {"base": "r2"}, "staging/r2.zip": {"base": "r1"}, "staging/r1.zip": {}}
    settings = Settings("live")
    assert not_retained(Heads({**history, **chain}), settings, entry, None, "r4") is None
    assert not_retained(Heads({**history, "staging/r3.zip": {}}), settings, entry, None, "r4") is None
    # Onto its live base a delta deploys as it is: the base's own chain is not needed.
    assert (
        not_retained(Heads({**history, "staging/r3.zip": {"base": "r2"}}), settings, entry, None, "r2")
        is None
    )
    del chain["staging/r1.zip"]
    reason = not_retained(Heads({**history, **chain}), settings, entry, None, "r4")
    assert reason == (
        "it was staged as a delta and inherits files from r1, whose artifact "
        "s3://artifacts/staging/r1.zip is gone"
    )


def test_a_delta_refused_for_its_base_is_judged_again_when_staged_again() -> None:
    from staticsync.deploy.tags import LIVE_RELATIVE

    assert {"base_not_live", "not_retained"} <= LIVE_RELATIVE
