"""Uploads in worker processes end as uploads in one: same objects, same headers, same report, same safety.

The workers are forked, so an in-process moto (mock_aws) would keep their writes in their own copies:
these tests run moto's server in a process of its own on loopback, and every client talks to it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from build_tool.build.pack import Packed
from staticsync.artifact import archive
from staticsync.artifact.archive import Artifact
from staticsync.bucket import LiveBucket
from staticsync.config import Settings
from staticsync.deploy import execute, upload, workers
from staticsync.errors import ArtifactRejected
from staticsync.meter import RequestMeter
from staticsync.model.names import hashed_name
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key

# 150 sources: 150 hashed names and 150 unhashed ones, enough for two processes in each phase.
FILES = {f"css/s{i:03}.css": f".s{i} {{ color: #{i:03x}; }}\n".encode() * (1 + i % 40) for i in range(150)}
HEADERS = ("ContentType", "CacheControl", "ContentEncoding", "Metadata", "ContentLength")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto's server in its own process (a forked worker must write where the test can read)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture
def s3(endpoint: str) -> Any:
    """A client of the server, reset to buckets artifacts, one and two."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for bucket in ("artifacts", "one", "two"):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture(params=["read first", "streamed"])
def phases(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a plan is run: read and checked whole, then PUT (put_files), or streamed (upload_spans)."""
    if request.param == "streamed":
        monkeypatch.setattr(execute, "PREVERIFY_BYTES", 0)
        monkeypatch.setattr(upload, "PIECE_BYTES", 16 * 1024)  # pieces enough for two processes
    else:
        monkeypatch.setattr(archive, "GROUP_BYTES", 4 * 1024)  # spans enough for two processes
    return str(request.param)


def deployed(
    s3: Any, key: str, bucket: str, processes: int, **kwargs: Any
) -> tuple[SyncReport, dict[str, int]]:
    meter = RequestMeter()
    meter.attach(s3)
    try:
        settings = Settings(live_bucket=bucket, upload_processes=processes)
        return deploy_key(s3, settings, key, meter=meter, **kwargs), meter.by_operation()
    finally:
        s3.meta.events.unregister("request-created.s3", meter._count)


def objects(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """Every object of `bucket` outside the deployer's own keys: its bytes and headers."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].startswith(".releases/"):
                continue
            got = s3.get_object(Bucket=bucket, Key=item["Key"])
            found[item["Key"]] = {"Body": got["Body"].read(), **{h: got.get(h) for h in HEADERS}}
    return found


def test_a_deploy_in_two_processes_ends_with_the_objects_headers_and_report_of_one_in_one(
    s3: Any, make_artifact: Callable[..., Packed], phases: str
) -> None:
    key = stage_artifact(s3, make_artifact(FILES, release="r1"))

    single, single_requests = deployed(s3, key, "one", 1)
    double, double_requests = deployed(s3, key, "two", 2)

    assert (single.outcome, double.outcome) == ("deployed", "deployed")
    assert objects(s3, "two") == objects(s3, "one")
    assert len(objects(s3, "one")) == 2 * len(FILES) + 1  # and staticfiles.json
    counts = ("files_total", "files_uploaded", "files_unchanged", "bytes_uploaded", "s3_requests")
    assert [getattr(double, name) for name in counts] == [getattr(single, name) for name in counts]
    assert sorted(double.keys_uploaded) == sorted(single.keys_uploaded)
    assert double.requests_by_operation == single.requests_by_operation == single_requests
    assert double_requests == single_requests


def test_the_workers_really_ran_in_other_processes_with_their_own_clients(
    s3: Any, make_artifact: Callable[..., Packed], phases: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = stage_artifact(s3, make_artifact(FILES, release="r1"))
    parent, put = os.getpid(), upload.Uploads.put

    def noted(self: upload.Uploads, path: str, data: bytes) -> None:
        if os.getpid() != parent and self.bucket.client is not s3:
            self.on_uploaded(f"from-a-child/{os.getpid()}/{path}", 0)  # relayed to the parent's report
        put(self, path, data)

    monkeypatch.setattr(upload.Uploads, "put", noted)
    seen = deployed(s3, key, "two", 2)[0].keys_uploaded

    from_children = [k.split("/") for k in seen if k.startswith("from-a-child/")]
    assert len(from_children) == 2 * len(FILES)
    assert len({pid for _, pid, *_ in from_children}) == 4  # two processes for each phase


def test_a_child_refused_a_content_addressed_name_rejects_the_deploy_with_nothing_cut_over(
    s3: Any, make_artifact: Callable[..., Packed], phases: str
) -> None:
    key = stage_artifact(s3, make_artifact(FILES, release="r1"))
    taken = hashed_name("css/s149.css", FILES["css/s149.css"])  # the last share's
    s3.put_object(Bucket="two", Key=taken, Body=b"other bytes", Metadata={"sha256": "0" * 64})

    report = deployed(s3, key, "two", 2)[0]

    assert (report.outcome, report.reason, report.member) == ("rejected", "immutable_name_conflict", taken)
    assert "staticfiles.json" not in objects(s3, "two")  # no cutover
    assert not s3.list_objects_v2(Bucket="two", Prefix=".releases/").get("KeyCount")  # no claim, no record
    assert s3.get_object(Bucket="two", Key=taken)["Body"].read() == b"other bytes"


@pytest.mark.parametrize("processes", [1, 2])
def test_a_plan_read_first_writes_nothing_when_any_process_finds_a_bad_member(
    s3: Any, make_artifact: Callable[..., Packed], monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    monkeypatch.setattr(archive, "GROUP_BYTES", 4 * 1024)  # spans enough for two processes
    key = stage_artifact(s3, make_artifact(FILES, release="r1"))
    bad = hashed_name("css/s149.css", FILES["css/s149.css"])  # in the last process's share
    check_file = Artifact.check_file

    def checked(self: Artifact, path: str, sha256_hex: str, md5: Any) -> None:
        if path == bad:
            time.sleep(1)  # the other process has long read its share: only the barrier holds its PUTs
            raise ArtifactRejected("checksum_mismatch", f"{path} does not match", path)
        check_file(self, path, sha256_hex, md5)

    monkeypatch.setattr(Artifact, "check_file", checked)
    report = deployed(s3, key, "two", processes)[0]

    assert (report.outcome, report.reason, report.member) == ("rejected", "checksum_mismatch", bad)
    assert "Contents" not in s3.list_objects_v2(Bucket="two")  # not one file, as in one process


def test_a_killed_worker_fails_the_deploy_with_nothing_cut_over_and_a_retry_deploys(
    s3: Any, make_artifact: Callable[..., Packed], phases: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = stage_artifact(s3, make_artifact(FILES, release="r1"))
    parent, put = os.getpid(), upload.Uploads.put
    victim = hashed_name("css/s100.css", FILES["css/s100.css"])

    def killed(self: upload.Uploads, path: str, data: bytes) -> None:
        if os.getpid() != parent and path == victim:
            os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
        put(self, path, data)

    monkeypatch.setattr(upload.Uploads, "put", killed)
    with pytest.raises(workers.WorkerDied, match="SIGKILL"):
        deployed(s3, key, "two", 2)
    assert "staticfiles.json" not in objects(s3, "two")
    assert not s3.list_objects_v2(Bucket="two", Prefix=".releases/").get("KeyCount")

    monkeypatch.setattr(upload.Uploads, "put", put)
    assert deployed(s3, key, "two", 2)[0].outcome == "deployed"
    assert objects(s3, "two")[victim]["Body"] == FILES["css/s100.css"]


def test_the_deadline_is_checked_as_in_one_process_and_stops_before_the_claim(
    s3: Any, make_artifact: Callable[..., Packed], phases: str
) -> None:
    key = stage_artifact(s3, make_artifact(FILES, release="r1"))
    calls = iter([60.0] + [1.0] * 10)  # enough to start uploading, not to claim

    with pytest.raises(execute.OutOfTime):
        deployed(s3, key, "two", 2, remaining_seconds=lambda: next(calls))

    assert "staticfiles.json" not in objects(s3, "two")
    assert not s3.list_objects_v2(Bucket="two", Prefix=".releases/journal/").get("KeyCount")


# run_shares itself: the first failure stops the other children, whose running work ends first.


def bucket_of(s3: Any) -> LiveBucket:
    return LiveBucket(s3, Settings(live_bucket="two"))


def test_the_first_failure_in_one_child_stops_the_others_and_is_raised_with_its_type(s3: Any) -> None:
    heard: list[str] = []

    def task(worker: workers.Worker, share: int) -> None:
        if share == 0:
            raise ArtifactRejected("checksum_mismatch", "css/a.css does not match", "css/a.css")
        if worker.stop.wait(60):  # until the parent relays the first failure
            worker.uploaded(f"stopped-{share}", 0)

    with pytest.raises(ArtifactRejected) as caught:
        workers.run_shares(bucket_of(s3), [0, 1, 2], task, lambda path, size: heard.append(path))

    assert (caught.value.code, caught.value.member) == ("checksum_mismatch", "css/a.css")
    assert sorted(heard) == ["stopped-1", "stopped-2"]


def test_each_childs_uploads_kept_files_and_requests_reach_the_parent(s3: Any) -> None:
    heard: list[tuple[str, int]] = []
    meter = RequestMeter()

    def task(worker: workers.Worker, share: int) -> None:
        for number in range(300):  # more than one relayed batch
            worker.uploaded(f"{share}/{number}", number)
        worker.keep(f"kept-{share}", bytes(2 * workers.RELAY_BYTES))
        worker.bucket.client.list_objects_v2(Bucket="two")

    kept = workers.run_shares(bucket_of(s3), [0, 1], task, lambda p, s: heard.append((p, s)), meter)

    assert sorted(heard) == sorted((f"{share}/{n}", n) for share in (0, 1) for n in range(300))
    assert {path: len(data) for path, data in kept.items()} == {
        f"kept-{s}": 2 * workers.RELAY_BYTES for s in (0, 1)
    }
    assert meter.by_operation() == {"ListObjectsV2": 2}


def test_a_child_that_dies_is_reported_and_the_others_are_stopped(s3: Any) -> None:
    heard: list[str] = []

    def task(worker: workers.Worker, share: int) -> None:
        if share == 0:
            os._exit(3)
        if worker.stop.wait(60):
            worker.uploaded("stopped", 0)

    with pytest.raises(workers.WorkerDied, match="exit code 3"):
        workers.run_shares(bucket_of(s3), [0, 1], task, lambda path, size: heard.append(path))
    assert heard == ["stopped"]


def test_a_worker_writes_with_a_client_of_its_own_in_a_process_of_its_own(s3: Any) -> None:
    heard: list[tuple[str, int]] = []

    def task(worker: workers.Worker, share: int) -> None:
        worker.bucket.client.put_object(Bucket="two", Key=f"w{share}", Body=b"x")
        worker.uploaded("the parent's client" if worker.bucket.client is s3 else "its own", os.getpid())

    workers.run_shares(bucket_of(s3), [0, 1], task, lambda what, pid: heard.append((what, pid)))

    assert [what for what, _ in heard] == ["its own", "its own"]
    assert len({pid for _, pid in heard} | {os.getpid()}) == 3
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="two")["Contents"]) == ["w0", "w1"]
