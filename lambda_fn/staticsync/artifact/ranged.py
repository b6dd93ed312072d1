"""Ranged reads of one S3 object, presented as a seekable file that only fetches what is read."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ..bucket import error_code
from ..errors import ArtifactGone, TransientReadError
from ..model.contract import META_TAIL_BYTES

# The first ranged GET: the tail of an artifact (central directory, staticfiles.json, release.json).
# Without the object's size, 1 MiB: up to about 8,000 files; a GET of 1 MiB takes about as long as
# one of 256 KiB. With it (the S3 event has it), 1 MiB + 1/64 of the size: a Django set's tail is
# about 1.2-1.7% of its zip (hashed copies and .gz/.br siblings of 10 KB files), so one GET reads it
# whole up to 100,000 files and more, and reads at most about one round trip's worth of bytes too
# many (3.5 MB for 1 GB). A denser tail (long paths, tiny files) costs one more GET, by the hint.
TAIL_BYTES = 1024 * 1024
TAIL_SHARE = 64
# An artifact up to this size is read whole by the first GET: a few MB more cost less than the round
# trip of a second GET for its members (a one-file delta, a small project).
WHOLE_READ_BYTES = 4 * 1024 * 1024
# The hint is the artifact's own claim: cap what one read may pull into memory on its word.
MAX_TAIL_HINT = 64 * 1024 * 1024
# A read that stalled or lost its connection, or a body shorter than its Content-Length: ReadTimeoutError
# is an HTTPClientError (and an OSError), ConnectTimeoutError and EndpointConnectionError are botocore's
# ConnectionError.
NETWORK_ERRORS = (HTTPClientError, BotoConnectionError, IncompleteReadError)
THROTTLING_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"})
GONE_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class RangeSource(Protocol):
    """Something with a size that can return any byte range of itself."""

    size: int

    def read_range(self, start: int, end: int) -> bytes: ...


class S3Range:
    """One S3 object read by ranges, pinned to the ETag of the first read."""

    def __init__(
        self, client: Any, bucket: str, key: str, tail: int = TAIL_BYTES, size: int | None = None
    ) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        tail = first_read(tail, size)
        with reading(bucket, key):
            response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{tail}")
            self.first = response["Body"].read()
        self.etag: str = response["ETag"]
        self.metadata: dict[str, str] = response.get("Metadata", {})
        self.tag_count: int = response.get("TagCount", 0)  # x-amz-tagging-count: free, unlike the tags
        content_range = response.get("ContentRange")
        self.size = int(content_range.rsplit("/", 1)[1]) if content_range else len(self.first)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read_range(self, start: int, end: int) -> bytes:
        if len(self.first) == self.size:  # read whole by the first GET (up to WHOLE_READ_BYTES)
            return self.first[start:end]
        # IfMatch: an artifact replaced between two reads fails loudly instead of mixing versions.
        with reading(self.bucket, self.key):
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end - 1}", IfMatch=self.etag
            )
            data: bytes = response["Body"].read()
        return data

    def initial_fragments(self) -> dict[int, bytes]:
        """The tail already read, extended back to the tail-bytes hint in at most one more read.

        Handed over, not shared: this S3Range keeps the first read only when it is the whole artifact
        (read_range serves from it), so the caller's forgetting the tail frees it (up to 64 MiB)."""
        start = self.size - len(self.first)
        fragments = {start: self.first}
        hint = _int_or_zero(self.metadata.get(META_TAIL_BYTES))
        wanted = min(hint, self.size, MAX_TAIL_HINT)
        if wanted > len(self.first):
            fragments = {self.size - wanted: self.read_range(self.size - wanted, start) + self.first}
        if len(self.first) != self.size:
            self.first = b""
        return fragments


def first_read(tail: int, size: int | None) -> int:
    """The first GET's suffix length: from the object's size when it is known (0 is not known: an
    empty object, or an event without it), never more than MAX_TAIL_HINT in memory."""
    if not size or size < 0:
        return tail
    if size <= WHOLE_READ_BYTES:
        return size
    return max(1, min(size, tail + size // TAIL_SHARE, MAX_TAIL_HINT))


@contextmanager
def reading(bucket: str, key: str) -> Iterator[None]:
    """Translate S3 and network errors of a read: 404 is `ArtifactGone`, what a retry can fix is
    `TransientReadError`; the rest (403, 412 on a replaced artifact, 416 on an empty one) propagates."""
    where = f"s3://{bucket}/{key}"
    try:
        yield
    except NETWORK_ERRORS as error:
        raise TransientReadError(f"reading {where} failed ({error}); a retry reads it again") from error
    except ClientError as error:
        code = error_code(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in GONE_CODES:
            raise ArtifactGone(f"{where} no longer exists: deleted or expired before this event") from None
        if status >= 500 or code in THROTTLING_CODES:
            raise TransientReadError(f"reading {where} failed ({code}); a retry reads it again") from error
        raise


class BytesRange:
    """A RangeSource over bytes in memory: local artifacts, tests."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.reads = 0

    def read_range(self, start: int, end: int) -> bytes:
        self.reads += 1
        return self.data[start:end]


class SparseFile(io.RawIOBase):
    """A read-only file over a RangeSource: reads are served from fetched fragments.

    A read that no fragment covers fetches exactly that range (and keeps it), so callers that know
    what they will read call `prefetch` first and turn many small reads into one ranged GET.
    """

    def __init__(self, source: RangeSource, fragments: dict[int, bytes] | None = None) -> None:
        super().__init__()
        self.source = source
        self._fragments: dict[int, bytes] = dict(fragments or {})
        self._position = 0
        self._lock = threading.Lock()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.source.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        end = self.source.size if size is None or size < 0 else self._position + size
        end = min(end, self.source.size)
        if end <= self._position:
            return b""
        data = self._slice(self._position, end)
        self._position = end
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read_at(self, start: int, end: int) -> bytes:
        """Bytes [start, end) clipped at the end of the object, from a fragment or fetched."""
        end = min(end, self.source.size)
        if start >= end:
            return b""
        return self._slice(max(start, 0), end)

    def view_at(self, start: int, end: int) -> bytes | memoryview:
        """read_at, as a view of a fragment that holds the range rather than a copy of it (release
        it: the fragment is kept while it lives)."""
        end = min(end, self.source.size)
        with self._lock:
            for origin, data in self._fragments.items():
                if origin <= max(start, 0) and end <= origin + len(data):
                    return memoryview(data)[max(start, 0) - origin : end - origin]
        return self.read_at(start, end)

    def prefetch(self, start: int, end: int) -> None:
        data = self.source.read_range(start, end)
        with self._lock:
            self._fragments[start] = data

    def forget(self, start: int) -> None:
        with self._lock:
            self._fragments.pop(start, None)

    def forget_all(self) -> None:
        with self._lock:
            self._fragments.clear()

    def _slice(self, start: int, end: int) -> bytes:
        with self._lock:
            for origin, data in self._fragments.items():
                if origin <= start and end <= origin + len(data):
                    return data[start - origin : end - origin]
        return self.source.read_range(start, end)


def _int_or_zero(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
