"""The whole pipeline on the example project against SeaweedFS: package, stage, event, handler."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from build_tool.aws.staging import stage
from devtools.seaweed import S3Server
from staticsync.errors import LiveChanged
from staticsync.live.state import HISTORY_NAME
from staticsync.model.contract import FILES_DIR
from staticsync.report import SyncReport
from tests.artifacts import read_packed
from tests.conftest import FakeContext
from tests.deploys import deploy_key

ROOT = Path(__file__).resolve().parents[2]
EVENT_TIMEOUT = 10.0


def build_tool(
    env: dict[str, str], *args: str, project: Path = ROOT / "example"
) -> subprocess.CompletedProcess[str]:
    """`build_tool package` on the example project (or a copy of it), in a fresh interpreter."""
    command = [sys.executable, "-m", "build_tool", "package", "--settings", "exampleproject.settings"]
    return subprocess.run(
        [*command, "--project-dir", str(project), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def package(project: Path, out: Path, release: str, epoch: int) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}
    done = build_tool(env, "--output", str(out), "--release", release, project=project)
    assert done.returncode == 0, done.stderr


class Built:
    """The example project's artifact (r1) and one with a single CSS file edited (r2)."""

    def __init__(self, work: Path) -> None:
        project = work / "example"
        shutil.copytree(
            ROOT / "example", project, ignore=shutil.ignore_patterns("staticfiles", "__pycache__")
        )
        self.r1 = work / "r1.zip"
        package(project, self.r1, "r1", 1767225600)
        base = project / "shop" / "static" / "shop" / "css" / "base.css"
        base.write_text(base.read_text() + "\n.edited { color: rebeccapurple; }\n")
        self.r2 = work / "r2.zip"
        package(project, self.r2, "r2", 1767312000)
        base.write_text(base.read_text().replace("\n.edited { color: rebeccapurple; }\n", ""))
        self.r1_again = work / "r1-again.zip"  # a later commit with the same static files as r1
        package(project, self.r1_again, "r1-again", 1767398400)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return Built(tmp_path_factory.mktemp("built"))


@pytest.fixture
def app(app: ModuleType) -> ModuleType:
    """The shared handler (tests/integration/conftest.py); its S3 calls to the live bucket recorded in
    `app.calls` (the report object it writes to the artifacts bucket afterwards is not among them)."""
    calls: list[tuple[str, str]] = []
    app.calls = calls  # type: ignore[attr-defined]

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("Bucket") == "live":
            calls.append((model.name, params.get("Key", "")))

    app.s3.meta.events.register("provide-client-params.s3", record)
    return app


def upload_and_handle(app: ModuleType, s3: Any, s3_server: S3Server, artifact: Path) -> dict[str, Any]:
    """Stage like the build tool, then run the handler on the event SeaweedFS sent for it."""
    item = read_packed(artifact)
    stage(s3, item, "artifacts", f"staging/{item.record.release}.zip")
    event = s3_server.events.wait_event(EVENT_TIMEOUT)
    app.calls.clear()
    [report] = app.lambda_handler(event, FakeContext())["deploys"]
    return report


