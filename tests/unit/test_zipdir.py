"""The compact central-directory reader agrees with zipfile on what the build tool and others write, and
the fast path of unsafe_path_reason gives exactly the answers of the rule-by-rule check."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from staticsync.artifact.zipdir import Directory, ZipFormatError, data_start, inflate, read_directory
from staticsync.model.contract import FILES_DIR
from staticsync.model.names import unsafe_path_reason


def reference_reason(path: str) -> str | None:
    """unsafe_path_reason as it was before the fast path: the specification."""
    if not path:
        return "empty path"
    if "\\" in path:
        return "backslash in path"
    if path.startswith("/"):
        return "absolute path"
    if any(re.match(r"[A-Za-z]:", p) for p in (path, path.removeprefix(FILES_DIR))):
        return "drive letter"
    if any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in path):
        return "control character in path"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "empty, '.' or '..' segment"
    if unicodedata.normalize("NFC", path) != path:
        return "path is not NFC-normalised"
    return None


PIECES = ["static/", "/", ".", "..", "a", "C:", "é", "e\u0301", "\\", "\x00", "\x85", "\x7f", "画", "\n", ":"]


@settings(max_examples=3000)
@given(st.one_of(st.text(), st.lists(st.sampled_from(PIECES), max_size=8).map("".join)))
@example("static/C:/x.css")
@example("static/./a")
@example("a/.../b")
@example("static/..a/b")
def test_the_fast_path_answers_as_the_rules_do(path: str) -> None:
    assert unsafe_path_reason(path) == reference_reason(path)


def zip_of(
    members: dict[str, bytes], *, comment: bytes = b"", prefix: bytes = b"", zip64: bool = False
) -> bytes:
    buffer = io.BytesIO()
    buffer.write(prefix)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            with archive.open(name, "w", force_zip64=zip64) as member:
                member.write(data)
        archive.comment = comment
    return buffer.getvalue()


def read_all(data: bytes) -> tuple[Directory, dict[str, bytes]]:
    def read(start: int, end: int) -> bytes:
        return data[max(start, 0) : end]

    directory = read_directory(read, len(data))
    contents = {}
    for index, name in enumerate(directory.names):
        start = data_start(directory, index, name, read)
        contents[name] = inflate(directory, index, read(start, start + directory.compressed[index]))
    return directory, contents


MEMBERS = {"static/a.css": b"a{}" * 500, "static/é/b.js": bytes(range(256)) * 40, "release.json": b"{}"}


@pytest.mark.parametrize(
    "options",
    [{}, {"comment": b"a comment"}, {"prefix": b"#!/bin/sh\n"}, {"zip64": True}],
    ids=["plain", "comment", "data before the zip", "zip64"],
)
def test_the_directory_is_zipfiles_reading_of_the_archive(options: dict[str, object]) -> None:
    data = zip_of(MEMBERS, **options)  # type: ignore[arg-type]
    directory, contents = read_all(data)
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()

    assert directory.names == [info.filename for info in infos]
    assert list(directory.offsets) == [info.header_offset for info in infos]
    assert list(directory.sizes) == [info.file_size for info in infos]
    assert list(directory.compressed) == [info.compress_size for info in infos]
    assert list(directory.crcs) == [info.CRC for info in infos]
    assert contents == MEMBERS


def test_a_member_that_inflates_to_more_than_its_size_is_refused() -> None:
    data = zip_of({"static/a.css": b"a" * 1000})
    directory, _ = read_all(data)
    directory.sizes[0] = 999  # the directory lies: zipfile would cut the output and check the CRC

    with pytest.raises(ZipFormatError, match="inflates to"):
        read_all_with(data, directory)


def read_all_with(data: bytes, directory: Directory) -> None:
    start = data_start(directory, 0, directory.names[0], lambda s, e: data[s:e])
    inflate(directory, 0, data[start : start + directory.compressed[0]])


@pytest.mark.parametrize("data", [b"", b"PK\x05\x06", b"not a zip" * 100], ids=["empty", "short", "html"])
def test_what_is_not_a_zip_is_refused(data: bytes) -> None:
    with pytest.raises(ZipFormatError):
        read_directory(lambda start, end: data[start:end], len(data))
