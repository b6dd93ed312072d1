"""Done when (issue 11): the artifact of a delta build deploys to exactly the same live bucket as a full one.

The example project's r1 is deployed in full under two live prefixes; r2 (one CSS file edited) is
built by the real CLI as a delta of the live r1 under prefix a/ and as a full artifact, deployed
under b/; then the two prefixes are compared object by object, headers and metadata included.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from build_tool.aws.staging import stage
from staticsync.config import Settings
from staticsync.operations.repair import verify_live
from staticsync.report import SyncReport
from tests.artifacts import read_packed
from tests.deploys import deploy_key
from tests.inprocess import ROOT, cli

HEADERS = ("ContentType", "CacheControl", "ContentEncoding", "Metadata")
HISTORY = ".releases/r2/history.jsonl"
JOURNAL = ".releases/journal/00000002.json"


def package(tmp_path: Path, project: Path, out: Path, release: str, env: dict[str, str], *extra: str) -> Any:
    args = ["package", "--settings", "exampleproject.settings", "--project-dir", str(project)]
    done = cli([*args, "--release", release, "--output", str(out), "--json", *extra], tmp_path, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def deploy_to(s3: Any, prefix: str, key: str, artifact: Path | None = None) -> SyncReport:
    if artifact is not None:
        stage(s3, read_packed(artifact), "artifacts", key)
    settings = Settings(live_bucket="live", live_prefix=prefix)
    report = deploy_key(s3, settings, key, SyncReport(f"s3://artifacts/{key}"))
    assert report.outcome == "deployed", report.detail
    return report


def objects(s3: Any, prefix: str) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Every object under `prefix`, by key relative to it: its bytes and the headers a visitor gets."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="live", Prefix=prefix):
        for item in page.get("Contents", []):
            response = s3.get_object(Bucket="live", Key=item["Key"])
            headers = {name: response.get(name) for name in HEADERS}
            found[item["Key"].removeprefix(prefix)] = (response["Body"].read(), headers)
    return found


def same_history(delta: bytes, full: bytes) -> None:
    """r2's record: the same release and files; only `base` and the packed `total_bytes` differ."""
    (delta_record, delta_manifest), (full_record, full_manifest) = (b.splitlines() for b in (delta, full))
    assert delta_manifest == full_manifest
    delta_doc, full_doc = json.loads(delta_record), json.loads(full_record)
    assert delta_doc.pop("base") == "r1" and "base" not in full_doc
    assert delta_doc.pop("total_bytes") < full_doc.pop("total_bytes")
    assert delta_doc == full_doc


def same_journal_entry(delta: bytes, full: bytes) -> None:
    """The journal entry names the artifact it deployed; the rest is the same."""
    delta_doc, full_doc = json.loads(delta), json.loads(full)
    assert (delta_doc.pop("artifact"), full_doc.pop("artifact")) == (
        "s3://artifacts/staging/a/r2.zip",
        "s3://artifacts/staging/b/r2.zip",
    )
    assert delta_doc == full_doc


def same_live_prefixes(s3: Any, cut_over: bool = True) -> None:
    """r2 deployed under `a/` from its delta and under `b/` from its full build: every object the same,
    bytes and headers, but for what names the artifact (the record, the journal entry, the manifest's
    `release-sha256` when r2 was `cut_over`; without a cutover both manifests are still r1's)."""
    in_a, in_b = objects(s3, "a/"), objects(s3, "b/")
    assert sorted(in_a) == sorted(in_b)
    assert len(in_a) > 500
    for key in sorted(in_a):
        if key == HISTORY:
            same_history(in_a[key][0], in_b[key][0])
        elif key == JOURNAL:
            same_journal_entry(in_a[key][0], in_b[key][0])
        elif key == "staticfiles.json":
            # The cutover notes the SHA-256 of the release.json it deployed: the delta's is not the full's.
            (body_a, head_a), (body_b, head_b) = in_a[key], in_b[key]
            assert body_a == body_b
            digests = (head_a["Metadata"].pop("release-sha256"), head_b["Metadata"].pop("release-sha256"))
            assert (digests[0] != digests[1]) is cut_over and head_a == head_b
        else:
            assert in_a[key] == in_b[key], key


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "example"
    shutil.copytree(ROOT / "example", folder, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    return folder


def test_a_delta_build_deploys_to_exactly_the_live_bucket_a_full_build_does(
    tmp_path: Path, project: Path, s3: Any, s3_env: dict[str, str], empty_buckets: None
) -> None:
    package(tmp_path, project, tmp_path / "r1.zip", "r1", s3_env)
    stage(s3, read_packed(tmp_path / "r1.zip"), "artifacts", "staging/r1.zip")
    for prefix in ("a/", "b/"):
        deploy_to(s3, prefix, "staging/r1.zip")
    css = project / "shop" / "static" / "shop" / "css" / "base.css"
    css.write_text(css.read_text() + "\n.edited { color: rebeccapurple; }\n")

    plan_args = ["plan", "--settings", "exampleproject.settings", "--project-dir", str(project)]
    planned = cli(
        [*plan_args, "--release", "r2", "--live-bucket", "live", "--live-prefix", "a/", "--json"],
        tmp_path,
        **s3_env,
    )
    assert planned.returncode == 2, planned.stderr  # changes, judged on the delta it built

    live_a = ("--live-bucket", "live", "--live-prefix", "a/")
    delta = package(tmp_path, project, tmp_path / "r2-delta.zip", "r2", s3_env, *live_a)
    full = package(tmp_path, project, tmp_path / "r2-full.zip", "r2", s3_env, *live_a, "--full")
    assert (delta["base"], full["base"]) == ("r1", None)
    assert delta["files"] == full["files"] > 500
    assert delta["zip_bytes"] * 10 < full["zip_bytes"]
    assert delta["compressed"] <= 3 < 50 < full["compressed"]

    report_a = deploy_to(s3, "a/", "staging/a/r2.zip", tmp_path / "r2-delta.zip")
    report_b = deploy_to(s3, "b/", "staging/b/r2.zip", tmp_path / "r2-full.zip")
    assert report_a.files_uploaded == report_b.files_uploaded == json.loads(planned.stdout)["files_to_upload"]
    assert sorted(report_a.keys_uploaded) == sorted(k.replace("b/", "a/", 1) for k in report_b.keys_uploaded)

    same_live_prefixes(s3)
    print(f"\ndelta: {delta}\nfull: {full}")

    # Repair with a delta live: a changed file comes back from the delta's own member; an inherited
    # one from its base's artifact (staging/r1.zip), checked against r2's record (issue 19).
    settings = Settings(live_bucket="live", live_prefix="a/", artifacts_bucket="artifacts")
    s3.delete_object(Bucket="live", Key="a/shop/css/base.css")
    s3.delete_object(Bucket="live", Key="a/robots.txt")
    repaired = verify_live(s3, settings, repair=True)
    assert repaired.restored == ["a/robots.txt", "a/shop/css/base.css"]
    assert repaired.remaining == []
