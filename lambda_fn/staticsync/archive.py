"""Open a staged artifact, check it against the contract, and read its members by coalesced ranges."""

from __future__ import annotations

import hashlib
import json
import stat
from array import array
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
    split_family,
    unsafe_path_reason,
)
from .errors import ArtifactRejected
from .remote import SparseFile
from .zipdir import DEFLATED, LOCAL, STORED, Directory, ZipFormatError, data_start, inflate, read_directory

# Members closer than this are fetched in one ranged GET: skipping the bytes between two members
# saves less than a second round trip costs (20-50 ms at 50-100 MB/s per connection is 1-5 MB of
# transfer; see benchmarks/README.md, "Scattered changes").
COALESCE_GAP = 2 * 1024 * 1024
GROUP_BYTES = 8 * 1024 * 1024
COMPRESSIONS = frozenset({STORED, DEFLATED})
LOCAL_HEADER_BYTES = LOCAL.size
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
        directory = open_directory(file)
        check_entries(directory, settings)
        self.ends = check_layout(directory)
        self.directory = directory
        index = {name: i for i, name in enumerate(directory.names)}
        release_bytes = self._read(RELEASE_NAME, index.get(RELEASE_NAME))
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
        self.manifest_bytes = self._read(MANIFEST_NAME, index.get(MANIFEST_NAME))
        if hashlib.sha256(self.manifest_bytes).hexdigest() != self.record.manifest_sha256:
            raise ArtifactRejected(
                "checksum_mismatch", "staticfiles.json does not match release.json", MANIFEST_NAME
            )
        self.manifest: dict[str, str] = parse_manifest(self.manifest_bytes)
        check_record_matches(self.record, self.manifest, directory.names)
        check_total_bytes(release_bytes, directory)
        self.hashed_sources = hashed_sources(self.manifest)
        # From here on members are found by their path under static/, with the record's own strings
        # as keys: the directory's names (a second copy of every path) are no longer needed.
        files = self.record.files
        self.members = {path: index[FILES_DIR + path] for path in files if FILES_DIR + path in index}
        # A delta's files without a member: the plan checks them against its base (plan.check_base).
        self.inherited = frozenset(files.keys() - self.members.keys()) if self.record.base else frozenset()
        directory.names.clear()

    def size_of(self, path: str) -> int:
        return self.directory.sizes[self.members[path]]

    def offset_of(self, path: str) -> int:
        return self.directory.offsets[self.members[path]]

    def spans(self, paths: Sequence[str]) -> list[Span]:
        """Coalesced byte ranges holding the members of `paths`, in file order."""
        offsets, ends = self.directory.offsets, self.ends
        members = sorted((offsets[i], ends[i], p) for p, i in ((p, self.members[p]) for p in paths))
        return coalesce(members)

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
        data = self._read(FILES_DIR + path, self.members.get(path))
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

    def _read(self, name: str, index: int | None) -> bytes:
        if index is None:
            raise ArtifactRejected("missing_member", f"the artifact has no {name}", name)
        read, directory = self.file.read_at, self.directory
        try:
            start = data_start(directory, index, name, read)
            return inflate(directory, index, read(start, start + directory.compressed[index]))
        except (ZipFormatError, ValueError) as error:  # UnicodeDecodeError of a header's name too
            raise ArtifactRejected("corrupt_member", f"{name} cannot be read: {error}", name) from None


def open_directory(file: SparseFile) -> Directory:
    if file.source.size == 0:
        raise ArtifactRejected("empty_artifact", "the artifact is an empty object")
    try:
        return read_directory(file.read_at, file.source.size)
    except (ZipFormatError, ValueError) as error:  # a name that is not UTF-8 is a ValueError
        raise ArtifactRejected("not_a_zip", f"the artifact is not a readable zip: {error}") from None


def check_entries(directory: Directory, settings: Settings) -> None:
    """Reject unsafe or oversized entries before reading any of them."""
    if not len(directory):
        raise ArtifactRejected("empty_artifact", "the artifact has no entries")
    if len(directory) > settings.max_members:
        raise ArtifactRejected(
            "too_many_members", f"{len(directory)} entries exceed MAX_MEMBERS={settings.max_members}"
        )
    seen: set[str] = set()
    for index, name in enumerate(directory.names):
        check_entry(directory, index, settings)
        # Every name that passed is NFC (unsafe_path_reason), so equal after NFC is equal.
        if name in seen:
            raise ArtifactRejected("duplicate_member", f"{name} appears twice", name)
        seen.add(name)
    total = sum(directory.sizes)
    if total > settings.max_total_bytes:
        raise ArtifactRejected(
            "too_large",
            f"{total} uncompressed bytes exceed MAX_TOTAL_BYTES={settings.max_total_bytes}",
        )


