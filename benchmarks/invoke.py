"""Invoke the Lambda handler once, in this fresh process, on the S3 event for one staged artifact.

Prints one JSON line: the deploy report, the handler's duration and CPU time, the import (cold start)
time and the process's peak RSS (what Lambda reports as Max Memory Used). Run by benchmarks/run.py with
AWS_ENDPOINT_URL_S3 pointing at the latency proxy.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent


def event(bucket: str, key: str, size: int) -> dict[str, Any]:
    """The S3 record, with the object's real size: the handler sizes its first read from it."""
    s3 = {
        "s3SchemaVersion": "1.0",
        "configurationId": "bench",
        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
        "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": "", "sequencer": "0"},
    }
    record: dict[str, Any] = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1"}
    record |= {"eventTime": "2026-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put", "s3": s3}
    return {"Records": [record]}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec.

    (getrusage's ru_maxrss does not: after fork and exec it still holds the parent's peak.)
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@contextlib.contextmanager
def profiled(path: str) -> Iterator[None]:
    """cProfile around the block, its stats written to `path` (nothing when `path` is empty)."""
    if not path:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


class PeakStacks:
    """Samples this process's RSS every few milliseconds from a thread and keeps the main thread's
    stack (the staticsync frames) when it reaches a new peak: what the process was doing at its
    high-water mark. A context manager; `stack` is the innermost frames first."""

    def __init__(self, every: float = 0.005) -> None:
        self.every, self.peak, self.stack = every, 0, [""]
        self._main = threading.main_thread().ident
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-stacks", daemon=True)

    def __enter__(self) -> PeakStacks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.wait(self.every):
            rss = _rss_kb()
            if rss > self.peak:
                self.peak = rss
                frame = sys._current_frames().get(self._main or 0)
                stack = traceback.extract_stack(frame) if frame else []
                self.stack = [
                    f"{rss // 1024} MB",
                    *(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in reversed(stack)),
                ][:14]


class Timeline:
    """Each request a client sends: its operation, thread, and when it was sent and answered (ms after
    `origin`): the round trips in series are the rows that do not overlap."""

    def __init__(self, client: Any, origin: float) -> None:
        self.origin, self.rows = origin, list[dict[str, Any]]()
        self._open: dict[int, dict[str, Any]] = {}
        client.meta.events.register("before-send.s3", self._sent)
        client.meta.events.register("needs-retry.s3", self._answered)

    def _ms(self) -> float:
        return round(1000 * (time.perf_counter() - self.origin), 1)

    def _sent(self, request: Any, **_: Any) -> None:
        operation = request.context.get("operation_name") if hasattr(request, "context") else None
        row = {"operation": operation or request.method, "thread": threading.current_thread().name}
        self._open[threading.get_ident()] = row | {"sent": self._ms()}

    def _answered(self, **_: Any) -> None:
        row = self._open.pop(threading.get_ident(), None)
        if row is not None:
            self.rows.append(row | {"answered": self._ms()})


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bucket", default="artifacts")
    parser.add_argument("--key", required=True)
    parser.add_argument("--size", type=int, required=True, help="the staged object's size in bytes")
    parser.add_argument("--profile", default="", help="write the handler's cProfile stats to this path")
    parser.add_argument(
        "--timeline", action="store_true", help="add each S3 request's start and end (ms into the handler)"
    )
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "static-deploy-bench")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Bench")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    sys.path[:0] = [str(ROOT / "lambda_fn"), str(ROOT)]
    from devtools.lambda_context import FakeContext

    context = FakeContext(function_name="static-deploy-bench", memory_limit_in_mb=1769)
    started = time.perf_counter()
    app = importlib.import_module("app")
    imported = time.perf_counter()
    cpu_before = cpu_seconds()
    requests = Timeline(app.s3, imported) if args.timeline else None
    stdout, sys.stdout = sys.stdout, sys.stderr  # the handler's logs and metrics: not our result
    try:
        with profiled(args.profile):
            [report] = app.lambda_handler(event(args.bucket, args.key, args.size), context)["deploys"]
    finally:
        sys.stdout = stdout
    done = time.perf_counter()
    cpu = cpu_seconds() - cpu_before
    result: dict[str, Any] = {"timeline": requests.rows} if requests else {}
    result |= {
        "report": report,
        "handler_seconds": round(done - imported, 3),
        "handler_cpu_seconds": round(cpu, 3),
        "init_seconds": round(imported - started, 3),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
