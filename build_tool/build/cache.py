"""A content-addressed cache of compressed outputs: whitenoise's .br/.gz and the zip's deflate streams.

Keyed by the SHA-256 of the input and the encoders' versions; filled on every core; kept between
builds in the folder `build_tool package --cache-dir` names, which a CI job persists with its cache
step. An output read back is used only if it decompresses to its input, so a damaged cache costs
time, never wrong bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import signal
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from whitenoise.compress import Compressor

try:
    import brotli
except ImportError:  # pragma: no cover - whitenoise[brotli] is a dependency
    brotli = None

# A zip member's deflate stream at the packer's level: what zipfile writes for ZIP_DEFLATED.
DEFLATE_LEVEL = 6
DEFLATE = f"deflate{DEFLATE_LEVEL}"


def raw_deflate(data: bytes, level: int = DEFLATE_LEVEL) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


ENCODERS = {"br": Compressor.compress_brotli, "gz": Compressor.compress_gzip, DEFLATE: raw_deflate}
DECODERS = {
    "br": lambda data: brotli.decompress(data),
    "gz": gzip.decompress,
    DEFLATE: lambda data: zlib.decompress(data, -15),
}


def encoder_identity() -> str:
    """What the outputs depend on besides the input: a new version of any of these is a new cache."""
    versions = {name: _version(name) for name in ("whitenoise", "Brotli")}
    return f"{sorted(versions.items())}, zlib {zlib.ZLIB_RUNTIME_VERSION}"


@dataclass
class CompressionStats:
    """How many distinct contents were compressed this build, how many came from the cache, and how
    many files were not compressed at all because the live release has their bytes (build.delta)."""

    compressed: int = 0
    reused: int = 0
    inherited: int = 0
    seconds: float = 0.0  # wall time of the compression pass (build.compress), for --json's timings
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, *, compressed: int = 0, reused: int = 0, inherited: int = 0) -> None:
        with self._lock:
            self.compressed += compressed
            self.reused += reused
            self.inherited += inherited


class CompressionCache:
    """Compressed outputs on disk, one file per (input SHA-256, encoding), under the encoder identity.

    A CI job persists `root` with its cache step. Entries are written through a temporary file and
    os.replace, so a crash leaves no half entry; an entry that does not decompress to its input is
    ignored and replaced, so a damaged cache costs time, never wrong bytes. Without a `root` (no
    --cache-dir) the outputs live in `ready` only, for one build: writing entries nobody reads again
    would cost a file creation each.
    """

    def __init__(self, root: Path | None) -> None:
        self.root: Path | None = None
        if root is not None:
            identity = hashlib.sha256(encoder_identity().encode()).hexdigest()[:16]
            self.root = Path(root) / "v1" / identity
            self.root.mkdir(parents=True, exist_ok=True)
        self.ready: dict[tuple[str, str], bytes] = {}  # checked this build: (digest, encoding) -> output

    def path(self, digest: str, encoding: str) -> Path:
        if self.root is None:
            raise ValueError("a cache without a folder has no paths")
        return self.root / digest[:2] / f"{digest}.{encoding}"

    def get(self, digest: str, encoding: str, data: bytes) -> bytes | None:
        if self.root is None:
            return None
        try:
            output = self.path(digest, encoding).read_bytes()
        except FileNotFoundError:
            return None
        try:
            if DECODERS[encoding](output) == data:
                return output
        except Exception:  # brotli.error, zlib.error, EOFError, ...: damaged entry
            pass
        return None

    def put(self, digest: str, encoding: str, output: bytes) -> None:
        self.ready[digest, encoding] = output
        if self.root is None:
            return
        target = self.path(digest, encoding)
        target.parent.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(output)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def fill(self, files: Iterable[str], encodings: tuple[str, ...], stats: CompressionStats) -> None:
        """Make every output `files` will need that the cache lacks, in parallel across cores.

        Afterwards each output is in `ready`, checked, so whitenoise's pass reads no entry twice.
        """
        missing: dict[str, str] = {}  # input digest -> one file holding it
        seen: set[str] = set()
        for name in files:
            data = Path(name).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            found = {encoding: self.get(digest, encoding, data) for encoding in encodings}
            if None in found.values():
                missing[digest] = name
                continue
            self.ready.update({(digest, encoding): output for encoding, output in found.items() if output})
            stats.count(reused=1)
        for digest, outputs in _compress_all(list(missing.items()), encodings):
            for encoding, output in outputs.items():
                self.put(digest, encoding, output)
            stats.count(compressed=1)


def _compress_all(
    work: list[tuple[str, str]], encodings: tuple[str, ...]
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(digest, {encoding: output}) for each (digest, file), on every core when there is enough work."""
    jobs = [(digest, name, encodings) for digest, name in work]
    workers = min(os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        yield from map(_compress_one, jobs)
        return
    # fork: the workers need nothing but this module, and Django's state is harmless to copy.
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("fork"), initializer=_worker_signals
    )
    try:
        yield from pool.map(_compress_one, jobs, chunksize=max(1, len(jobs) // (workers * 8)))
    except BaseException:  # cancelled (SIGTERM, Ctrl-C) or failed: stop the workers now, not after the queue
        _stop(pool)
        raise
    pool.shutdown()


def _worker_signals() -> None:
    """Workers leave SIGINT to the parent (a terminal sends it to the whole group, and one traceback
    per worker helps nobody) and die on SIGTERM, whatever handler they inherited through fork."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)


def _compress_one(job: tuple[str, str, tuple[str, ...]]) -> tuple[str, dict[str, bytes]]:
    digest, name, encodings = job
    data = Path(name).read_bytes()
    return digest, {encoding: ENCODERS[encoding](data) for encoding in encodings}


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"


class CachedDeflate:
    """Stands in for the zlib compressor zipfile makes for one member: the stream comes from the cache.

    zipfile feeds a member to compress() and ends it with flush(); the bytes returned are those
    zlib.compressobj(level, DEFLATED, -15) would return, so the zip is the same, byte for byte.
    """

    def __init__(self, cache: CompressionCache) -> None:
        self.cache = cache
        self.chunks: list[bytes] = []

    def compress(self, data: bytes) -> bytes:
        self.chunks.append(bytes(data))
        return b""

    def flush(self) -> bytes:
        data = b"".join(self.chunks)
        digest = hashlib.sha256(data).hexdigest()
        output = self.cache.ready.get((digest, DEFLATE))
        return output if output is not None else raw_deflate(data)


@contextmanager
def deflate_from(cache: CompressionCache) -> Iterator[None]:
    """While active, zipfile's DEFLATE_LEVEL members take their streams from `cache`.

    zipfile has no public way to write a member compressed elsewhere, so this swaps its compressor
    factory for the duration (the build tool packs one zip at a time, in one thread). Were the
    factory ever renamed, packing would still work, just without the cache.
    """
    original = getattr(zipfile, "_get_compressor", None)
    if original is None:
        yield
        return

    def get_compressor(compress_type: int, compresslevel: int | None = None) -> Any:
        if compress_type == zipfile.ZIP_DEFLATED and compresslevel == DEFLATE_LEVEL:
            return CachedDeflate(cache)
        return original(compress_type, compresslevel)

    zipfile._get_compressor = get_compressor  # type: ignore[attr-defined]
    try:
        yield
    finally:
        zipfile._get_compressor = original  # type: ignore[attr-defined]
