"""The example project deployed with UPLOAD_PROCESSES=2 ends as with 1: same objects, headers, report.

Both deploys run on SeaweedFS, each under a live prefix of its own; the uploads of the second really
ran in worker processes (run_shares is watched), then the prefixes are compared object by object.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from devtools.seaweed import S3Server
from staticsync.config import Settings
from staticsync.deploy import upload
from staticsync.meter import RequestMeter
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key
from tests.inprocess import ROOT
from tests.integration.test_faults import package_example

HEADERS = ("ContentType", "CacheControl", "ContentEncoding", "Metadata", "ContentLength")


def deployed(s3: Any, key: str, prefix: str, processes: str) -> SyncReport:
    env = {"LIVE_BUCKET": "live", "LIVE_PREFIX": prefix, "UPLOAD_PROCESSES": processes}
    settings = Settings.from_env(env)
    meter = RequestMeter()
    meter.attach(s3)
    try:
        report = deploy_key(s3, settings, key, SyncReport(f"s3://artifacts/{key}"), meter=meter)
    finally:
        s3.meta.events.unregister("request-created.s3", meter._count)
    assert report.outcome == "deployed", report.detail
    return report


def objects(s3: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """The site's objects under `prefix` (not the deployer's own records), by relative key."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="live", Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"].removeprefix(prefix)
            if not key.startswith(".releases/"):
                response = s3.get_object(Bucket="live", Key=item["Key"])
                found[key] = {"Body": response["Body"].read(), **{h: response.get(h) for h in HEADERS}}
    return found


def test_the_example_project_deploys_the_same_with_two_upload_processes_as_with_one(
    s3_server: S3Server,
    s3: Any,
    empty_buckets: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "example"
    shutil.copytree(ROOT / "example", project, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    key = stage_artifact(s3, package_example(project, tmp_path / "ex1.zip", "ex1", 1767225600))
    shares: list[int] = []
    run_shares = upload.run_shares

    def watched(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        shares.append(len(args[1]))
        return run_shares(*args, **kwargs)

    monkeypatch.setattr(upload, "run_shares", watched)

    one = deployed(s3, key, "one/", "1")
    assert shares == []  # one process: today's path, no fork
    two = deployed(s3, key, "two/", "2")

    assert shares == [2, 2]  # the hashed names, then the unhashed ones, each in two processes
    assert objects(s3, "two/") == objects(s3, "one/")
    counts = ("files_total", "files_uploaded", "bytes_uploaded", "s3_requests", "requests_by_operation")
    assert {name: getattr(two, name) for name in counts} == {name: getattr(one, name) for name in counts}
    assert sorted(k.removeprefix("two/") for k in two.keys_uploaded) == sorted(
        k.removeprefix("one/") for k in one.keys_uploaded
    )
