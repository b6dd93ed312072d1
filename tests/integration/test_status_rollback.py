"""`build_tool status` and `build_tool rollback` against SeaweedFS, run in-process (`main(argv, env)`).

Releases v1, v2 and v3 of a small site go live through the real deploy; `rollback --wait` stages its
request while the real handler runs on that request's webhook event in a thread.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from build_tool.aws.reports import Waiter
from build_tool.cli import main
from build_tool.env import Environment
from devtools.seaweed import S3Server
from staticsync.config import Settings
from staticsync.live.journal import claim_entry
from staticsync.model.contract import MANIFEST_NAME
from staticsync.model.order import JournalEntry
from tests.conftest import FakeContext
from tests.deploys import deploy_key
from tests.rollbacks import run_request, stage_request
from tests.sites import commit, stage_version

SETTINGS = Settings(live_bucket="live")
LIVE = ["--live-bucket", "live"]
EVENT_TIMEOUT = 15.0


def run(*argv: str) -> tuple[int, str, str]:
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    code = main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def live_release(s3: Any) -> str:
    return str(s3.head_object(Bucket="live", Key=MANIFEST_NAME)["Metadata"]["release"])


@pytest.fixture
def three_releases(s3: Any, s3_env: dict[str, str], empty_buckets: None, tmp_path: Path) -> dict[int, str]:
    """v1, v2 and v3 deployed in that order (places 1 to 3); the staged keys by version."""
    keys = {version: stage_version(s3, tmp_path, version) for version in (1, 2, 3)}
    for version, key in keys.items():
        report = deploy_key(s3, SETTINGS, key)
        assert (report.outcome, report.sequence) == ("deployed", version)
    return keys


def handle_request_event(app: ModuleType, s3_server: S3Server) -> None:
    """Run the handler on the next rollback request's event, skipping the artifacts' late events."""
    while True:
        event = s3_server.events.wait_event(EVENT_TIMEOUT)
        if "/rollback-" in event["Records"][0]["s3"]["object"]["key"]:
            app.lambda_handler(event, FakeContext())
            return


def with_function(app: ModuleType, s3_server: S3Server, *argv: str) -> tuple[int, str, str]:
    """`build_tool <argv>` while the function handles the request it stages."""
    function = threading.Thread(target=handle_request_event, args=(app, s3_server))
    function.start()
    try:
        return run(*argv)
    finally:
        function.join(timeout=60)


def test_status_after_three_releases_an_abandoned_claim_and_a_rollback(
    s3: Any, three_releases: dict[int, str]
) -> None:
    # Place 4: a deploy of v9 that claimed its place and died before its cutover.
    claim_entry(s3, SETTINGS, JournalEntry(4, "v9", "v3", 3, "deploy", None, "s3://artifacts/staging/v9.zip"))
    key = stage_request(s3, "back", "v2", "v3", three_releases[2])
    assert run_request(s3, SETTINGS, key).outcome == "deployed"  # place 5
    s3.delete_object(Bucket="artifacts", Key=three_releases[1])  # v1's artifact expired

    code, out, err = run("status", *LIVE, "--artifacts-bucket", "artifacts")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"live: v2 (commit {commit(2)[:12]}), place 5, rollback back, live since 20")
    assert lines[0].endswith(", from s3://artifacts/staging/v2.zip")
    gone = "no: its artifact s3://artifacts/staging/v1.zip is gone"
    assert [line.split() for line in lines[1:-1]] == [
        ["PLACE", "RELEASE", "KIND", "REQUEST", "COMMIT", "OUTCOME", "ROLLBACK"],
        ["5", "v2", "rollback", "back", commit(2)[:12], "live", "-"],
        ["4", "v9", "deploy", "-", "-", "abandoned", "-"],
        ["3", "v3", "deploy", "-", commit(3)[:12], "replaced", "yes"],
        ["2", "v2", "deploy", "-", commit(2)[:12], "replaced", "-"],
        ["1", "v1", "deploy", "-", commit(1)[:12], "replaced", *gone.split()],
    ]
    assert lines[-1] == "rollback targets: v3 (default: v3)"

    code, out, _ = run("status", *LIVE, "--artifacts-bucket", "artifacts", "--json", "--limit", "3")
    document = json.loads(out)
    assert code == 0
    assert {k: document["live"][k] for k in ("release", "sequence", "kind", "request", "artifact")} == {
        "release": "v2",
        "sequence": 5,
        "kind": "rollback",
        "request": "back",
        "artifact": "s3://artifacts/staging/v2.zip",
    }
    assert [(p["sequence"], p["release"], p["outcome"], p["rollback_target"]) for p in document["order"]] == [
        (5, "v2", "live", False),
        (4, "v9", "abandoned", False),
        (3, "v3", "replaced", True),
    ]
    assert (document["rollback_targets"], document["default_target"]) == (["v3"], "v3")


def test_status_of_an_empty_live_bucket_says_nothing_is_live(
    s3_env: dict[str, str], empty_buckets: None
) -> None:
    assert run("status", *LIVE) == (0, "nothing is live at s3://live/\n", "")


def test_rollback_wait_returns_to_the_release_before_the_live_one_and_its_replay_changes_nothing(
    s3: Any, s3_server: S3Server, app: ModuleType, three_releases: dict[int, str]
) -> None:
    code, out, err = with_function(app, s3_server, "rollback", "--bucket", "artifacts", *LIVE, "--wait")

    assert code == 0, err
    uri, line = out.splitlines()
    assert uri.startswith("s3://artifacts/staging/rollback-") and uri.endswith(".json")
    assert line.startswith("deployed: release v2 (live before: v3, after: v2)")
    assert live_release(s3) == "v2"
    request = json.loads(s3.get_object(Bucket="artifacts", Key=uri[len("s3://artifacts/") :])["Body"].read())
    assert {k: request[k] for k in ("release", "replaces", "artifact_key")} == {
        "release": "v2",
        "replaces": "v3",
        "artifact_key": "staging/v2.zip",
    }
    assert len(request["request"]) == 32

    # The replay: the very same request object staged again (a retried CI job, a second event).
    key = uri[len("s3://artifacts/") :]
    body = s3.get_object(Bucket="artifacts", Key=key)["Body"].read()
    waiter = Waiter(s3, "artifacts", key, "reports/", timeout=30.0)
    waiter.before_staging()
    function = threading.Thread(target=handle_request_event, args=(app, s3_server))
    function.start()
    etag = s3.put_object(Bucket="artifacts", Key=key, Body=body, ContentType="application/json")["ETag"]
    try:
        replay = waiter.wait(etag)
    finally:
        function.join(timeout=60)
    assert (replay["outcome"], replay["reason"]) == ("unchanged", "replayed")
    assert live_release(s3) == "v2"


def test_rollback_to_a_named_release_stages_its_request_without_waiting(
    s3: Any, three_releases: dict[int, str]
) -> None:
    code, out, _ = run("rollback", "v1", "--bucket", "artifacts", *LIVE, "--json")

    assert code == 0
    record = json.loads(out)
    assert (record["release"], record["replaces"], record["artifact"]) == (
        "v1",
        "v3",
        "s3://artifacts/staging/v1.zip",
    )
    assert "report" not in record
    assert live_release(s3) == "v3"  # only the function moves the live release


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["v3"], "release v3 is the live release: nothing to roll back to"),
        (["v7"], "release v7 is not retained: it did not go live in this live bucket's journal"),
        (["v1"], "release v1 is not retained: its artifact s3://artifacts/staging/v1.zip is gone"),
        ([], "release v2 is not retained: its record s3://live/.releases/v2/history.jsonl is gone"),
    ],
)
def test_rollback_is_refused_in_one_line_when_the_target_is_live_or_not_retained(
    s3: Any, three_releases: dict[int, str], argv: list[str], message: str
) -> None:
    s3.delete_object(Bucket="artifacts", Key=three_releases[1])
    s3.delete_object(Bucket="live", Key=".releases/v2/history.jsonl")

    code, out, err = run("rollback", *argv, "--bucket", "artifacts", *LIVE, "--wait")

    assert (code, out) == (2, "")
    assert err.startswith(f"build_tool: error: {message}") and err.count("\n") == 1
    listed = s3.list_objects_v2(Bucket="artifacts", Prefix="staging/rollback-").get("KeyCount", 0)
    assert listed == 0 and live_release(s3) == "v3"


def test_package_rollback_is_a_usage_error_that_names_the_new_command() -> None:
    code, out, err = run("package", "--settings", "s", "--bucket", "artifacts", "--rollback")

    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "run `build_tool rollback RELEASE`" in err
