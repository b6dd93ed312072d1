"""The package `sam build` ships runs on its own: a fresh Python 3.13 with only the build on its path."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from build_tool.aws.staging import stage
from build_tool.build.pack import Packed
from devtools.seaweed import S3Server

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / ".aws-sam" / "build" / "SyncFunction"
RUNNER = """
import json, sys
sys.path[:] = [sys.argv[1]] + [p for p in sys.path if "site-packages" not in p and p not in ("", ".")]
import app

class Context:
    function_name = "static-deploy"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:static-deploy"
    aws_request_id = "built-package-test"
    def get_remaining_time_in_millis(self):
        return 900_000

result = app.lambda_handler(json.load(open(sys.argv[2])), Context())
files = {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
outside = sorted(f for f in files if f and not f.startswith((sys.argv[1], sys.base_prefix)))
print(json.dumps({"result": result, "outside": outside}))
"""


def python313() -> str:
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    if os.environ.get("PYENV_ROOT"):
        found += sorted(glob.glob(os.path.join(os.environ["PYENV_ROOT"], "versions/3.13*/bin/python3.13")))
    if found:  # the interpreter itself, not pyenv's shim (which depends on the local version file)
        return found[-1]
    which = shutil.which("python3.13")
    if not which:
        pytest.fail("no python3.13: the Lambda runtime is 3.13 (install it, e.g. pyenv install 3.13)")
    return which


def test_the_built_function_deploys_an_artifact_and_imports_nothing_from_the_repo(
    s3_server: S3Server, s3: object, empty_buckets: None, make_artifact: Callable[..., Packed], tmp_path: Path
) -> None:
    if not (BUILT / "app.py").is_file():
        pytest.fail(f"{BUILT} is missing: run `make sam` (sam build) first; `make test` does")
    assert not (BUILT / "build_tool").exists() and not (BUILT / "django").exists()
    event_file = ROOT / "events" / "artifact_put.json"
    key = json.loads(event_file.read_text())["Records"][0]["s3"]["object"]["key"]
    stage(
        s3,
        make_artifact({"css/site.css": b"body{}", "robots.txt": b"ok"}, release="2f1c9e7"),
        "artifacts",
        key,
    )
    env = {**s3_server.env({"PATH": os.environ.get("PATH", "")}), "LIVE_BUCKET": "live"}
    done = subprocess.run(
        [python313(), "-I", "-c", RUNNER, str(BUILT), str(event_file)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout.strip().splitlines()[-1])
    assert output["outside"] == []
    [report] = output["result"]["deploys"]
    assert (report["release"], report["outcome"], report["files_uploaded"]) == ("2f1c9e7", "deployed", 4)
