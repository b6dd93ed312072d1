"""`build_tool plan` on the example project against SeaweedFS: it lists exactly what the deploy then PUTs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devtools.seaweed import S3Server
from staticsync.live.state import HISTORY_NAME
from tests.inprocess import ROOT, Done, cli
from tests.integration.test_pipeline import upload_and_handle


@pytest.fixture
def app(app: ModuleType) -> ModuleType:
    """The shared handler (tests/integration/conftest.py); its S3 calls (operation, bucket, key) in
    `app.calls`."""
    app.calls = []  # type: ignore[attr-defined]
    app.s3.meta.events.register(
        "provide-client-params.s3",
        lambda params, model, **_: app.calls.append((model.name, params["Bucket"], params.get("Key"))),
    )
    return app


class Example:
    """A copy of example/ and the build_tool commands on it, sharing one build cache."""

    def __init__(self, work: Path, s3_env: dict[str, str]) -> None:
        self.work, self.env = work, s3_env
        self.project = work / "example"
        shutil.copytree(
            ROOT / "example", self.project, ignore=shutil.ignore_patterns("staticfiles", "__pycache__")
        )

    def run(self, command: str, release: str, *args: str) -> Done:
        argv = [command, "--settings", "exampleproject.settings", "--project-dir", str(self.project)]
        argv += ["--release", release, "--cache-dir", str(self.work / "cache"), *args]
        return cli(argv, self.work, **self.env)

    def plan(self, release: str) -> tuple[int, dict[str, Any]]:
        done = self.run("plan", release, "--live-bucket", "live", "--json")
        assert done.returncode in (0, 2), done.stderr
        return done.returncode, json.loads(done.stdout)

    def package(self, release: str) -> Path:
        out = self.work / f"{release}.zip"
        done = self.run("package", release, "--output", str(out))
        assert done.returncode == 0, done.stderr
        return out

    def edit_css(self) -> None:
        base = self.project / "shop" / "static" / "shop" / "css" / "base.css"
        base.write_text(base.read_text() + "\n.edited { color: rebeccapurple; }\n")


def test_plan_lists_exactly_the_keys_the_deploy_then_puts_and_no_change_after_it(
    app: ModuleType, s3: Any, s3_server: S3Server, s3_env: dict[str, str], tmp_path: Path
) -> None:
    example = Example(tmp_path, s3_env)
    first = upload_and_handle(app, s3, s3_server, example.package("r1"))
    assert first["outcome"] == "deployed", first
    assert example.plan("r1")[0] == 0
    example.edit_css()
    code, planned = example.plan("r2")
    assert (code, planned["outcome"], planned["live_release"], planned["sequence"]) == (2, "changes", "r1", 2)
    report = upload_and_handle(app, s3, s3_server, example.package("r2"))
    own = {"staticfiles.json", f".releases/r2/{HISTORY_NAME}", ".releases/journal/00000002.json"}
    puts = sorted(k for op, bucket, k in app.calls if (op, bucket) == ("PutObject", "live") and k not in own)
    assert planned["keys_to_upload"] == sorted(report["keys_uploaded"]) == puts
    assert planned["bytes_to_upload"] == report["bytes_uploaded"]
    assert any(p.startswith("shop/css/base.") for p in planned["hashed"])
    assert planned["unhashed"] == ["shop/css/base.css"]
    assert planned["mutable_changed"] == ["shop/css/base.css", *planned["unhashed_siblings"]]
    assert planned["invalidation_paths"][0] == "/staticfiles.json"
    code, after = example.plan("r2")
    assert (code, after["outcome"], after["live_release"], after["keys_to_upload"]) == (
        0,
        "no_change",
        "r2",
        [],
    )
