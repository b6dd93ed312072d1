"""A local artifact read by ranges, as a deploy reads a staged one: the source of a direct deploy."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import TracebackType

from ..model.contract import META_SHA256, META_TAIL_BYTES
from .ranged import MAX_TAIL_HINT, TAIL_BYTES, first_read

# A direct deploy's artifact is in no bucket: its journal entry and report name it by this scheme and
# its file name (`direct:<release>.zip`), the same on a retry, so a retry resumes its own claim.
DIRECT_SCHEME = "direct:"
PIECE_BYTES = 8 * 1024 * 1024  # hashed in pieces of this size when no digest is given


class LocalRange:
    """A zip on disk with what a deploy asks of a staged one (S3Range): its size, an ETag, the
    metadata build_tool would have staged it with, no tags, the tail first, and any byte range.

    Reads use `os.pread`, so the upload threads share one open file without a lock. `metadata` is
    what staging would send (release-sha256 at least); the ETag is the zip's SHA-256, from the
    metadata's `sha256` when given, else read here.
    """

    tag_count = 0  # a local file carries no rejection tag: nothing is tagged, nothing is read

    def __init__(self, path: Path, metadata: dict[str, str]) -> None:
        self.path, self.metadata = path, dict(metadata)
        self.uri = f"{DIRECT_SCHEME}{path.name}"
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size
        self.etag = f'"{self.metadata.get(META_SHA256) or self._digest()}"'

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes [start, end); a file shorter than it was when opened is an error, never a short read."""
        data = os.pread(self._fd, end - start, start)
        if len(data) != end - start:
            raise OSError(
                f"{self.path} changed while it was deployed: {len(data)} of {end - start} bytes read"
            )
        return data

    def initial_fragments(self) -> dict[int, bytes]:
        """The tail in one read: as long as S3Range's first GET, or the tail-bytes hint when longer."""
        hint = self.metadata.get(META_TAIL_BYTES, "")
        wanted = min(int(hint), MAX_TAIL_HINT) if hint.isdigit() else 0
        start = self.size - min(self.size, max(first_read(TAIL_BYTES, self.size), wanted))
        return {start: self.read_range(start, self.size)}

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> LocalRange:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _digest(self) -> str:
        digest = hashlib.sha256()
        for start in range(0, self.size, PIECE_BYTES):
            digest.update(self.read_range(start, min(self.size, start + PIECE_BYTES)))
        return digest.hexdigest()
