"""Invoke the Lambda handler once, in this fresh process, on the S3 event for one staged artifact.

Prints one JSON line: the deploy report, the handler's duration and CPU time, the import (cold start)
time and the process's peak RSS (what Lambda reports as Max Memory Used). Run by benchmarks/run.py with
AWS_ENDPOINT_URL_S3 pointing at the latency proxy.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bucket", default="artifacts")
    parser.add_argument("--key", required=True)
    parser.add_argument("--size", type=int, required=True, help="the staged object's size in bytes")
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
    stdout, sys.stdout = sys.stdout, sys.stderr  # the handler's logs and metrics: not our result
    try:
        [report] = app.lambda_handler(event(args.bucket, args.key, args.size), context)["deploys"]
    finally:
        sys.stdout = stdout
    done = time.perf_counter()
    cpu = cpu_seconds() - cpu_before
    result = {
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
