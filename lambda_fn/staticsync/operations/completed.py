"""A delta completed by its base chain: one full artifact made of byte ranges of retained artifacts.

Nothing is copied or staged: the completed artifact is a zip whose members are the very bytes (local
header, compressed data) of the delta's members and of its bases' members for what it inherits, read
by ranged GETs of each artifact when a deploy or a repair reads them, and whose tail (central
directory, staticfiles.json, release.json) is made here. Its release.json is the delta's record
without `base`, serialised as the build tool serialises a full build's (`ReleaseRecord.to_json`), so
opening it as an `Artifact` checks every member against the delta's own record: a base artifact's
bytes are never trusted, only read.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..artifact.archive import Artifact
from ..artifact.ranged import RangeSource, SparseFile
from ..artifact.zipdir import CENTRAL, END, END64, END64_LOCATOR, LOCAL, STORED, UTF8_NAME
from ..config import Settings
from ..model.contract import FILES_DIR, MANIFEST_NAME, META_RELEASE_SHA256, RELEASE_NAME

VERSION = 45  # zip64's version: the end records are always zip64 (more than 65,535 members is common)
DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01, as the build tool writes every entry
MODE = 0o100644 << 16
SATURATED = 0xFFFF_FFFF
# Inherited files up to this many bytes are checked once before a rollback and kept for its reads.
PREVERIFY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Holder:
    """An opened artifact that holds members of the completed release, and the ranges it is read by."""

    artifact: Artifact
    source: RangeSource
    where: str


@dataclass(frozen=True)
class Piece:
    """Bytes [start, end) of the completed zip: [origin, origin + end - start) of `source`."""

    start: int
    end: int
    source: RangeSource | None  # None: the tail made here
    origin: int


class Completed:
    """The completed artifact, read as a deploy reads a staged one (deploy.run.Source).

    `uri` and `etag` are the delta's (the journal names the delta's artifact, which retention keeps
    with its base chain); `metadata` has the SHA-256 of the release.json made here; `inherited` says
    which base artifact each inherited file is read from.
    """

    tag_count = 0

    def __init__(self, uri: str, etag: str, pieces: list[Piece], tail: bytes, release_sha256: str) -> None:
        self.uri, self.etag, self.pieces, self.tail = uri, etag, pieces, tail
        self.starts = [piece.start for piece in pieces]
        self.size = pieces[-1].end
        self.metadata = {META_RELEASE_SHA256: release_sha256}
        self.inherited: dict[str, str] = {}
        self.kept: dict[int, bytes] = {}

    def initial_fragments(self) -> dict[int, bytes]:
        tail = self.pieces[-1]
        return {tail.start: self.tail}

    def check_inherited(self, settings: Settings) -> None:
        """Read and check every inherited file against the release's record, writing nothing: a base
        artifact with other bytes is refused (ArtifactRejected) before a rollback claims anything.
        Up to PREVERIFY_BYTES the ranges read are kept, so the deploy that follows reads them from
        memory; past it they are checked again as the deploy reads them."""
        artifact = Artifact(
            SparseFile(self, self.initial_fragments()), settings, self.metadata[META_RELEASE_SHA256]
        )
        paths = sorted(self.inherited)
        keep = sum(artifact.size_of(path) for path in paths) <= PREVERIFY_BYTES
        for span in artifact.spans(paths):
            if keep:
                self.kept[span.start] = self.read_range(span.start, span.end)
            for _ in artifact.read_span(span):  # each file checked as it is read
                pass

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes [start, end): from a range kept by `check_inherited`, else one ranged read of each
        artifact the range crosses."""
        for origin, data in self.kept.items():
            if origin <= start and end <= origin + len(data):
                return data[start - origin : end - origin]
        parts, at = [], start
        index = bisect.bisect_right(self.starts, start) - 1
        while at < end and index < len(self.pieces):
            piece = self.pieces[index]
            stop = min(end, piece.end)
            if piece.source is None:
                parts.append(self.tail[at - piece.start : stop - piece.start])
            else:
                offset = piece.origin + at - piece.start
                parts.append(piece.source.read_range(offset, offset + stop - at))
            at, index = stop, index + 1
        return b"".join(parts)


