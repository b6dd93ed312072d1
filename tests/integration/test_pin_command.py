"""`build_tool pin` stages a request the handler, on its S3 event, turns into a pin retention keeps."""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType
from typing import Any

from build_tool.cli import main
from build_tool.env import Environment
from staticsync.config import Settings
from staticsync.model.pins import PINS_DIR
from tests.conftest import FakeContext, load_event
from tests.deploys import deploy_key
from tests.sites import stage_version

SETTINGS = Settings(live_bucket="live")


def pin(*argv: str) -> tuple[int, str]:
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    code = main(["pin", *argv, "--bucket", "artifacts", "--live-bucket", "live"], env)
    return code, env.stdout.getvalue() + env.stderr.getvalue()  # type: ignore[attr-defined]


def on_event(app: ModuleType, key: str) -> dict[str, Any]:
    event = load_event("artifact_put.json")
    event["Records"][0]["s3"]["object"]["key"] = key
    [report] = app.lambda_handler(event, FakeContext())["deploys"]
    return dict(report)


def pins(s3: Any) -> list[str]:
    listed = s3.list_objects_v2(Bucket="live", Prefix=f".releases/{PINS_DIR}").get("Contents", [])
    return [item["Key"] for item in listed]


def test_a_pin_of_a_deployed_release_is_kept_and_one_of_an_unknown_release_is_refused(
    app: ModuleType, s3: Any, tmp_path: Path
) -> None:
    assert deploy_key(s3, SETTINGS, stage_version(s3, tmp_path, 1)).outcome == "deployed"

    code, out = pin("v1", "--app", "web", "--days", "30")
    kept = on_event(app, out.split()[0].removeprefix("s3://artifacts/"))
    code_unknown, out_unknown = pin("v9", "--app", "web")
    refused = on_event(app, out_unknown.split()[0].removeprefix("s3://artifacts/"))

    assert (code, code_unknown) == (0, 0)  # staged; the function judges
    assert kept["outcome"] != "rejected", kept
    assert [key.split("/")[2:4] for key in pins(s3)] == [["web", "v1"]]
    assert refused["outcome"] == "rejected"


def test_a_pin_for_longer_than_ten_years_is_a_usage_error_before_anything_is_staged(
    s3: Any, s3_env: dict[str, str], empty_buckets: None
) -> None:
    code, out = pin("v1", "--app", "web", "--days", "99999")
    assert code != 0 and "days" in out
    assert s3.list_objects_v2(Bucket="artifacts", Prefix="staging/pin-").get("KeyCount", 0) == 0
