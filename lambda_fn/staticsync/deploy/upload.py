"""Apply a plan's uploads: read spans of the artifact and put each file with its headers, in parallel
(threads, and past MIN_FILES_PER_PROCESS files a worker process per vCPU: deploy/workers.py)."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from ..artifact.archive import Artifact, Span
from ..artifact.ranged import S3Range
from ..artifact.stream import Large, check_member, span_files, upload_member
from ..bucket import CONDITION_FAILED, MISSING, LiveBucket, error_code
from ..config import Settings
from ..errors import ArtifactRejected
from ..meter import RequestMeter
from ..model.headers import HeaderPolicy
from .workers import BYTES_PER_FILE, Worker, partition, process_count, run_shares

T = TypeVar("T")
MULTIPART_BYTES = 64 * 1024 * 1024
MULTIPART = TransferConfig(
    multipart_threshold=MULTIPART_BYTES, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)
# Streaming a large plan: spans fetched at once, and bytes read but not yet uploaded. Together they
# bound the memory a deploy needs, whatever the artifact's size (see docs/scale.md).
READERS = 2
IN_FLIGHT_BYTES = 8 * 1024 * 1024
# Streamed spans are fetched in pieces of about this size (a plan's spans go up to GROUP_BYTES).
PIECE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Uploads:
    """Where one release's files go and how: the live bucket, the artifact they are read from, their
    headers, who hears of each upload, and whether names are written only where absent."""

    bucket: LiveBucket
    artifact: Artifact
    policy: HeaderPolicy
    on_uploaded: Callable[[str, int], None]
    only_new: bool = False
    meter: RequestMeter | None = None  # where worker processes' requests are counted

    def put(self, path: str, data: bytes) -> None:
        """One file already read and checked: its PUT, then its count."""
        digest = self.artifact.record.files[path]
        put_file(self.bucket, path, data, digest, self.policy.headers(path), only_new=self.only_new)
        self.on_uploaded(path, len(data))

    def put_large(self, path: str) -> None:
        """A member too large to hold: streamed by parts, then counted."""
        client, settings = self.bucket.client, self.bucket.settings
        put_large(client, settings, self.artifact, path, self.policy.headers(path), only_new=self.only_new)
        self.on_uploaded(path, self.artifact.size_of(path))

    def processes(self, files: int) -> int:
        """How many processes upload `files` (1: in this one, with threads, as always)."""
        return process_count(self.bucket.settings.upload_processes, files)

    def shares(self, spans: Sequence[Span], cut: bool = False) -> list[list[Span]]:
        """`spans` (`cut` into pieces) shared out by weight among the processes there are files for;
        fewer than two shares: no worker is worth starting."""
        processes = self.processes(sum(len(span.paths) for span in spans))
        if processes == 1:
            return []
        reads = [piece for span in spans for piece in pieces(self.artifact, span)] if cut else list(spans)
        weights = [len(read.paths) + (read.end - read.start) / BYTES_PER_FILE for read in reads]
        return [reads[run.start : run.stop] for run in partition(weights, processes)]

    def in_processes(self, shares: Sequence[T], task: Callable[[Worker, T], None]) -> dict[str, bytes]:
        """`task` on each share in a worker process of its own; what the tasks kept."""
        return run_shares(self.bucket, shares, task, self.on_uploaded, self.meter)

    def in_worker(self, worker: Worker) -> Uploads:
        """These uploads inside a worker process: its own client writes and reads the artifact (the
        parent's connections are never used across the fork), and each upload is relayed."""
        source = self.artifact.file.source
        if isinstance(source, S3Range):
            source.client = worker.bucket.client  # the child's copy of the artifact
        return replace(self, bucket=worker.bucket, on_uploaded=worker.uploaded, meter=None)


def put_file(
    bucket: LiveBucket,
    path: str,
    data: bytes,
    digest: str,
    headers: dict[str, str],
    *,
    only_new: bool = False,
) -> None:
    """One object, with our SHA-256 as its checksum (S3 rejects a corrupted body) and metadata.

    `only_new` is for content-addressed names: written only where absent (`IfNoneMatch: *`); one
    that exists must already hold these bytes (a retry, a release going back and forth), and one
    that holds others is refused, never overwritten.
    """
    client, settings = bucket.client, bucket.settings
    key = settings.live_key(path)
    metadata = {"sha256": digest}
    if only_new and (len(data) >= MULTIPART_BYTES and _holds(client, settings, path, digest)):
        return  # multipart uploads take no condition here: look first
    if len(data) < MULTIPART_BYTES:
        condition = {"IfNoneMatch": "*"} if only_new else {}
        try:
            client.put_object(
                Bucket=settings.live_bucket,
                Key=key,
                Body=data,
                ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
                Metadata=metadata,
                **headers,
                **condition,
            )
        except ClientError as error:
            if not (
                only_new and error_code(error) in CONDITION_FAILED and _holds(client, settings, path, digest)
            ):
                raise
        return
    extra = {**headers, "Metadata": metadata, "ChecksumAlgorithm": "SHA256"}
    client.upload_fileobj(io.BytesIO(data), settings.live_bucket, key, ExtraArgs=extra, Config=MULTIPART)


def _holds(client: Any, settings: Settings, path: str, digest: str) -> bool:
    """Whether the live `path` exists with `digest`; refuses a content-addressed name with other bytes."""
    try:
        head = client.head_object(Bucket=settings.live_bucket, Key=settings.live_key(path))
    except ClientError as error:
        if error_code(error) in MISSING:
            return False
        raise
    found = head.get("Metadata", {}).get("sha256")
    if found is None:
        return False  # written by something else (collectstatic): same name, rewrite it with ours
    if found != digest:
        raise ArtifactRejected(
            "immutable_name_conflict",
            f"{path} is content-addressed and the live bucket holds other bytes under it "
            f"(sha256 {found}); it is never overwritten",
            path,
        )
    return True


def put_files(uploads: Uploads, files: dict[str, bytes], paths: Sequence[str]) -> None:
    """Upload `paths`, already read and checked into `files`, one PUT each in parallel; with several
    processes, each PUTs its share of the files it inherited (forked after they were read)."""
    concurrency = uploads.bucket.settings.upload_concurrency
    processes = uploads.processes(len(paths))
    if processes == 1:
        run_all(lambda path: put_one(uploads, files, path), paths, concurrency)
        return
    weights = [1 + uploads.artifact.size_of(path) / BYTES_PER_FILE for path in paths]
    shares = [paths[run.start : run.stop] for run in partition(weights, processes)]

    def task(worker: Worker, share: Sequence[str]) -> None:
        mine = uploads.in_worker(worker)

        def put(path: str) -> None:
            if not worker.stop.is_set():
                put_one(mine, files, path)

        run_all(put, share, concurrency)

    uploads.in_processes(shares, task)


def read_and_put(uploads: Uploads, spans: Sequence[Span], paths: Sequence[str]) -> dict[str, bytes]:
    """Read and check every file of `spans`, then upload those of `paths`; the files read (all of
    them, or with several processes the others only) for a later phase. Nothing is written before
    every file has been checked.

    With several processes each reads its share of the spans, waits until all have checked theirs,
    then PUTs its files of `paths` and sends back the others (the caller keeps them in memory)."""
    concurrency = uploads.bucket.settings.upload_concurrency
    shares = uploads.shares(spans)
    if len(shares) < 2:
        files = read_spans(uploads.artifact, spans, concurrency)
        put_files(uploads, files, paths)
        return files
    wanted = frozenset(paths)

    def task(worker: Worker, share: Sequence[Span]) -> None:
        mine = uploads.in_worker(worker)
        files = read_spans(mine.artifact, share, concurrency)
        worker.ready()  # every process has read and checked its share
        if worker.stop.is_set():
            return

        def put(path: str) -> None:
            if not worker.stop.is_set():
                put_one(mine, files, path)

        run_all(put, [path for path in files if path in wanted], concurrency)
        for path, data in files.items():
            if path not in wanted:
                worker.keep(path, data)

    return uploads.in_processes(shares, task)


def put_one(uploads: Uploads, files: dict[str, bytes], path: str) -> None:
    data = files[path]
    if isinstance(data, Large):
        uploads.put_large(path)
    else:
        uploads.put(path, data)


def upload_spans(
    uploads: Uploads, spans: Sequence[Span], *, only: Collection[str] | None = None, keep_others: bool = False
) -> dict[str, bytes]:
    """Stream the files of `spans` to S3: a few readers fetch and check spans, many workers PUT files.

    Every file read is checked; with `only`, the others are not uploaded, and returned when
    `keep_others` (the caller knows they fit in memory). At most READERS spans and IN_FLIGHT_BYTES of
    files to upload (or one file, if larger) are held at once; a large member (stream.is_large) is
    never held whole: its reader uploads it by parts. The first failure stops the readers and is
    raised once the running PUTs finish.

    With several processes (Uploads.processes), the spans' pieces are shared out by weight and each
    process streams its share as above (reads, checks and PUTs: all its CPU is its own); what they
    keep comes back through their pipes. The first failure in any stops them all.
    """
    shares = uploads.shares(spans, cut=True)
    if len(shares) < 2:
        return Stream(uploads, only, keep_others).run(spans)

    def task(worker: Worker, share: Sequence[Span]) -> None:
        kept = Stream(uploads.in_worker(worker), only, keep_others, worker.stop).run(share)
        for path, data in kept.items():
            worker.keep(path, data)

    return uploads.in_processes(shares, task)


class Stream:
    """One streamed upload: its readers, its PUT workers, the bytes they may hold, its first failure."""

    def __init__(
        self,
        uploads: Uploads,
        only: Collection[str] | None,
        keep_others: bool,
        stop: threading.Event | None = None,
    ) -> None:
        self.uploads, self.only, self.keep_others = uploads, only, keep_others
        self.budget = ByteBudget(IN_FLIGHT_BYTES)
        self.stop = stop or threading.Event()  # set by the first failure (or, in a worker, its parent)
        self.kept: dict[str, bytes] = {}
        self.errors: list[BaseException] = []  # the first PUT failure; futures are not kept (100,000)

    def run(self, spans: Sequence[Span]) -> dict[str, bytes]:
        artifact = self.uploads.artifact
        with ThreadPoolExecutor(max_workers=self.uploads.bucket.settings.upload_concurrency) as puts:
            try:
                reads = [piece for span in spans for piece in pieces(artifact, span)]
                run_all(lambda span: self.read(span, puts), reads, READERS)
            except BaseException:
                self.stop.set()
                raise
        if self.errors:
            raise self.errors[0]
        return self.kept

    def read(self, span: Span, puts: ThreadPoolExecutor) -> None:
        artifact = self.uploads.artifact
        for path, data in span_files(artifact, span, lazy=True):
            if self.stop.is_set():
                return
            if self.only is not None and path not in self.only:
                if isinstance(data, Large):
                    check_member(artifact, path)
                if self.keep_others:
                    self.kept[path] = data
            elif isinstance(data, Large):  # streamed by this reader, in bounded parts
                self.uploads.put_large(path)
            else:
                self.budget.acquire(len(data))
                puts.submit(self.put, path, data)

    def put(self, path: str, data: bytes) -> None:
        try:
            if not self.stop.is_set():
                self.uploads.put(path, data)
        except BaseException as error:
            self.stop.set()
            self.errors.append(error)
        finally:
            self.budget.release(len(data))


def pieces(artifact: Artifact, span: Span, limit: int | None = None) -> list[Span]:
    """`span` cut at member boundaries into ranges of about `limit` bytes (PIECE_BYTES)."""
    limit = limit or PIECE_BYTES
    cuts: list[Span] = []
    start, paths = span.start, list[str]()
    for path in span.paths:
        offset = artifact.offset_of(path)
        if paths and offset - start >= limit:
            cuts.append(Span(start, offset, tuple(paths)))
            start, paths = offset, []
        paths.append(path)
    return [*cuts, Span(start, span.end, tuple(paths))]


def put_large(
    client: Any, settings: Settings, artifact: Artifact, path: str, headers: dict[str, str], *, only_new: bool
) -> None:
    """A large member, streamed by a multipart upload (which takes no condition here: look first)."""
    if only_new and _holds(client, settings, path, artifact.record.files[path]):
        return
    upload_member(client, settings, artifact, path, headers)


def read_spans(artifact: Artifact, spans: Sequence[Span], workers: int) -> dict[str, bytes]:
    """Read and check every file of `spans` into memory (a large member as LARGE), writing nothing."""
    files: dict[str, bytes] = {}

    def read(span: Span) -> None:
        files.update(span_files(artifact, span))

    run_all(read, spans, workers)
    return files


def run_all(task: Callable[[T], None], items: Sequence[T], workers: int) -> None:
    """Run `task` on every item in parallel; on the first failure cancel what has not started."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        futures = [pool.submit(task, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


class ByteBudget:
    """A counting semaphore in bytes; a request larger than the whole budget waits until it is idle."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._ready = threading.Condition()

    def acquire(self, size: int) -> None:
        with self._ready:
            self._ready.wait_for(lambda: self.used == 0 or self.used + size <= self.limit)
            self.used += size

    def release(self, size: int) -> None:
        with self._ready:
            self.used -= size
            self._ready.notify_all()
