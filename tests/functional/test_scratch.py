"""A build's temporary collect goes to memory when there is room, to $TMPDIR when the user says so."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from build_tool.build import scratch
from build_tool.build.cache import CompressionCache
from build_tool.build.collect import failure
from tests.functional.test_compress_cache import package, write_project


def test_the_scratch_is_the_memory_folder_when_it_has_room_and_tmpdir_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = tmp_path / "shm"
    memory.mkdir()
    assert scratch.scratch_root({}, (tmp_path / "missing", memory)) == memory
    monkeypatch.setattr(scratch, "MEMORY_DIRS", (memory,))
    work = scratch.make_work("build_tool-", {})
    assert work.parent == memory and work.is_dir() and not any(work.iterdir())


def test_the_users_tmpdir_wins_and_a_memory_folder_without_room_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = tmp_path / "shm"
    memory.mkdir()
    assert scratch.scratch_root({"TMPDIR": str(tmp_path)}, (memory,)) is None
    monkeypatch.setattr(scratch, "MEMORY_ROOM", 1 << 60)
    assert scratch.scratch_root({}, (memory,)) is None


def test_a_build_reports_where_its_scratch_was_and_honours_tmpdir(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project")
    chosen = tmp_path / "tmp"
    chosen.mkdir()
    record = package(project, tmp_path / "a.zip", env={"TMPDIR": str(chosen)})
    assert record["scratch"] == str(chosen)
    assert list(chosen.iterdir()) == []  # removed afterwards


def test_a_cache_without_a_folder_keeps_its_outputs_in_memory_only(tmp_path: Path) -> None:
    cache = CompressionCache(None)
    cache.put("ab" * 32, "gz", b"output")
    assert cache.ready["ab" * 32, "gz"] == b"output"
    assert cache.get("ab" * 32, "gz", b"input") is None


def test_a_full_scratch_folder_says_how_to_give_the_build_more_room() -> None:
    error = OSError(errno.ENOSPC, "No space left on device", "/dev/shm/build_tool-x/static/a.css")
    message = failure(error, "")
    assert "no space left" in message and "TMPDIR" in message and "/dev/shm/build_tool-x" in message
