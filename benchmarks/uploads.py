"""`python -m benchmarks.uploads`: PUTs per second and CPU per PUT with 1, 2 and N upload processes.

The uploads of a 10,000-file artifact (5,000 sources and their hashed copies, 0.2-3 KB each, read from
a local zip as a direct deploy reads it) go to an endpoint that answers at once: a raw asyncio HTTP
server in a process of its own, 200 and an ETag to every request, its own CPU measured apart. What is
left is the function's own cost: reading, inflating and checking members, headers, botocore's PUT.

Each run is a fresh process (`once`); its CPU is its own plus its worker processes' (getrusage of
self and children around the upload only), its memory the peak of the summed PSS of it and its
workers (sampled from /proc by this driver every 50 ms). Runs alternate between process counts and
the medians are reported with the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from benchmarks.memory import write  # also puts lambda_fn on sys.path
from staticsync.model.contract import (
    FILES_DIR,
    MANIFEST_NAME,
    META_RELEASE_SHA256,
    RELEASE_NAME,
    ReleaseRecord,
)
from staticsync.model.names import hashed_name

REPLY = b'HTTP/1.1 200 OK\r\nETag: "d41d8cd98f00b204e9800998ecf8427e"\r\nContent-Length: 0\r\n\r\n'
SAMPLE_SECONDS = 0.05


def generate(out: Path, sources: int) -> dict[str, str]:
    """A zip of `sources` files and their hashed copies, the contract's tail, and its metadata."""
    tree: dict[str, bytes] = {}
    manifest: dict[str, str] = {}
    for index in range(sources):
        name = f"app{index % 50}/css/f{index:05}.css"
        data = b"".join(b".c%d-%d { color: #%06x; }\n" % (index, n, n * index) for n in range(8 + index % 90))
        manifest[name] = hashed_name(name, data)
        tree[name] = tree[manifest[name]] = data
    manifest_bytes = json.dumps({"paths": manifest, "version": "1.1", "hash": "bench"}).encode()
    digests = {path: hashlib.sha256(data).hexdigest() for path, data in tree.items()}
    record = ReleaseRecord(
        "bench", "2026-01-01T00:00:00Z", digests, hashlib.sha256(manifest_bytes).hexdigest()
    )
    release_bytes = record.to_json(sum(map(len, tree.values())))
    with out.open("wb") as raw, zipfile.ZipFile(raw, "w") as archive:
        for path in sorted(tree):
            write(archive, FILES_DIR + path, tree[path])
        write(archive, MANIFEST_NAME, manifest_bytes)
        write(archive, RELEASE_NAME, release_bytes)
    return {META_RELEASE_SHA256: hashlib.sha256(release_bytes).hexdigest()}


# ------------------------------------------------------------------ the endpoint that answers at once


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Every request on one connection: its body read and dropped, 200 with an ETag."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip().lower()
            if headers.get("expect") == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if "content-length" in headers:
                await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    await reader.readexactly(size + 2)
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
            writer.write(REPLY)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ------------------------------------------------------------------ one run, in a fresh process


def once(artifact_path: Path, metadata: dict[str, str], endpoint: str, processes: int) -> dict[str, Any]:
    """Upload every file of the artifact with `processes` processes; PUTs, seconds and CPU seconds."""
    import boto3
    from botocore.config import Config

    from staticsync.artifact.archive import Artifact
    from staticsync.artifact.local import LocalRange
    from staticsync.artifact.ranged import SparseFile
    from staticsync.bucket import LiveBucket
    from staticsync.config import Settings
    from staticsync.deploy.upload import Uploads, upload_spans
    from staticsync.meter import RequestMeter
    from staticsync.model.contract import ReleaseView
    from staticsync.model.headers import HeaderPolicy

    settings = Settings(live_bucket="live", upload_processes=processes)
    source = LocalRange(artifact_path, metadata)
    artifact = Artifact(
        SparseFile(source, source.initial_fragments()), settings, metadata[META_RELEASE_SHA256]
    )
    view = ReleaseView(artifact.record, artifact.manifest_bytes, artifact.manifest, artifact.inherited)
    config = Config(max_pool_connections=settings.upload_concurrency + 4, retries={"mode": "standard"})
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=config,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    meter = RequestMeter()
    meter.attach(client)
    uploaded = [0]

    def counted(path: str, size: int) -> None:
        uploaded[0] += 1

    policy = HeaderPolicy(settings, frozenset(view.record.files), view.hashed)
    uploads = Uploads(LiveBucket(client, settings), artifact, policy, counted, only_new=True, meter=meter)
    spans = artifact.spans(list(artifact.record.files))
    started, cpu = time.monotonic(), cpu_seconds()
    upload_spans(uploads, spans)
    seconds, cpu = time.monotonic() - started, cpu_seconds() - cpu
    return {
        "files": uploaded[0],
        "puts": meter.by_operation().get("PutObject", 0),
        "seconds": seconds,
        "cpu": cpu,
    }


