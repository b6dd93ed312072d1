"""Open a staged artifact, check it against the contract, and read its members by coalesced ranges."""

from __future__ import annotations

import hashlib
import json
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .config import Settings
from .contract import (
    FILES_DIR,
    MANIFEST_NAME,
    RELEASE_NAME,
    ReleaseRecord,
    hashed_name,
    hashed_sources,
    parse_manifest,
    parse_release,
    unsafe_path_reason,
)
from .errors import ArtifactRejected
from .remote import SparseFile

# Members closer than this are fetched in one ranged GET: a request costs more than the bytes.
COALESCE_GAP = 256 * 1024
GROUP_BYTES = 8 * 1024 * 1024
# What zipfile raises on a damaged archive or member (zlib.error is none of the others).
ZIP_ERRORS = (
    *(zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, zlib.error),
    NotImplementedError,  # a zip version or compression method zipfile does not support
)
COMPRESSIONS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
LOCAL_HEADER_BYTES = 30
# S3's limit on an object key, in bytes of its UTF-8 encoding; the live prefix counts.
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class Span:
    """A byte range of the artifact and the files whose members it holds."""

    start: int
    end: int
    paths: tuple[str, ...]


class Artifact:
    """A validated artifact: its release record, its manifest, and its members on demand."""

    def __init__(self, file: SparseFile, settings: Settings, expected_release_sha256: str | None) -> None:
        self.file = file
        self.zip = open_zip(file)
        self.infos = {info.filename: info for info in self.zip.infolist()}
        check_entries(self.zip.infolist(), settings)
        check_layout(self.zip.infolist(), self.zip.start_dir)
        release_bytes = self._read(RELEASE_NAME)
        if expected_release_sha256 is not None and (
            hashlib.sha256(release_bytes).hexdigest() != expected_release_sha256
        ):
            raise ArtifactRejected(
                "checksum_mismatch",
                "release.json does not match the release-sha256 the build tool recorded",
                RELEASE_NAME,
            )
        self.record: ReleaseRecord = parse_release(release_bytes)
        self.release_bytes = release_bytes
        self.manifest_bytes = self._read(MANIFEST_NAME)
        if hashlib.sha256(self.manifest_bytes).hexdigest() != self.record.manifest_sha256:
            raise ArtifactRejected(
                "checksum_mismatch", "staticfiles.json does not match release.json", MANIFEST_NAME
            )
        self.manifest: dict[str, str] = parse_manifest(self.manifest_bytes)
        check_record_matches(self.record, self.manifest, self.infos)
        check_total_bytes(release_bytes, self.infos)
        self.hashed_sources = hashed_sources(self.manifest)

    def size_of(self, path: str) -> int:
        return self.infos[FILES_DIR + path].file_size

    def spans(self, paths: Sequence[str]) -> list[Span]:
        """Coalesced byte ranges holding the members of `paths`, in file order."""
        ends = _member_ends(list(self.infos.values()), self.zip.start_dir)
        members = sorted((self.infos[FILES_DIR + p].header_offset, p) for p in paths)
        return coalesce([(offset, ends[offset], path) for offset, path in members])

    def read_span(self, span: Span) -> Iterator[tuple[str, bytes]]:
        """Fetch one span with a single ranged read and yield its files, each verified."""
        self.file.prefetch(span.start, span.end)
        try:
            for path in span.paths:
                yield path, self.read_file(path)
        finally:
            self.file.forget(span.start)

    def read_file(self, path: str) -> bytes:
        """The bytes of `path`, checked against release.json and, for a hashed name, against it."""
        data = self._read(FILES_DIR + path)
        if hashlib.sha256(data).hexdigest() != self.record.files[path]:
            raise ArtifactRejected(
                "checksum_mismatch", f"{path} does not match its SHA-256 in release.json", path
            )
        for name in self.hashed_sources.get(path, ()):
            # Hashed names are cached for a year as immutable: the name must be the content's.
            if hashed_name(name, data) != path:
                raise ArtifactRejected(
                    "hashed_name_mismatch",
                    f"{path} is the hashed name of {name}, but its content would be named "
                    f"{hashed_name(name, data)}",
                    path,
                )
        return data

    def _read(self, name: str) -> bytes:
        if name not in self.infos:
            raise ArtifactRejected("missing_member", f"the artifact has no {name}", name)
        try:
            return self.zip.read(name)
        except ZIP_ERRORS as error:
            raise ArtifactRejected("corrupt_member", f"{name} cannot be read: {error}", name) from None


def open_zip(file: SparseFile) -> zipfile.ZipFile:
    if file.source.size == 0:
        raise ArtifactRejected("empty_artifact", "the artifact is an empty object")
    try:
        return zipfile.ZipFile(file)
    except ZIP_ERRORS as error:
        raise ArtifactRejected("not_a_zip", f"the artifact is not a readable zip: {error}") from None


def check_entries(infos: Sequence[zipfile.ZipInfo], settings: Settings) -> None:
    """Reject unsafe or oversized entries before reading any of them."""
    if not infos:
        raise ArtifactRejected("empty_artifact", "the artifact has no entries")
    if len(infos) > settings.max_members:
        raise ArtifactRejected(
            "too_many_members", f"{len(infos)} entries exceed MAX_MEMBERS={settings.max_members}"
        )
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        check_entry(info, settings)
        key = unicodedata.normalize("NFC", name)
        if key in seen:
            raise ArtifactRejected("duplicate_member", f"{name} appears twice", name)
        seen.add(key)
        total += info.file_size
    if total > settings.max_total_bytes:
        raise ArtifactRejected(
            "too_large",
            f"{total} uncompressed bytes exceed MAX_TOTAL_BYTES={settings.max_total_bytes}",
        )


