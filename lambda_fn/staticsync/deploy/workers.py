"""Uploads in worker processes, one per vCPU: each its own client, its results relayed through a pipe."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from botocore.exceptions import ClientError

from ..bucket import LiveBucket
from ..errors import ArtifactRejected, SyncError
from ..meter import RequestMeter

T = TypeVar("T")
# Lambda gives a function one vCPU's worth of CPU time per 1,769 MB of memory (up to 6 at 10,240 MB).
MB_PER_VCPU = 1769
# A process is started only for at least this many files: forking and a client cost 10-20 ms, a
# file about 2 ms of CPU, so a smaller share gains less than it costs (a one-file change never forks).
MIN_FILES_PER_PROCESS = 64
# Bytes that cost the CPU about what one file's request does (inflate, SHA-256, MD5, send).
BYTES_PER_FILE = 256 * 1024
# A child's uploads are relayed in batches of this many, and what it keeps in batches of about this size.
RELAY_FILES = 256
RELAY_BYTES = 1024 * 1024
# How long a stopped child may take to end (its running requests finish) before it is killed.
JOIN_SECONDS = 60.0


class WorkerDied(SyncError, RuntimeError):
    """An upload worker process ended without a result (killed, out of memory): the deploy fails before
    its cutover, and a retry uploads again (content-addressed names are written only where absent)."""


def vcpus(environ: Mapping[str, str] | None = None, cpus: int | None = None) -> int:
    """The vCPUs this function may use: its memory / 1,769 MB, rounded, at most the CPUs it may run on.
    Outside Lambda (no AWS_LAMBDA_FUNCTION_MEMORY_SIZE: tests, a direct deploy) 1, today's path."""
    env = os.environ if environ is None else environ
    memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "").strip()
    if not memory.isdigit():
        return 1
    available = len(os.sched_getaffinity(0)) if cpus is None else cpus
    return max(1, min(available, (int(memory) + MB_PER_VCPU // 2) // MB_PER_VCPU))


def process_count(setting: int, files: int, available: int | None = None) -> int:
    """How many processes upload `files`: the setting (0: `vcpus()`), at most one per
    MIN_FILES_PER_PROCESS files, at least one (1 is today's in-process path, no fork)."""
    wanted = setting or (vcpus() if available is None else available)
    return max(1, min(wanted, files // MIN_FILES_PER_PROCESS))


def partition(weights: Sequence[float], parts: int) -> list[range]:
    """Items cut into min(parts, len(weights)) contiguous, non-empty runs of about equal total weight:
    no run exceeds its share (total / parts) by more than its last item."""
    count = len(weights)
    parts = min(parts, count)
    runs: list[range] = []
    start, total, running = 0, sum(weights), 0.0
    for index, weight in enumerate(weights):
        running += weight
        cuts, left = len(runs) + 1, count - index - 1  # runs once cut here, items after this one
        due = running >= total * cuts / parts or left == parts - cuts
        if cuts < parts and left >= parts - cuts and due:
            runs.append(range(start, index + 1))
            start = index + 1
    if start < count:
        runs.append(range(start, count))
    return runs


@dataclass(frozen=True)
class Worker:
    """What a task in a child process is given: its own live bucket (a new client, its own
    connections), the event that tells it to stop, and where to report what it uploaded and kept."""

    bucket: LiveBucket
    stop: threading.Event
    uploaded: Callable[[str, int], None]
    keep: Callable[[str, bytes], None]
    ready: Callable[[], None]  # wait until every worker is ready (then go on unless told to stop)


@dataclass(frozen=True)
class Failure:
    """A child's first error, as the parent raises it again: the same type (ArtifactRejected with its
    code and member, botocore's ClientError with its response), its traceback as a note."""

    kind: str  # "rejected", "client", "pickled" or "text"
    message: str
    detail: tuple[Any, ...] = ()
    trace: str = ""

    @classmethod
    def of(cls, error: BaseException) -> Failure:
        trace = "".join(traceback.format_exception(error))
        if isinstance(error, ArtifactRejected):
            return cls("rejected", str(error), (error.code, error.member), trace)
        if isinstance(error, ClientError):
            return cls("client", str(error), (error.response, error.operation_name), trace)
        try:
            pickled = pickle.dumps(error)
            pickle.loads(pickled)
        except Exception:
            return cls("text", f"{type(error).__name__}: {error}", (), trace)
        return cls("pickled", str(error), (pickled,), trace)

    def exception(self) -> BaseException:
        error: BaseException
        if self.kind == "rejected":
            error = ArtifactRejected(self.detail[0], self.message, self.detail[1])
        elif self.kind == "client":
            error = ClientError(*self.detail)
        elif self.kind == "pickled":
            error = pickle.loads(self.detail[0])
        else:
            error = RuntimeError(f"an upload worker process failed: {self.message}")
        error.add_note(f"raised in an upload worker process:\n{self.trace}")
        return error


def run_shares(
    bucket: LiveBucket,
    shares: Sequence[T],
    task: Callable[[Worker, T], None],
    on_uploaded: Callable[[str, int], None],
    meter: RequestMeter | None = None,
) -> dict[str, bytes]:
    """Run `task` on each share in its own forked process; what the tasks kept, once all have ended.

    The first failure stops the others (their running requests finish) and is raised here; a child
    that ends without a result (killed, out of memory) raises WorkerDied. A task that calls
    `worker.ready()` waits there until every task still running has (a barrier: e.g. every file
    read and checked before any is written). Each child's uploads reach
    `on_uploaded` and its requests `meter` as they would from this process. Only Process and Pipe are
    used: Lambda has no /dev/shm, so multiprocessing's Pool, Queue and locks fail there.
    """
    children = start(bucket, shares, task)
    try:
        return Parent(children, on_uploaded, meter).collect()
    finally:
        for child in children:
            end(child)


@dataclass
class Child(Generic[T]):
    index: int
    process: Any  # multiprocessing's fork Process
    conn: Connection
    open: bool = True
    ready: bool = False


def start(bucket: LiveBucket, shares: Sequence[T], task: Callable[[Worker, T], None]) -> list[Child[T]]:
    """Fork a child per share, before any upload thread of this phase exists: the pools that read
    earlier have ended, and what else may run (the live reader's idle thread) holds no lock a child
    takes. gc.freeze keeps the children's collector from writing to (so copying) every inherited page."""
    context = multiprocessing.get_context("fork")
    credentials = frozen_credentials(bucket.client)  # a refresh, if any, happens here, once
    children: list[Child[T]] = []
    gc.freeze()
    try:
        for index, share in enumerate(shares):
            mine, theirs = context.Pipe()
            inherited = [child.conn for child in children]
            args = (bucket, credentials, share, task, theirs, inherited)
            process = context.Process(target=child_main, args=args, name=f"upload-{index}", daemon=True)
            process.start()
            theirs.close()
            children.append(Child(index, process, mine))
    except BaseException:
        for child in children:
            end(child)
        raise
    finally:
        gc.unfreeze()
    return children


def end(child: Child[Any]) -> None:
    """Wait for a child (killed if it does not end in JOIN_SECONDS) and close its pipe."""
    child.process.join(JOIN_SECONDS if not child.open else 0)
    if child.process.is_alive():
        child.process.kill()
        child.process.join()
    child.conn.close()


class Parent:
    """The parent's side: relays each child's messages until every child has ended."""

    def __init__(
        self, children: list[Child[Any]], on_uploaded: Callable[[str, int], None], meter: RequestMeter | None
    ) -> None:
        self.children, self.on_uploaded, self.meter = children, on_uploaded, meter
        self.kept: dict[str, bytes] = {}
        self.first: BaseException | None = None

    def collect(self) -> dict[str, bytes]:
        by_conn = {child.conn: child for child in self.children}
        while pending := [conn for conn, child in by_conn.items() if child.open]:
            for conn in wait(pending):
                self.receive(by_conn[conn])  # type: ignore[index]
        if self.first is not None:
            raise self.first
        return self.kept

    def receive(self, child: Child[Any]) -> None:
        try:
            kind, payload = child.conn.recv()
        except (EOFError, OSError, pickle.UnpicklingError):
            child.open = False
            child.process.join(JOIN_SECONDS)
            self.fail(WorkerDied(died(child.index, child.process.exitcode)))
            return
        if kind == "uploaded":
            for path, size in payload:
                self.on_uploaded(path, size)
        elif kind == "kept":
            self.kept.update(payload)
        elif kind == "ready":
            child.ready = True
        else:  # "done" or "failed": the child's last message
            child.open = False
            counts, failure = payload
            if self.meter is not None:
                self.meter.add(counts)
            if failure is not None:
                self.fail(failure.exception())
        self.release()

    def release(self) -> None:
        """Once every child still running is ready, and none failed, tell them to go on."""
        waiting = [child for child in self.children if child.open and child.ready]
        if self.first is None and waiting and all(c.ready for c in self.children if c.open):
            for child in waiting:
                child.ready = False
                with contextlib.suppress(OSError):  # it is ending: its EOF comes next
                    child.conn.send(("go", None))

    def fail(self, error: BaseException) -> None:
        """Keep the first failure and tell every child still running to stop."""
        if self.first is not None:
            return
        self.first = error
        for child in self.children:
            if child.open:
                with contextlib.suppress(OSError):  # it is ending: its EOF comes next
                    child.conn.send(("stop", None))


def died(index: int, code: int | None) -> str:
    how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
    return (
        f"upload worker process {index} ended without a result ({how}; SIGKILL is usually the "
        "function's memory limit): nothing was cut over and a retry uploads again (raise the "
        "function's memory, or set UPLOAD_PROCESSES=1)"
    )


def child_main(
    bucket: LiveBucket,
    credentials: Any,
    share: Any,
    task: Callable[[Worker, Any], None],
    conn: Connection,
    inherited: list[Connection],
) -> None:
    """A child's whole life: a new client (never the parent's, whose connections it shares), the task,
    one last message (its request counts and its failure, if any)."""
    for other in inherited:
        other.close()  # the parent's ends of earlier children's pipes: only the parent holds them
    link = Link(conn)
    meter, failure = RequestMeter(), None
    try:
        client = meter.attach(fresh_client(bucket.client, credentials))
        worker = Worker(LiveBucket(client, bucket.settings), link.stop, link.uploaded, link.keep, link.ready)
        task(worker, share)
    except BaseException as error:
        failure = Failure.of(error)
        link.stop.set()
    try:
        link.flush()
        conn.send(("failed" if failure else "done", (meter.by_operation(), failure)))
    except OSError:
        pass  # the parent is gone: nothing is left to tell
    finally:
        conn.close()


class Link:
    """A child's side of its pipe: uploads and kept files sent in batches (from many threads), and a
    listener that sets `stop` when the parent says so or goes away, and `go` when it says go on."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.stop, self.go = conn, threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._uploaded: list[tuple[str, int]] = []
        self._kept: dict[str, bytes] = {}
        self._kept_bytes = 0
        threading.Thread(target=self.listen, name="upload-link", daemon=True).start()

    def listen(self) -> None:
        try:
            while self.conn.recv()[0] != "stop":
                self.go.set()
        except (EOFError, OSError):
            pass
        self.stop.set()
        self.go.set()

    def ready(self) -> None:
        """Tell the parent this worker is ready; wait for its go (or its stop)."""
        with self._lock:
            self.go.clear()
            self.conn.send(("ready", None))
        self.go.wait()

    def uploaded(self, path: str, size: int) -> None:
        with self._lock:
            self._uploaded.append((path, size))
            if len(self._uploaded) >= RELAY_FILES:
                self._send_uploaded()

    def keep(self, path: str, data: bytes) -> None:
        with self._lock:
            self._kept[path] = data
            self._kept_bytes += len(data)
            if self._kept_bytes >= RELAY_BYTES:
                self._send_kept()

    def flush(self) -> None:
        with self._lock:
            self._send_uploaded()
            self._send_kept()

    def _send_uploaded(self) -> None:
        if self._uploaded:
            self.conn.send(("uploaded", self._uploaded))
            self._uploaded = []

    def _send_kept(self) -> None:
        if self._kept:
            self.conn.send(("kept", self._kept))
            self._kept, self._kept_bytes = {}, 0


def frozen_credentials(client: Any) -> Any:
    """The parent client's credentials as plain values (None when it signs nothing)."""
    credentials = client._get_credentials()
    return credentials.get_frozen_credentials() if credentials is not None else None


def fresh_client(client: Any, credentials: Any) -> Any:
    """A new S3 client like `client`: its region, configuration (pool size, retries, addressing),
    credentials and, when it was given one, endpoint. Its service model comes from the parent's
    loader, inherited by the fork: 9 ms of CPU instead of 57 ms, and no second copy in memory."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", client._loader)
    keys = {}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials.access_key,
            "aws_secret_access_key": credentials.secret_key,
            "aws_session_token": credentials.token,
        }
    session = boto3.session.Session(botocore_session=core, region_name=client.meta.region_name, **keys)
    endpoint = client._ruleset_resolver._builtins.get("SDK::Endpoint")
    return session.client("s3", endpoint_url=endpoint, config=client.meta.config)
