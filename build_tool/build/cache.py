"""A content-addressed cache of compressed outputs: whitenoise's .br/.gz and the zip's deflate streams.

Keyed by the SHA-256 of the input and the encoders' versions; filled on every core; kept between
builds in the folder `build_tool package --cache-dir` names, which a CI job persists with its cache
step. An output read back is used only if it decompresses to its input, so a damaged cache costs
time, never wrong bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
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


# The siblings' levels, chosen by measurement (python -m benchmarks.compression; docs/cdn.md, "Which
# siblings, at which level"). whitenoise uses brotli's default, 11; on a real set 10 is 2% larger in
# 42% of the time, and 9 is 10% larger. gzip stays at whitenoise's 9: the same bytes, and cheap.
BROTLI_QUALITY = 10
GZIP_LEVEL = 9


def compress_brotli(data: bytes, quality: int = BROTLI_QUALITY) -> bytes:
    return bytes(brotli.compress(data, quality=quality))


def compress_gzip(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """whitenoise's gzip: no file name and mtime 0, so the output depends on the input alone."""
    output = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=output, compresslevel=level, mtime=0) as file:
        file.write(data)
    return output.getvalue()


ENCODERS = {"br": compress_brotli, "gz": compress_gzip, DEFLATE: raw_deflate}
DECODERS = {
    "br": lambda data: brotli.decompress(data),
    "gz": gzip.decompress,
    DEFLATE: lambda data: zlib.decompress(data, -15),
}


def encoder_identity() -> str:
    """What the outputs depend on besides the input: a new version of any of these is a new cache."""
    versions = {name: _version(name) for name in ("whitenoise", "Brotli")}
    levels = f"brotli {BROTLI_QUALITY}, gzip {GZIP_LEVEL}, {DEFLATE}"
    return f"{sorted(versions.items())}, zlib {zlib.ZLIB_RUNTIME_VERSION}, {levels}"


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

    def __init__(self, root: Path | None, workers: int | None = None) -> None:
        self.workers = workers  # processes that fill() may use; None: every core this process may run on
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

        Afterwards each output is in `ready`, checked, so whitenoise's pass reads no entry twice. The
        outputs are the same whatever the number of workers: each is a function of its input alone.
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
        workers = self.workers or available_cores()
        for digest, outputs in _compress_all(list(missing.items()), encodings, workers):
            for encoding, output in outputs.items():
                self.put(digest, encoding, output)
            stats.count(compressed=1)


def available_cores() -> int:
    """The cores this process may run on (a CI container's CPU set), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity call
        return os.cpu_count() or 1


# Below this much input a pool costs more (a fork of a process holding Django) than it saves.
SERIAL_BYTES = 512 * 1024
# Chunks per worker: enough that the last chunks are small and no worker waits long for another.
CHUNKS_PER_WORKER = 8


def _compress_all(
    work: list[tuple[str, str]], encodings: tuple[str, ...], workers: int
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(digest, {encoding: output}) for each (digest, file), in `workers` processes when there is enough."""
    jobs = [(digest, name, encodings) for digest, name in work]
    sizes = {name: os.path.getsize(name) for _, name, _ in jobs}
    workers = min(workers, len(jobs))
    if workers <= 1 or sum(sizes.values()) < SERIAL_BYTES:
        yield from map(_compress_one, jobs)
        return
    chunks = balanced_chunks(jobs, sizes, workers * CHUNKS_PER_WORKER)
    # fork: the workers need nothing but this module, and Django's state is harmless to copy.
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("fork"), initializer=_worker_signals
    )
    try:
        for outputs in pool.map(_compress_chunk, chunks):
            yield from outputs
    except BaseException:  # cancelled (SIGTERM, Ctrl-C) or failed: stop the workers now, not after the queue
        _stop(pool)
        raise
    pool.shutdown()


def balanced_chunks(
    jobs: list[tuple[str, str, tuple[str, ...]]], sizes: dict[str, int], count: int
) -> list[list[tuple[str, str, tuple[str, ...]]]]:
    """`jobs` in about `count` chunks of similar input bytes, largest files first: a large file
    alone in its chunk, started early, so that it does not end the pass with one core busy."""
    ordered = sorted(jobs, key=lambda job: (-sizes[job[1]], job[1]))
    target = sum(sizes.values()) / max(count, 1)
    chunks: list[list[tuple[str, str, tuple[str, ...]]]] = [[]]
    held = 0
    for job in ordered:
        if chunks[-1] and held + sizes[job[1]] > target:
            chunks.append([])
            held = 0
        chunks[-1].append(job)
        held += sizes[job[1]]
    return chunks


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


def _compress_chunk(chunk: list[tuple[str, str, tuple[str, ...]]]) -> list[tuple[str, dict[str, bytes]]]:
    return [_compress_one(job) for job in chunk]


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
