"""Large members in bounded pieces: read and checked, or uploaded by parts completed only once checked."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterator
from typing import Any

from ..config import Settings
from ..errors import ArtifactRejected
from ..model.contract import FILES_DIR
from .archive import Artifact, Span
from .zipdir import DEFLATED, STORED, Directory, ZipFormatError, data_start

# A member larger than this is never held whole: it is read by ranges of PIECE_BYTES and, to upload,
# sent as a multipart upload of PART_BYTES parts (S3 takes parts of 5 MiB and more, but the last).
STREAM_BYTES = 16 * 1024 * 1024
PIECE_BYTES = 1024 * 1024
PART_BYTES = 8 * 1024 * 1024


class Large(bytes):
    """In a dict of files read: a large member (stream.is_large), checked in pieces and not kept;
    uploading it reads it again, in pieces (stream.upload_member)."""


LARGE = Large()


def is_large(artifact: Artifact, path: str) -> bool:
    return artifact.size_of(path) > STREAM_BYTES


def member_pieces(artifact: Artifact, path: str, piece: int = PIECE_BYTES) -> Iterator[bytes]:
    """The bytes of `path` in pieces of at most `piece` bytes, each from one ranged read.

    After the last piece the member is checked as Artifact.read_file checks it (size, CRC-32,
    SHA-256 and hashed names): a caller commits nothing before the iterator is exhausted.
    """
    name, index, read_at = FILES_DIR + path, artifact.members[path], artifact.file.read_at
    offset, directory = artifact.offset_of(path), artifact.directory
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    head_end = min(offset + piece, artifact.ends[index])
    head = [read_at(offset, head_end)]  # the local header and the first piece: one read

    def read(start: int, end: int) -> bytes:
        if head and start >= offset and end <= head_end:
            return head[0][start - offset : end - offset]
        return read_at(start, end)

    try:
        start = data_start(directory, index, name, read)
        end, inflater = start + directory.compressed[index], Inflater(directory, index, piece)
        cuts = [start, *(cut for cut in range(offset + piece, end, piece) if cut > start), end]
        for at, stop in zip(cuts, cuts[1:], strict=False):
            data = read(at, stop)
            head.clear()
            if len(data) != stop - at:
                raise ZipFormatError("the member is cut short")
            for chunk in inflater.feed(data):
                sha256.update(chunk)
                md5.update(chunk)
                yield chunk
        rest = inflater.finish()
        sha256.update(rest)
        md5.update(rest)
        if rest:
            yield rest
    except (ZipFormatError, ValueError) as error:  # UnicodeDecodeError of a header's name too
        raise ArtifactRejected("corrupt_member", f"{name} cannot be read: {error}", name) from None
    artifact.check_file(path, sha256.hexdigest(), md5.hexdigest)


def check_member(artifact: Artifact, path: str) -> int:
    """Read and check `path` in pieces, keeping none; its size."""
    for _ in member_pieces(artifact, path):
        pass
    return artifact.size_of(path)


def parts(pieces: Iterator[bytes], size: int = PART_BYTES) -> Iterator[bytes]:
    """`pieces` regrouped into parts of `size` bytes, the last one shorter."""
    part = bytearray()
    for chunk in pieces:
        part += chunk
        while len(part) >= size:
            yield bytes(part[:size])
            del part[:size]
    if part:
        yield bytes(part)


def upload_member(
    client: Any, settings: Settings, artifact: Artifact, path: str, headers: dict[str, str]
) -> None:
    """Upload `path` by a multipart upload, each part with its SHA-256 (S3 rejects a corrupted one).

    The upload is completed only once the whole member has been read and checked; any failure
    aborts it, so the live key never holds unchecked bytes.
    """
    bucket, key = settings.live_bucket, settings.live_key(path)
    metadata = {"sha256": artifact.record.files[path]}
    upload = client.create_multipart_upload(
        Bucket=bucket, Key=key, Metadata=metadata, ChecksumAlgorithm="SHA256", **headers
    )["UploadId"]
    try:
        done = []
        for number, part in enumerate(parts(member_pieces(artifact, path)), start=1):
            checksum = base64.b64encode(hashlib.sha256(part).digest()).decode()
            sent = client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload,
                PartNumber=number,
                Body=part,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
            done.append({"PartNumber": number, "ETag": sent["ETag"], "ChecksumSHA256": checksum})
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
        )
    except BaseException:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        raise


def span_files(artifact: Artifact, span: Span, *, lazy: bool = False) -> Iterator[tuple[str, bytes]]:
    """Artifact.read_span, but a large member is never held whole: it is checked in pieces and given
    as LARGE (with `lazy`, given as LARGE unread, for the caller to stream or check)."""
    large = [path for path in span.paths if is_large(artifact, path)]
    if len(large) == len(span.paths):  # one member alone in its span: nothing to fetch at once
        for path in large:
            if not lazy:
                check_member(artifact, path)
            yield path, LARGE
        return
    artifact.file.prefetch(span.start, span.end)
    try:
        for path in span.paths:
            if path not in large:
                yield path, artifact.read_file(path)
                continue
            if not lazy:
                check_member(artifact, path)
            yield path, LARGE
    finally:
        artifact.file.forget(span.start)


class Inflater:
    """Member `index`'s bytes from its compressed data fed in pieces, each output bounded; `finish`
    checks what `inflate` checks: exactly its size, and its CRC-32."""

    def __init__(self, directory: Directory, index: int, limit: int) -> None:
        self.size, self.crc, self.limit = directory.sizes[index], directory.crcs[index], limit
        method = directory.methods[index]
        if method not in (STORED, DEFLATED):
            raise ZipFormatError(f"compression method {method} is not supported")
        self._inflater = zlib.decompressobj(-15) if method == DEFLATED else None
        self.produced, self.running = 0, 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The bytes `data` inflates to, in pieces of at most `limit` bytes."""
        if self._inflater is None:
            yield self._count(data)
            return
        try:
            while data:
                yield self._count(self._inflater.decompress(data, self.limit))
                data = self._inflater.unconsumed_tail
        except zlib.error as error:
            raise ZipFormatError(f"the member does not inflate: {error}") from None

    def finish(self) -> bytes:
        """What the inflater still held (a few bytes at most), once the sizes and the CRC-32 agree."""
        try:
            rest = self._count(self._inflater.flush()) if self._inflater is not None else b""
        except zlib.error as error:
            raise ZipFormatError(f"the member does not inflate: {error}") from None
        if self.produced != self.size:
            raise ZipFormatError(f"the member inflates to {self.produced} bytes, not {self.size}")
        if self.running != self.crc:
            raise ZipFormatError("bad CRC-32")
        return rest

    def _count(self, chunk: bytes) -> bytes:
        self.produced += len(chunk)
        if self.produced > self.size:
            raise ZipFormatError(f"the member inflates to more than {self.size} bytes")
        self.running = zlib.crc32(chunk, self.running)
        return chunk
