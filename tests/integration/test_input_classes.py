"""Every input gets the right class of answer, against SeaweedFS: permanent problems are rejections or
skips with a reason and no retry, transient ones raise and never tag the artifact, and one record's
failure does not stop the others (issue 8, "Smaller gaps")."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from devtools.seaweed import S3Server
from staticsync.config import Settings
from staticsync.errors import TransientReadError
from staticsync.model.contract import (
    FILES_DIR,
    MANIFEST_NAME,
    META_RELEASE_SHA256,
    META_TAIL_BYTES,
    RELEASE_NAME,
    dumps,
)
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.conftest import FakeContext, load_event
from tests.deploys import deploy_key
from tests.handler import fresh_handler
from tests.sites import build_version

NO_RETRIES = {"mode": "standard", "max_attempts": 1}


def repack(
    source: Path,
    *,
    extra: dict[str, bytes] | None = None,
    record: dict[str, Any] | None = None,
    manifest: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A built artifact with members added and release.json / staticfiles.json fields changed, kept
    self-consistent (manifest_sha256 and the release-sha256 metadata follow), as (zip, metadata)."""
    archive = zipfile.ZipFile(source)
    files = {n: archive.read(n) for n in archive.namelist() if n.startswith(FILES_DIR)}
    manifest_bytes = archive.read(MANIFEST_NAME)
    if manifest:
        manifest_bytes = json.dumps(json.loads(manifest_bytes) | manifest).encode()
    document = json.loads(archive.read(RELEASE_NAME))
    document["manifest_sha256"] = hashlib.sha256(manifest_bytes).hexdigest()
    release_bytes = dumps(document | (record or {}))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in [*files.items(), *(extra or {}).items()]:
            out.writestr(name, data)
        out.writestr(MANIFEST_NAME, manifest_bytes)
        out.writestr(RELEASE_NAME, release_bytes)
    metadata = {META_RELEASE_SHA256: hashlib.sha256(release_bytes).hexdigest(), META_TAIL_BYTES: "0"}
    return buffer.getvalue(), metadata


def stage_bytes(client: Any, key: str, data: bytes, metadata: dict[str, str]) -> str:
    client.put_object(Bucket="artifacts", Key=key, Body=data, Metadata=metadata)
    return key


def live_keys(client: Any, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="live", Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def tags(client: Any, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket="artifacts", Key=key)["TagSet"]}


def run(client: Any, settings: Settings, key: str) -> SyncReport:
    return deploy_key(client, settings, key)


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    return build_version(tmp_path, 2).path


# ---------------------------------------------------------------- rejected before the first write


LONG = FILES_DIR + "é" * 511 + ".css"  # 515 characters, 1,026 bytes


@pytest.mark.parametrize(
    ("change", "reason", "member"),
    [
        ({"extra": {LONG: b"a{}"}}, "key_too_long", LONG),
        ({"extra": {"static/a\x85.js": b"x"}}, "unsafe_path", "static/a\x85.js"),
        ({"extra": {"static/C:/x.css": b"x"}}, "unsafe_path", "static/C:/x.css"),
        ({"record": {"total_bytes": 1}}, "record_mismatch", RELEASE_NAME),
    ],
    ids=["key over 1,024 bytes", "C1 control", "drive letter under static/", "total_bytes"],
)
def test_a_bad_artifact_is_rejected_before_anything_is_written_live(
    s3: Any, empty_buckets: None, v2: Path, change: dict[str, Any], reason: str, member: str
) -> None:
    settings = Settings(live_bucket="live", live_prefix="classes/")
    key = stage_bytes(s3, "staging/classes/bad.zip", *repack(v2, **change))

    report = run(s3, settings, key)

    assert (report.outcome, report.reason, report.member) == ("rejected", reason, member)
    assert live_keys(s3, "classes/") == []
    assert tags(s3, key)["staticsync-reason"] == reason


def test_the_repacked_artifact_deploys_so_each_case_fails_for_its_own_reason(
    s3: Any, empty_buckets: None, v2: Path
) -> None:
    key = stage_bytes(s3, "staging/classes/good.zip", *repack(v2))
    assert run(s3, Settings(live_bucket="live", live_prefix="classes-good/"), key).outcome == "deployed"


# ---------------------------------------------------------------- a stalled read is not a verdict