def live_bytes(s3: Any, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket="live", Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def test_a_first_deploy_uploads_everything_and_writes_the_manifest_last(
    app: ModuleType, s3: Any, s3_server: S3Server, built: Built
) -> None:
    report = upload_and_handle(app, s3, s3_server, built.r1)
    assert report["outcome"] == "deployed"
    assert report["files_uploaded"] == report["files_total"] > 500
    puts = [key for operation, key in app.calls if operation == "PutObject"]
    assert puts[-1] == "staticfiles.json"
    assert puts[:-1].count("staticfiles.json") == 0
    assert f".releases/r1/{HISTORY_NAME}" in puts
    archive = zipfile.ZipFile(built.r1)
    for name in archive.namelist():
        if name.startswith(FILES_DIR):
            assert live_bytes(s3, name[len(FILES_DIR) :]) == archive.read(name), name
    assert live_bytes(s3, "staticfiles.json") == archive.read("staticfiles.json")


@pytest.mark.parametrize("again", ["r1", "r1_again"])
def test_a_redeploy_with_nothing_changed_uploads_nothing_in_five_requests(
    app: ModuleType, s3: Any, s3_server: S3Server, built: Built, again: str
) -> None:
    upload_and_handle(app, s3, s3_server, built.r1)
    before = s3.head_object(Bucket="live", Key="staticfiles.json")["ETag"]
    report = upload_and_handle(app, s3, s3_server, getattr(built, again))
    assert report["outcome"] == "unchanged"
    assert report["files_uploaded"] == 0
    # The artifact's tail, the live manifest, the live release's record, the journal place after the
    # live one (free), the HEAD of the release's own record; r1_again (the same bytes under a new id)
    # keeps its record too, so that an app pinned to r1_again starts.
    writes = [key for op, key in app.calls if op not in ("GetObject", "HeadObject")]
    if again == "r1":
        assert (report["s3_requests"], writes) == (5, [])
    else:
        assert (report["s3_requests"], writes) == (6, [f".releases/{report['release']}/{HISTORY_NAME}"])
    assert s3.head_object(Bucket="live", Key="staticfiles.json")["ETag"] == before


def test_changing_one_file_uploads_exactly_the_files_whose_bytes_changed(
    app: ModuleType, s3: Any, s3_server: S3Server, built: Built
) -> None:
    upload_and_handle(app, s3, s3_server, built.r1)
    archive = zipfile.ZipFile(built.r2)
    changed = {
        name[len(FILES_DIR) :]
        for name in archive.namelist()
        if name.startswith(FILES_DIR) and live_bytes(s3, name[len(FILES_DIR) :]) != archive.read(name)
    }
    report = upload_and_handle(app, s3, s3_server, built.r2)
    puts = [key for op, key in app.calls if op == "PutObject"]
    own = ["staticfiles.json", f".releases/r2/{HISTORY_NAME}", ".releases/journal/00000002.json"]
    assert set(puts) - set(own) == changed and sorted(set(puts) & set(own)) == sorted(own)
    assert any(path.startswith("shop/css/base.") for path in changed)
    assert report["files_uploaded"] == len(changed) < 20
    # k files in k + 8: the artifact (read whole by the first GET: the event says it is small), the
    # live manifest and record, the journal place after the live one, the release's own record (none
    # yet); the history record, the journal entry and the cutover.
    assert report["s3_requests"] == len(changed) + 8
    assert live_bytes(s3, "staticfiles.json") == archive.read("staticfiles.json")


@pytest.mark.parametrize(
    ("key", "content_type", "cache_control", "encoding"),
    [
        ("shop/css/site.css", "text/css; charset=utf-8", "public, max-age=300", None),
        ("shop/js/module.mjs", "text/javascript; charset=utf-8", "public, max-age=300", None),
        ("robots.txt", "text/plain; charset=utf-8", "public, max-age=300", None),
        ("staticfiles.json", "application/json; charset=utf-8", "no-cache", None),
    ],
)
def test_live_objects_carry_the_right_headers(
    app: ModuleType,
    s3: Any,
    s3_server: S3Server,
    built: Built,
    key: str,
    content_type: str,
    cache_control: str,
    encoding: str | None,
) -> None:
    upload_and_handle(app, s3, s3_server, built.r1)
    head = s3.head_object(Bucket="live", Key=key)
    assert (head["ContentType"], head["CacheControl"]) == (content_type, cache_control)
    assert head.get("ContentEncoding") == encoding


def test_hashed_files_and_their_siblings_are_immutable_and_encoded(
    app: ModuleType, s3: Any, s3_server: S3Server, built: Built
) -> None:
    upload_and_handle(app, s3, s3_server, built.r1)
    import json

    hashed_css = json.loads(live_bytes(s3, "staticfiles.json") or b"{}")["paths"]["shop/css/site.css"]
    for key, encoding in [(hashed_css, None), (hashed_css + ".gz", "gzip"), (hashed_css + ".br", "br")]:
        head = s3.head_object(Bucket="live", Key=key)
        assert head["ContentType"] == "text/css; charset=utf-8"
        assert head["CacheControl"] == "public, max-age=31536000, immutable"
        assert head.get("ContentEncoding") == encoding


def test_a_cutover_racing_another_deploy_is_refused_by_the_conditional_write(
    s3_server: S3Server, s3: Any, empty_buckets: None, built: Built
) -> None:
    from staticsync.config import Settings

    settings = Settings(live_bucket="live")
    for path in (built.r1, built.r2):
        item = read_packed(path)
        stage(s3, item, "artifacts", f"staging/{item.record.release}.zip")
    loser, winner = s3_server.client(), s3_server.client()
    raced = False

    def deploy_the_other_first(params: dict[str, Any], **_: Any) -> None:
        nonlocal raced
        if params.get("Key") == "staticfiles.json" and not raced:
            raced = True
            deploy_key(winner, settings, "staging/r2.zip", SyncReport("r2"))

    loser.meta.events.register("provide-client-params.s3.PutObject", deploy_the_other_first)
    report = SyncReport("r1")
    with pytest.raises(LiveChanged, match="not overwriting"):
        deploy_key(loser, settings, "staging/r1.zip", report)
    assert report.outcome == "failed"
    live = s3.head_object(Bucket="live", Key="staticfiles.json")
    assert live["Metadata"]["release"] == "r2"
    assert live_bytes(s3, "staticfiles.json") == zipfile.ZipFile(built.r2).read("staticfiles.json")


def test_build_tool_stages_on_s3_and_the_upload_event_drives_the_handler(
    app: ModuleType, s3_env: dict[str, str], s3_server: S3Server, tmp_path: Path
) -> None:
    env = {**s3_env, "SOURCE_DATE_EPOCH": "1767225600"}
    done = build_tool(env, "--bucket", "artifacts", "--release", "cli1", "--json")
    assert done.returncode == 0, done.stderr
    assert '"uri": "s3://artifacts/staging/cli1.zip"' in done.stdout
    head = s3_server.client().head_object(Bucket="artifacts", Key="staging/cli1.zip", ChecksumMode="ENABLED")
    assert head["Metadata"]["release-sha256"] and head.get("ChecksumSHA256")
    event = s3_server.events.wait_event(EVENT_TIMEOUT)
    [report] = app.lambda_handler(event, FakeContext())["deploys"]
    assert (report["release"], report["outcome"]) == ("cli1", "deployed")


def test_missing_bucket_is_a_clear_error(s3_env: dict[str, str], tmp_path: Path) -> None:
    done = build_tool(s3_env, "--bucket", "no-such-bucket")
    assert done.returncode == 6
    assert "bucket 'no-such-bucket' does not exist" in done.stderr