def cpu_seconds() -> float:
    """This process's CPU and that of its children that have ended (the worker processes)."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    theirs = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + theirs.ru_utime + theirs.ru_stime


# ------------------------------------------------------------------ the driver


def process_cpu(pid: int) -> float:
    """Seconds of CPU `pid` has used (utime + stime from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_pss_mb(pid: int) -> float:
    """The summed PSS of `pid` and its descendants, in MB (0 for a process that has gone)."""
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) / 1024
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(tree_pss_mb(int(child)) for child in children)


def measured_run(args: argparse.Namespace, processes: int, artifact: Path, metadata: dict[str, str]) -> dict:
    """One `once` in a fresh process, its memory sampled, the server's CPU and the load around it."""
    command = [sys.executable, "-m", "benchmarks.uploads", "once", str(artifact), json.dumps(metadata)]
    command += [args.endpoint, str(processes)]
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # as in the function's environment
    load, server_cpu = os.getloadavg()[0], process_cpu(args.server_pid)
    child = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=Path(__file__).parent.parent)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, tree_pss_mb(child.pid))
        time.sleep(SAMPLE_SECONDS)
    assert child.stdout is not None and child.returncode == 0, "a run failed"
    row = json.loads(child.stdout.read())
    row.update(
        processes=processes, peak_pss_mb=round(peak, 1), load_before=load, load_after=os.getloadavg()[0]
    )
    row["server_cpu"] = process_cpu(args.server_pid) - server_cpu
    return row


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for processes in sorted({row["processes"] for row in rows}):
        mine = [row for row in rows if row["processes"] == processes]
        assert all(row["puts"] == row["files"] == mine[0]["files"] for row in mine)
        table.append(
            {
                "processes": processes,
                "runs": len(mine),
                "puts": mine[0]["puts"],
                "puts_per_second": round(statistics.median(r["puts"] / r["seconds"] for r in mine)),
                "cpu_ms_per_put": round(statistics.median(1000 * r["cpu"] / r["puts"] for r in mine), 3),
                "server_cpu_ms_per_put": round(
                    statistics.median(1000 * r["server_cpu"] / r["puts"] for r in mine), 3
                ),
                "peak_pss_mb": round(statistics.median(r["peak_pss_mb"] for r in mine), 1),
                "load_average": round(statistics.median(r["load_before"] for r in mine), 2),
            }
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=5000, help="sources (files: twice as many)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each process count")
    parser.add_argument("--processes", default="", help="e.g. 1,2,4 (default: 1, 2 and the CPUs)")
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    args = parser.parse_args(argv)
    counts = sorted(
        {int(n) for n in args.processes.split(",")} if args.processes else {1, 2, os.cpu_count() or 1}
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "benchmarks.uploads", "serve", str(port)])
    try:
        args.endpoint, args.server_pid = f"http://127.0.0.1:{port}", server.pid
        wait_for(port)
        with tempfile.TemporaryDirectory() as work:
            artifact = Path(work, "bench.zip")
            metadata = generate(artifact, args.sources)
            rows = [measured_run(args, n, artifact, metadata) for _ in range(args.runs) for n in counts]
    finally:
        server.terminate()
        server.wait()
    table = summary(rows)
    machine = {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0))}
    print(json.dumps({"machine": machine, "summary": table}, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "runs": rows, "summary": table}, indent=2))
    return 0


def wait_for(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the endpoint did not start")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
    elif sys.argv[1:2] == ["once"]:
        path, metadata, endpoint, processes = sys.argv[2:6]
        print(json.dumps(once(Path(path), json.loads(metadata), endpoint, int(processes))))
    else:
        sys.exit(main())
