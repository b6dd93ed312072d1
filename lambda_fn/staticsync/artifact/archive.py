"""Open a staged artifact, check it against the contract, and read its members by coalesced ranges."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ..config import Settings
from ..errors import ArtifactRejected
from ..model.contract import (
    FILES_DIR,
    MANIFEST_NAME,
    RELEASE_NAME,
    ReleaseRecord,
    load_release,
    parse_manifest,
    release_of,
)
from ..model.names import hashed_name_of, hashed_sources, sources_of
from .members import check_layout, check_manifest_targets, check_members, check_total_bytes
from .ranged import SparseFile
from .table import check_entries, keyed_members
from .zipdir import Directory, ZipFormatError, data_start, inflate, read_directory

# Members closer than this are fetched in one ranged GET: skipping the bytes between two members
# saves less than a second round trip costs (20-50 ms at 50-100 MB/s per connection is 1-5 MB of
# transfer; see benchmarks/README.md, "Scattered changes").
COALESCE_GAP = 2 * 1024 * 1024
GROUP_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Span:
    """A byte range of the artifact and the files whose members it holds."""

    start: int
    end: int
    paths: tuple[str, ...]


class Artifact:
    """A validated artifact: its release record, its manifest, and its members on demand.

    Opening one holds what a deploy needs of the tail and no more: the tail is dropped once its
    two documents are read, the directory's names once each member is keyed by the record's own
    string for its path, release.json is kept compressed, and the manifest shares the record's
    strings (a path is held once, however many structures name it).
    """

    def __init__(self, file: SparseFile, settings: Settings, expected_release_sha256: str | None) -> None:
        self.file = file
        directory = open_directory(file)
        check_entries(directory, settings)
        self.ends = check_layout(directory)
        self.directory = directory
        self._release = self._member(RELEASE_NAME, find(directory, RELEASE_NAME))
        manifest_member = self._later(MANIFEST_NAME, find(directory, MANIFEST_NAME))
        file.forget_all()  # the tail is parsed: members are read by their own spans
        self.record, total_bytes = self._read_release(expected_release_sha256)
        files = self.record.files
        # Keyed by the record's own strings: the directory's copy of every path is dropped here.
        self.members, extra, claimed = keyed_members(directory, files)
        self.manifest_bytes, self.manifest = self._read_manifest(manifest_member())
        check_members(self.record, packed_paths(self.members, files, extra))
        check_manifest_targets(self.manifest, files)
        check_total_bytes(total_bytes, [claimed])
        self.hashed_sources = hashed_sources(self.manifest)
        # A delta's files without a member: the plan checks them against its base (plan.check_base).
        self.inherited = frozenset(files.keys() - self.members.keys()) if self.record.base else frozenset()

    def _read_release(self, expected_sha256: str | None) -> tuple[ReleaseRecord, object]:
        """The record, checked against the release-sha256 the build tool recorded, and the
        total_bytes it claims: one parse, with only the text it is parsed from in memory."""
        release_bytes = self._inflate(*self._release)
        # Kept: a cutover's metadata names it, and hashing the 20 MB again means inflating them again.
        self.release_sha256 = hashlib.sha256(release_bytes).hexdigest()
        if expected_sha256 is not None and self.release_sha256 != expected_sha256:
            raise ArtifactRejected(
                "checksum_mismatch",
                "release.json does not match the release-sha256 the build tool recorded",
                RELEASE_NAME,
            )
        text = json_text(release_bytes)
        del release_bytes  # the text is twice its size: free what it was made of before the parse
        document = load_release(text)
        del text
        return release_of(document), document.get("total_bytes")

    def _read_manifest(self, member: tuple[str, int, bytes]) -> tuple[bytes, dict[str, str]]:
        """staticfiles.json's bytes, checked against the record, and its paths in the record's strings."""
        manifest_bytes = self._inflate(*member)
        if hashlib.sha256(manifest_bytes).hexdigest() != self.record.manifest_sha256:
            raise ArtifactRejected(
                "checksum_mismatch", "staticfiles.json does not match release.json", MANIFEST_NAME
            )
        text = json_text(manifest_bytes)
        del manifest_bytes  # as release.json's; inflated again once the parse is done
        parsed = parse_manifest(text)
        del text
        manifest = shared_strings(parsed, self.record.files)
        del parsed
        return self._inflate(*member), manifest

    @property
    def release_bytes(self) -> bytes:
        """release.json, inflated again from its compressed bytes (kept at a fifth of its size)."""
        return self._inflate(*self._release)

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
        self.check_file(path, hashlib.sha256(data).hexdigest(), lambda: md5_hex(data))
        return data

    def check_file(self, path: str, sha256_hex: str, md5: Callable[[], str]) -> None:
        """A file's content, by its digests, is the one release.json lists, and the one each name it
        is the hashed name of gives (`md5` is asked only then)."""
        if sha256_hex != self.record.files[path]:
            raise ArtifactRejected(
                "checksum_mismatch", f"{path} does not match its SHA-256 in release.json", path
            )
        for name in sources_of(self.hashed_sources, path):
            # Hashed names are cached for a year as immutable: the name must be the content's.
            if hashed_name_of(name, md5()) != path:
                raise ArtifactRejected(
                    "hashed_name_mismatch",
                    f"{path} is the hashed name of {name}, but its content would be named "
                    f"{hashed_name_of(name, md5())}",
                    path,
                )

    def _read(self, name: str, index: int | None) -> bytes:
        return self._inflate(*self._member(name, index))

    def _member(self, name: str, index: int | None) -> tuple[str, int, bytes]:
        """(name, index, its compressed bytes), its local header checked."""
        if index is None:
            raise ArtifactRejected("missing_member", f"the artifact has no {name}", name)
        read, directory = self.file.read_at, self.directory
        try:
            start = data_start(directory, index, name, read)
        except (ZipFormatError, ValueError) as error:  # UnicodeDecodeError of a header's name too
            raise ArtifactRejected("corrupt_member", f"{name} cannot be read: {error}", name) from None
        return name, index, read(start, start + directory.compressed[index])

    def _later(self, name: str, index: int | None) -> Callable[[], tuple[str, int, bytes]]:
        """`_member` read now, while the tail is at hand; a rejection raised when it is called, in
        the order the checks have always run."""
        try:
            member = self._member(name, index)
        except ArtifactRejected as error:
            rejection = error

            def reject() -> tuple[str, int, bytes]:
                raise rejection

            return reject
        return lambda: member

    def _inflate(self, name: str, index: int, data: bytes) -> bytes:
        try:
            return inflate(self.directory, index, data)
        except ZipFormatError as error:
            raise ArtifactRejected("corrupt_member", f"{name} cannot be read: {error}", name) from None


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def json_text(data: bytes) -> str | bytes:
    """`data` decoded as json.loads decodes it; bytes it cannot decode are returned for json.loads
    to reject with its own message."""
    try:
        return data.decode(json.detect_encoding(data), "surrogatepass")
    except UnicodeDecodeError:
        return data


def packed_paths(members: Mapping[str, int], files: dict[str, str], extra: str | None) -> Collection[str]:
    """The paths of the static/ members (those the record lists, and `extra`): the record's own keys
    when it lists exactly the members (members holds only paths the record lists: as many is the same)."""
    if extra is None and len(members) == len(files):
        return files.keys()
    return members.keys() | {extra} if extra else members.keys()


def find(directory: Directory, name: str) -> int | None:
    """The index of member `name`, looked for from the end, where the contract puts the tail's."""
    names = directory.names
    return next((i for i in reversed(range(len(names))) if names[i] == name), None)


def shared_strings(manifest: dict[str, str], files: dict[str, str]) -> dict[str, str]:
    """`manifest` with the record's own string objects for the paths it names (same keys, values and
    order): its own copies, a third of the tail's memory, are freed."""
    own = dict(zip(files, files, strict=True))
    return {own.get(name, name): own.get(hashed, hashed) for name, hashed in manifest.items()}


def open_directory(file: SparseFile) -> Directory:
    if file.source.size == 0:
        raise ArtifactRejected("empty_artifact", "the artifact is an empty object")
    try:
        return read_directory(file.read_at, file.source.size, file.view_at)
    except (ZipFormatError, ValueError) as error:  # a name that is not UTF-8 is a ValueError
        raise ArtifactRejected("not_a_zip", f"the artifact is not a readable zip: {error}") from None


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