def complete(delta: Holder, holders: Mapping[str, Holder], uri: str, etag: str) -> Completed:
    """The full artifact of `delta`'s release: each file from the holder `holders` names for it (the
    delta for its own members), then staticfiles.json and release.json made from the delta's."""
    record = delta.artifact.record
    pieces: list[Piece] = []
    central = bytearray()
    at, total, count = 0, 0, 0
    for path in sorted(record.files):
        holder = holders.get(path, delta)
        artifact, index = holder.artifact, holder.artifact.members[path]
        directory = artifact.directory
        origin, end = directory.offsets[index], artifact.ends[index]
        extend(pieces, Piece(at, at + end - origin, holder.source, origin))
        numbers = (directory.sizes[index], directory.compressed[index], at)
        central += entry(FILES_DIR + path, directory, index, numbers)
        at, total, count = at + end - origin, total + directory.sizes[index], count + 1
    release = dataclasses.replace(record, base=None).to_json(total)
    tail = bytearray()
    for name, data in ((MANIFEST_NAME, delta.artifact.manifest_bytes), (RELEASE_NAME, release)):
        central += stored_entry(name, data, at + len(tail))
        tail += local_header(name, data) + data
        count += 1
    central_at = at + len(tail)
    tail += central + end_records(count, len(central), central_at)
    pieces.append(Piece(at, at + len(tail), None, 0))
    done = Completed(uri, etag, pieces, bytes(tail), hashlib.sha256(release).hexdigest())
    done.inherited = {path: holder.where for path, holder in holders.items()}
    return done


def extend(pieces: list[Piece], piece: Piece) -> None:
    """Append `piece`, merged with the last one when it continues it in the same artifact."""
    last = pieces[-1] if pieces else None
    if (
        last is not None
        and last.source is piece.source
        and last.origin + last.end - last.start == piece.origin
    ):
        pieces[-1] = Piece(last.start, piece.end, last.source, last.origin)
    else:
        pieces.append(piece)


def entry(name: str, directory: Any, index: int, numbers: tuple[int, int, int]) -> bytes:
    """A central directory entry for member `index` of `directory`, now at `numbers[2]`."""
    raw = name.encode()
    saturated = [n if n >= SATURATED else None for n in numbers]
    extra = b"".join(struct.pack("<Q", n) for n in saturated if n is not None)
    extra = struct.pack("<HH", 1, len(extra)) + extra if extra else b""
    size, compressed, offset = (
        SATURATED if n is not None else v for n, v in zip(saturated, numbers, strict=True)
    )
    return CENTRAL.pack(
        b"PK\x01\x02", VERSION, 3, VERSION, 0, directory.flags[index] | UTF8_NAME, directory.methods[index],
        0, DOS_DATE, directory.crcs[index], compressed, size, len(raw), len(extra), 0, 0, 0,
        directory.modes[index] << 16, offset,
    ) + raw + extra  # fmt: skip


def stored_entry(name: str, data: bytes, offset: int) -> bytes:
    raw = name.encode()
    extra = struct.pack("<HHQ", 1, 8, offset) if offset >= SATURATED else b""
    return CENTRAL.pack(
        b"PK\x01\x02", VERSION, 3, VERSION, 0, UTF8_NAME, STORED, 0, DOS_DATE, zlib.crc32(data),
        len(data), len(data), len(raw), len(extra), 0, 0, 0, MODE, min(offset, SATURATED),
    ) + raw + extra  # fmt: skip


def local_header(name: str, data: bytes) -> bytes:
    raw = name.encode()
    crc = zlib.crc32(data)
    return (
        LOCAL.pack(
            b"PK\x03\x04", VERSION, 0, UTF8_NAME, STORED, 0, DOS_DATE, crc, len(data), len(data), len(raw), 0
        )
        + raw
    )


def end_records(count: int, size: int, offset: int) -> bytes:
    """The zip64 end record, its locator and the end record (saturated where zip64 holds the value)."""
    end64_at = offset + size
    return (
        END64.pack(b"PK\x06\x06", END64.size - 12, VERSION, VERSION, 0, 0, count, count, size, offset)
        + END64_LOCATOR.pack(b"PK\x06\x07", 0, end64_at, 1)
        + END.pack(b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF), min(size, SATURATED),
                   min(offset, SATURATED), 0)
    )  # fmt: skip