def check_entry(directory: Directory, index: int, settings: Settings) -> None:
    name = directory.names[index]
    reason = unsafe_path_reason(name)
    if reason:
        raise ArtifactRejected("unsafe_path", f"{name!r}: {reason}", name)
    if name.endswith("/") or stat.S_ISLNK(directory.modes[index]):
        raise ArtifactRejected("not_a_file", f"{name} is a directory or a symlink", name)
    if directory.flags[index] & 0x1 or directory.methods[index] not in COMPRESSIONS:
        raise ArtifactRejected(
            "unsupported_member", f"{name} is encrypted or neither stored nor deflated", name
        )
    if name not in (MANIFEST_NAME, RELEASE_NAME) and not name.startswith(FILES_DIR):
        raise ArtifactRejected("unexpected_member", f"{name} is outside {FILES_DIR}", name)
    check_key_length(name, settings)
    size, compressed = directory.sizes[index], directory.compressed[index]
    if size > settings.max_member_bytes:
        raise ArtifactRejected(
            "member_too_large",
            f"{name} is {size} bytes, over MAX_MEMBER_BYTES={settings.max_member_bytes}",
            name,
        )
    if size > settings.max_compression_ratio * max(compressed, 1):
        raise ArtifactRejected(
            "compression_ratio",
            f"{name} expands {size}/{compressed}: over MAX_COMPRESSION_RATIO",
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


def check_layout(directory: Directory) -> array[int]:
    """Members lie one after another before the central directory, none inside another; returns
    where each one ends.

    Overlapping members are a zip-bomb trick, and an offset past the central directory would
    make the ranged reads ask S3 for a range it cannot serve.
    """
    offsets, compressed = directory.offsets, directory.compressed
    if len(set(offsets)) < len(offsets):
        raise ArtifactRejected("overlapping_members", "two entries share one member's bytes")
    ends = directory.ends()
    for index, offset in enumerate(offsets):
        if offset < 0 or ends[index] - offset - LOCAL_HEADER_BYTES < compressed[index]:
            name = directory.names[index]
            raise ArtifactRejected("bad_layout", f"{name} does not fit where the zip says it is", name)
    return ends


def check_record_matches(record: ReleaseRecord, manifest: dict[str, str], names: Sequence[str]) -> None:
    """The record lists exactly the zip's files, and the manifest points only at them.

    A delta's record (one with a `base`) lists its members and the files it inherits: each file
    without a member is inherited, whole families at a time (docs/artifact.md, "Delta artifacts").
    """
    members = {name[len(FILES_DIR) :] for name in names if name.startswith(FILES_DIR)}
    listed = set(record.files)
    for path in sorted(members - listed if record.base else members ^ listed)[:1]:
        where = "the zip but not release.json" if path in members else "release.json but not the zip"
        raise ArtifactRejected("record_mismatch", f"{path} is in {where}", path)
    split = split_family(members, listed) if record.base else None
    if split is not None:
        raise ArtifactRejected(
            "record_mismatch", f"{split} is inherited but a file of its family is packed", split
        )
    for name, hashed in sorted(manifest.items()):
        if hashed not in listed:
            raise ArtifactRejected(
                "manifest_missing_file",
                f"staticfiles.json maps {name} to {hashed}, which the artifact lacks",
                hashed,
            )


def check_total_bytes(release_bytes: bytes, directory: Directory) -> None:
    """release.json's total_bytes is the uncompressed size of the static/ members."""
    claimed = json.loads(release_bytes).get("total_bytes")  # parse_release read this JSON already
    if not isinstance(claimed, int) or isinstance(claimed, bool) or claimed < 0:
        raise ArtifactRejected(
            "bad_release_record", f"total_bytes must be a whole number, not {claimed!r}", RELEASE_NAME
        )
    sizes = directory.sizes
    actual = sum(sizes[i] for i, name in enumerate(directory.names) if name.startswith(FILES_DIR))
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
