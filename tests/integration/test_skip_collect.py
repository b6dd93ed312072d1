"""A no-change redeploy (a new release id, the same static inputs) is built without collecting: the
delta takes the live release's files, and the live bucket after deploying it is the one a full build
of the same release gives (build_tool.build.inputs; compared as tests/integration/test_delta.py does).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from build_tool.aws.staging import stage
from staticsync.config import Settings
from staticsync.report import SyncReport
from tests.artifacts import read_packed
from tests.deploys import deploy_key
from tests.inprocess import ROOT
from tests.integration.test_delta import deploy_to, package, same_live_prefixes


def deploy(s3: Any, prefix: str, key: str, artifact: Path) -> tuple[str, str | None, int]:
    """Stage and deploy `artifact` under the live `prefix`: (outcome, reason, files uploaded)."""
    stage(s3, read_packed(artifact), "artifacts", key)
    settings = Settings(live_bucket="live", live_prefix=prefix)
    report = deploy_key(s3, settings, key, SyncReport(f"s3://artifacts/{key}"))
    assert report.outcome in ("deployed", "unchanged"), report.detail
    return report.outcome, report.reason, report.files_uploaded


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "example"
    shutil.copytree(ROOT / "example", folder, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    return folder


def test_a_no_change_delta_skips_the_collect_and_deploys_what_a_full_build_does(
    tmp_path: Path, example: Path, s3: Any, s3_env: dict[str, str], empty_buckets: None
) -> None:
    r1 = package(tmp_path, example, tmp_path / "r1.zip", "r1", s3_env)
    assert r1["collected"] and r1["inputs"]
    stage(s3, read_packed(tmp_path / "r1.zip"), "artifacts", "staging/r1.zip")
    for prefix in ("a/", "b/"):
        deploy_to(s3, prefix, "staging/r1.zip")

    live_a = ("--live-bucket", "live", "--live-prefix", "a/")
    delta = package(tmp_path, example, tmp_path / "r2-delta.zip", "r2", s3_env, *live_a)
    forced = package(tmp_path, example, tmp_path / "r2-forced.zip", "r2", s3_env, *live_a, "--always-collect")
    full = package(tmp_path, example, tmp_path / "r2-full.zip", "r2", s3_env, *live_a, "--full")
    assert (delta["collected"], forced["collected"], full["collected"]) == (False, True, True)
    assert "collect" not in delta["timings"] and "inputs" in delta["timings"]
    assert delta["inputs"] == forced["inputs"] == full["inputs"] == r1["inputs"]
    assert (delta["base"], full["base"]) == ("r1", None)
    assert delta["files"] == full["files"] > 500 and delta["inherited"] == delta["files"]
    # The skipped build's artifact is the collecting delta's, byte for byte.
    assert (tmp_path / "r2-delta.zip").read_bytes() == (tmp_path / "r2-forced.zip").read_bytes()

    outcomes = [
        deploy(s3, prefix, f"staging/{prefix}r2.zip", tmp_path / name)
        for prefix, name in (("a/", "r2-delta.zip"), ("b/", "r2-full.zip"))
    ]
    assert outcomes[0] == outcomes[1], outcomes
    print(f"\nr2 deployed as {outcomes[0]}")
    same_live_prefixes(s3, cut_over=False)  # both `unchanged`: the same bytes as r1