def check_entry(info: zipfile.ZipInfo, settings: Settings) -> None:
    name = info.filename
    reason = unsafe_path_reason(name)
    if reason:
        raise ArtifactRejected("unsafe_path", f"{name!r}: {reason}", name)
    if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
        raise ArtifactRejected("not_a_file", f"{name} is a directory or a symlink", name)
    if info.flag_bits & 0x1 or info.compress_type not in COMPRESSIONS:
        raise ArtifactRejected(
            "unsupported_member", f"{name} is encrypted or neither stored nor deflated", name
        )
    if name not in (MANIFEST_NAME, RELEASE_NAME) and not name.startswith(FILES_DIR):
        raise ArtifactRejected("unexpected_member", f"{name} is outside {FILES_DIR}", name)
    check_key_length(name, settings)
    if info.file_size > settings.max_member_bytes:
        raise ArtifactRejected(
            "member_too_large",
            f"{name} is {info.file_size} bytes, over MAX_MEMBER_BYTES={settings.max_member_bytes}",
            name,
        )
    if info.file_size > settings.max_compression_ratio * max(info.compress_size, 1):
        raise ArtifactRejected(
            "compression_ratio",
            f"{name} expands {info.file_size}/{info.compress_size}: over MAX_COMPRESSION_RATIO",
            name,
        )


def check_key_length(name: str, settings: Settings) -> None:
    """A member's live key fits S3's limit: else its PUT fails after other files were written."""
    if not name.startswith(FILES_DIR):
        return
    key = settings.live_key(name[len(FILES_DIR) :])
    size = len(key.encode())
    if size > MAX_KEY_BYTES:
        raise ArtifactRejected(
            "key_too_long",
            f"{name} would be the live key {key[:60]!r}... of {size} bytes, over S3's {MAX_KEY_BYTES}"
            " (LIVE_PREFIX included): shorten the path",
            name,
        )


def check_layout(infos: Sequence[zipfile.ZipInfo], start_dir: int) -> None:
    """Members lie one after another before the central directory, none inside another.

    Overlapping members are a zip-bomb trick, and an offset past the central directory would
    make the ranged reads ask S3 for a range it cannot serve.
    """
    ends = _member_ends(infos, start_dir)
    if len(ends) < len(infos):
        raise ArtifactRejected("overlapping_members", "two entries share one member's bytes")
    for info in infos:
        room = ends[info.header_offset] - info.header_offset - LOCAL_HEADER_BYTES
        if info.header_offset < 0 or room < info.compress_size:
            raise ArtifactRejected(
                "bad_layout", f"{info.filename} does not fit where the zip says it is", info.filename
            )


def check_record_matches(
    record: ReleaseRecord, manifest: dict[str, str], infos: dict[str, zipfile.ZipInfo]
) -> None:
    """The record lists exactly the zip's files, and the manifest points only at them."""
    members = {name[len(FILES_DIR) :] for name in infos if name.startswith(FILES_DIR)}
    listed = set(record.files)
    for path in sorted(members ^ listed)[:1]:
        where = "the zip but not release.json" if path in members else "release.json but not the zip"
        raise ArtifactRejected("record_mismatch", f"{path} is in {where}", path)
    for name, hashed in sorted(manifest.items()):
        if hashed not in members:
            raise ArtifactRejected(
                "manifest_missing_file",
                f"staticfiles.json maps {name} to {hashed}, which the artifact lacks",
                hashed,
            )


def check_total_bytes(release_bytes: bytes, infos: dict[str, zipfile.ZipInfo]) -> None:
    """release.json's total_bytes is the uncompressed size of the static/ members."""
    claimed = json.loads(release_bytes).get("total_bytes")  # parse_release read this JSON already
    if not isinstance(claimed, int) or isinstance(claimed, bool) or claimed < 0:
        raise ArtifactRejected(
            "bad_release_record", f"total_bytes must be a whole number, not {claimed!r}", RELEASE_NAME
        )
    actual = sum(info.file_size for name, info in infos.items() if name.startswith(FILES_DIR))
    if claimed != actual:
        raise ArtifactRejected(
            "record_mismatch",
            f"release.json says total_bytes={claimed}, but the files under {FILES_DIR} hold {actual}",
            RELEASE_NAME,
        )


def coalesce(members: Sequence[tuple[int, int, str]]) -> list[Span]:
    """Merge (start, end, path) ranges sorted by start into few spans of bounded size."""
    spans: list[Span] = []
    for start, end, path in members:
        last = spans[-1] if spans else None
        if last is not None and start - last.end <= COALESCE_GAP and end - last.start <= GROUP_BYTES:
            spans[-1] = Span(last.start, max(last.end, end), (*last.paths, path))
        else:
            spans.append(Span(start, end, (path,)))
    return spans


def _member_ends(infos: Sequence[zipfile.ZipInfo], start_dir: int) -> dict[int, int]:
    """Where each member's bytes end: at the next member's local header, or the central directory."""
    offsets = sorted({info.header_offset for info in infos})
    return dict(zip(offsets, [*offsets[1:], start_dir], strict=True))