def stall_ranged_reads(client: Any) -> list[str]:
    """Every read after the first (a ranged GET with If-Match) times out, as a stalled socket does."""
    stalled: list[str] = []

    def stall(request: Any, **_: Any) -> None:
        if request.method == "GET" and "/artifacts/" in request.url and request.headers.get("If-Match"):
            stalled.append(request.url)
            raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3", stall)
    return stalled


def test_a_stalled_read_of_the_artifact_is_raised_and_never_tags_it(
    s3_server: S3Server, s3: Any, empty_buckets: None, v2: Path
) -> None:
    # A manifest larger than the first (1 MiB tail) GET: it is read inside zipfile, where the
    # timeout, an OSError, used to read as a corrupt member.
    data, metadata = repack(v2, manifest={"hash": os.urandom(1536 * 1024).hex()})
    key = stage_bytes(s3, "staging/classes/stalled.zip", data, metadata)
    client = s3_server.client(retries=NO_RETRIES)
    stalled = stall_ranged_reads(client)
    report = SyncReport(key)

    with pytest.raises(TransientReadError):
        deploy_key(client, Settings(live_bucket="live", live_prefix="stalled/"), key, report)

    assert stalled and report.outcome == "failed"
    assert tags(s3, key) == {}
    assert live_keys(s3, "stalled/") == []
    assert (
        run(s3, Settings(live_bucket="live", live_prefix="stalled/"), key).outcome == "deployed"
    )  # the retry


# ---------------------------------------------------------------- the handler: records, buckets, gone objects


@pytest.fixture
def app(s3_env: dict[str, str], empty_buckets: None) -> Iterator[ModuleType]:
    """The handler, imported fresh against the server, configured as the template does."""
    with fresh_handler(ARTIFACTS_BUCKET="artifacts") as module:
        yield module


def retarget(
    event: dict[str, Any], bucket: str | None = None, keys: list[str] | None = None
) -> dict[str, Any]:
    """The sample event, its records pointed at `bucket` and `keys` (raw keys: these need no encoding)."""
    wanted: list[str | None] = list(keys) if keys else [None] * len(event["Records"])
    for record, key in zip(event["Records"], wanted, strict=True):
        if bucket:
            record["s3"]["bucket"]["name"] = bucket
        if key:
            record["s3"]["object"]["key"] = key
    return event


def live_release(client: Any) -> str | None:
    try:
        return str(client.head_object(Bucket="live", Key="staticfiles.json")["Metadata"].get("release"))
    except client.exceptions.ClientError:
        return None


def test_an_event_for_an_object_that_no_longer_exists_is_skipped_and_not_retried(
    app: ModuleType, s3: Any, tmp_path: Path
) -> None:
    key = stage_artifact(s3, build_version(tmp_path, 1))
    s3.delete_object(Bucket="artifacts", Key=key)

    result = app.lambda_handler(retarget(load_event("artifact_put.json"), keys=[key]), FakeContext())

    assert result == {"deploys": []}  # returned, not raised: Lambda does not retry
    assert live_keys(s3, "") == []


def test_a_record_naming_another_bucket_is_skipped(app: ModuleType, s3: Any, tmp_path: Path) -> None:
    key = stage_artifact(s3, build_version(tmp_path, 1))
    # The artifact is real, but the record says it came from "live": not the artifacts bucket.
    result = app.lambda_handler(retarget(load_event("wrong_bucket.json"), "live", [key]), FakeContext())

    assert result == {"deploys": []}
    assert live_release(s3) is None


def test_a_failing_record_does_not_stop_the_next_and_the_event_is_still_retried(
    app: ModuleType, s3: Any, tmp_path: Path
) -> None:
    gone = stage_artifact(s3, build_version(tmp_path, 1))
    s3.delete_object(Bucket="artifacts", Key=gone)
    failing = stage_artifact(s3, build_version(tmp_path, 2))
    good = stage_artifact(s3, build_version(tmp_path, 3))
    stall_ranged_reads_of(app.s3, failing)
    event = retarget(load_event("multi_record.json"), keys=[gone, failing, good])

    with pytest.raises(TransientReadError):
        app.lambda_handler(event, FakeContext())

    assert live_release(s3) == "v3"
    assert tags(s3, failing) == {}


def stall_ranged_reads_of(client: Any, key: str) -> None:
    """Every GET of `key` times out."""

    def stall(request: Any, **_: Any) -> None:
        if request.method == "GET" and request.url.split("?")[0].endswith(key):
            raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3", stall)
