"""The README's CI recipe, as written, run twice on one commit in a fresh clone: the same bytes staged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.inprocess import cli, git, git_project


def test_the_ci_recipe_stages_byte_identical_artifacts_for_one_commit(
    tmp_path: Path, s3: Any, s3_env: dict[str, str], empty_buckets: None
) -> None:
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(git_project(tmp_path / "origin")), str(checkout))
    recipe = ["package", "--settings", "touchysettings", "--cache-dir", ".static-cache"]
    recipe += ["--bucket", "artifacts", "--prefix", "staging/", "--json"]
    staged = []
    for _ in range(2):  # the second run finds the first's cache in the checkout, as a restored CI cache
        done = cli(recipe, tmp_path, cwd=checkout, SOURCE_DATE_EPOCH="", **s3_env)
        assert done.returncode == 0, done.stderr
        record = json.loads(done.stdout)
        key = record["uri"].removeprefix("s3://artifacts/")
        staged.append((record["release"], s3.get_object(Bucket="artifacts", Key=key)["Body"].read()))
    assert staged[0][0] == git(checkout, "rev-parse", "HEAD")[:12]
    assert staged[0] == staged[1]
