"""Delta builds on the build side: what the live release has is neither compressed nor packed, and the
record still lists every file of the release (build_tool.build.delta, docs/artifact.md "Delta artifacts")."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from build_tool.build.collect import DEFAULT_STORAGE
from build_tool.build.delta import Base, BaseSlot, base_of, release_files
from build_tool.build.pack import PackageError, Packed, check_packable
from build_tool.build.recipe import Project, Recipe
from build_tool.build.release import ReleaseInfo
from staticsync.model.contract import FILES_DIR, RELEASE_NAME
from tests.functional.test_compress_cache import write_project
from tests.inprocess import PROJECTS, cli, forked


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """test_compress_cache's small project: CSS with a url(), JS, a tiny file, a PNG."""
    return write_project(tmp_path / "project")


def build(folder: Path, out: Path, base: Base | None = None) -> tuple[Packed, tuple[int, int, int]]:
    """collect + pack in a forked child (its own Django): the artifact and (compressed, reused,
    skipped because the base has them)."""

    def work() -> tuple[Packed, tuple[int, int, int]]:
        from build_tool.build import collect
        from build_tool.build import pack as package

        static = out.with_suffix(".static")
        slot = BaseSlot(base)
        recipe = Recipe(DEFAULT_STORAGE, tool="tests")
        stats = collect.collect(Project("cachesettings", folder), static, recipe, base=slot)
        packed = package.pack(static, out, ReleaseInfo(out.stem, "2026-01-01T00:00:00Z", None), recipe, base)
        return packed, (stats.compressed, stats.reused, stats.inherited)

    return forked(work)


def members(packed: Packed) -> set[str]:
    names = zipfile.ZipFile(packed.path).namelist()
    return {name[len(FILES_DIR) :] for name in names if name.startswith(FILES_DIR)}


def test_a_delta_after_one_edit_compresses_and_packs_only_what_changed(project: Path, tmp_path: Path) -> None:
    r1, full_stats = build(project, tmp_path / "r1.zip")
    (project / "assets" / "js" / "app.js").write_text("function g(y) { return y + 1; }\n" * 300)
    full, _ = build(project, tmp_path / "full.zip")
    r2, delta_stats = build(project, tmp_path / "r2.zip", Base("r1", r1.record.files))
    # Full: 4 distinct contents compressed (6 compressible files big enough for siblings: not tiny.js
    # and its hashed copy); the delta: only app.js's new bytes.
    assert full_stats[0] == 4
    assert delta_stats == (1, 0, 4)
    changed = {p for p, d in full.record.files.items() if r1.record.files.get(p) != d}
    assert any(p.startswith("js/app.") and p.endswith(".js.br") for p in changed)
    assert members(r2) == changed
    assert members(full) == set(full.record.files)
    # Every file of the release, with the digests a full build gives them, and the base it needs.
    assert r2.record.files == full.record.files
    assert r2.record.base == "r1" and full.record.base is None
    assert b'"base": "r1"' in zipfile.ZipFile(r2.path).read(RELEASE_NAME)
    assert r2.inherited == len(full.record.files) - len(changed)
    assert r2.size < full.size / 2


def test_a_delta_of_an_unchanged_build_compresses_nothing_and_packs_no_file(
    project: Path, tmp_path: Path
) -> None:
    r1, _ = build(project, tmp_path / "r1.zip")
    again, stats = build(project, tmp_path / "again.zip", Base("r1", r1.record.files))
    assert stats[0] == 0 and stats[2] == 6
    assert members(again) == set()
    assert again.record.files == r1.record.files


LIVE = {"a.css": "1", "a.css.gz": "2", "a.css.br": "3", "b.js": "4", "b.js.gz": "5", "c.png": "6"}


def test_unchanged_files_take_their_siblings_from_the_base_and_families_are_packed_whole() -> None:
    collected = {"a.css": "1", "b.js": "new", "b.js.gz": "new-gz", "c.png": "6", "d.txt": "7"}
    files, packed = release_files(collected, Base("r1", LIVE))
    assert files == {**collected, "a.css.gz": "2", "a.css.br": "3"}
    assert packed == {"b.js", "b.js.gz", "d.txt"}
    assert release_files(collected, None) == (collected, set(collected))


def test_a_family_the_base_holds_only_in_part_cannot_be_packed() -> None:
    with pytest.raises(PackageError, match="--full"):
        check_packable({"a.css", "a.css.br"}, {"a.css"})


def test_a_delta_is_built_only_against_another_live_release_of_the_same_storage() -> None:
    from staticsync.model.contract import ReleaseRecord
    from staticsync.model.plan import LiveState

    record = ReleaseRecord("r1", "2026-01-01T00:00:00Z", {"a.css": "1"}, "0" * 64, storage=DEFAULT_STORAGE)
    live = LiveState(b"{}", '"e"', "r1", record)
    assert base_of(live, DEFAULT_STORAGE, "r2") == Base("r1", {"a.css": "1"})
    assert base_of(live, DEFAULT_STORAGE, "r1") is None  # a rebuild of the live release
    assert base_of(live, "django.contrib.staticfiles.storage.ManifestStaticFilesStorage", "r2") is None
    assert base_of(LiveState(), DEFAULT_STORAGE, "r2") is None
    assert base_of(LiveState(b"{}", '"e"', "other"), DEFAULT_STORAGE, "r2") is None  # no record


TOUCHY = ["package", "--settings", "touchysettings", "--project-dir", str(PROJECTS / "touchy")]


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--live-prefix", "static"], 2, "--live-prefix 'static': a key prefix must not start with '/'"),
        (["--history-prefix", ""], 2, "--history-prefix must not be empty"),
        ([], 6, "no AWS credentials found"),  # the live release is read before the slow collect
    ],
)
def test_delta_flag_mistakes_and_an_unreadable_live_release_stop_before_collecting(
    tmp_path: Path, extra: list[str], code: int, message: str
) -> None:
    done = cli([*TOUCHY, "--output", str(tmp_path / "x.zip"), "--live-bucket", "live", *extra], tmp_path)
    assert (done.returncode, "collecting" in done.stderr) == (code, False), done.stderr
    assert message in done.stderr


def test_full_ignores_the_live_bucket_and_reads_nothing(tmp_path: Path) -> None:
    done = cli([*TOUCHY, "--output", str(tmp_path / "x.zip"), "--live-bucket", "live", "--full"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert zipfile.ZipFile(tmp_path / "x.zip").read(RELEASE_NAME).count(b'"base"') == 0


def test_a_files_digest_is_read_once_and_read_again_when_the_file_is_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from build_tool.build import delta

    target = tmp_path / "a.css"
    target.write_bytes(b"one")
    reads = []
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or read_bytes(self))
    first = delta.digest_of(target)
    assert delta.digest_of(str(target)) == first and len(reads) == 1
    target.write_bytes(b"two")
    os.utime(target, ns=(1, 1))  # another mtime, the same size
    assert delta.digest_of(target) == hashlib.sha256(b"two").hexdigest() != first
