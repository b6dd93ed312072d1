"""The build tool's zip against the contract in docs/artifact.md, read back by the Lambda's reader."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from build_tool.build.pack import PackageError
from staticsync.artifact.archive import Artifact
from staticsync.artifact.ranged import BytesRange, SparseFile
from staticsync.config import Settings
from staticsync.model.contract import FILES_DIR, MANIFEST_NAME, RELEASE_NAME
from tests.artifacts import build, collected_tree

FILES = {
    "css/site.css": b"body { color: red }\n" * 50,
    "img/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    "robots.txt": b"User-agent: *\n",
}


def test_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    first = build(collected_tree(FILES), tmp_path / "a.zip")
    second = build(collected_tree(FILES), tmp_path / "b.zip")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256


@pytest.mark.parametrize("change", [{"release": "r2"}, {"created_at": "2026-01-02T00:00:00Z"}])
def test_release_identity_is_part_of_the_bytes(tmp_path: Path, change: dict[str, str]) -> None:
    first = build(collected_tree(FILES), tmp_path / "a.zip")
    second = build(collected_tree(FILES), tmp_path / "b.zip", **change)
    assert first.sha256 != second.sha256


def test_entries_are_sorted_files_then_manifest_then_release_record(tmp_path: Path) -> None:
    packed = build(collected_tree(FILES), tmp_path / "a.zip")
    names = zipfile.ZipFile(packed.path).namelist()
    files = [n for n in names if n.startswith(FILES_DIR)]
    assert files == sorted(files)
    assert names == [*files, MANIFEST_NAME, RELEASE_NAME]


def test_entries_have_fixed_timestamps_and_modes(tmp_path: Path) -> None:
    packed = build(collected_tree(FILES), tmp_path / "a.zip")
    for info in zipfile.ZipFile(packed.path).infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644


def test_compressed_formats_are_stored_and_text_is_deflated(tmp_path: Path) -> None:
    packed = build(collected_tree(FILES), tmp_path / "a.zip")
    archive = zipfile.ZipFile(packed.path)
    assert archive.getinfo("static/img/logo.png").compress_type == zipfile.ZIP_STORED
    assert archive.getinfo("static/css/site.css").compress_type == zipfile.ZIP_DEFLATED


def test_release_record_lists_every_file_with_its_sha256(tmp_path: Path) -> None:
    tree = collected_tree(FILES)
    packed = build(tree, tmp_path / "a.zip")
    expected = {p: hashlib.sha256(d).hexdigest() for p, d in tree.items() if p != MANIFEST_NAME}
    assert packed.record.files == expected
    assert packed.total_bytes == sum(len(d) for p, d in tree.items() if p != MANIFEST_NAME)


def test_tail_bytes_cover_the_manifest_record_and_central_directory(tmp_path: Path) -> None:
    packed = build(collected_tree(FILES), tmp_path / "a.zip")
    offset = zipfile.ZipFile(packed.path).getinfo(MANIFEST_NAME).header_offset
    assert packed.tail_bytes == packed.size - offset


def test_the_lambda_reads_what_the_build_tool_writes(tmp_path: Path) -> None:
    tree = collected_tree(FILES)
    packed = build(tree, tmp_path / "a.zip")
    source = BytesRange(packed.path.read_bytes())
    artifact = Artifact(SparseFile(source), Settings(live_bucket="live"), packed.release_sha256)
    assert artifact.record == packed.record
    assert artifact.manifest_bytes == tree[MANIFEST_NAME]
    assert {p: artifact.read_file(p) for p in artifact.record.files} == {
        p: d for p, d in tree.items() if p != MANIFEST_NAME
    }


def test_reading_a_changed_file_fetches_one_range(tmp_path: Path) -> None:
    packed = build(collected_tree(FILES), tmp_path / "a.zip")
    source = BytesRange(packed.path.read_bytes())
    tail = packed.size - packed.tail_bytes
    file = SparseFile(source, {tail: source.data[tail:]})
    artifact = Artifact(file, Settings(live_bucket="live"), packed.release_sha256)
    assert source.reads == 0
    variants = [p for p in artifact.record.files if p.startswith("css/site.")]
    spans = artifact.spans(variants)
    assert len(spans) == 1
    assert dict(artifact.read_span(spans[0])).keys() == set(variants)
    assert source.reads == 1


@pytest.mark.parametrize("name", ["bad\\name.css", "caf\u0065\u0301.css"])
def test_unsafe_file_names_are_refused_at_build_time(tmp_path: Path, name: str) -> None:
    with pytest.raises(PackageError, match="cannot ship"):
        build(collected_tree({name: b"x"}), tmp_path / "a.zip")


def test_a_tree_without_manifest_is_refused(tmp_path: Path) -> None:
    tree = collected_tree(FILES)
    del tree[MANIFEST_NAME]
    with pytest.raises(PackageError, match="staticfiles.json was not written"):
        build(tree, tmp_path / "a.zip")
