"""`build_tool plan` against an in-process S3 (moto): the Lambda's own checks and plan, staging nothing."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from build_tool.aws.live import LiveReadError, read_live_state
from build_tool.cli import PLAN_CODES, ExitCode
from build_tool.commands.plan import Preview, as_json, judge, table
from staticsync.config import Settings
from staticsync.model.contract import MANIFEST_NAME
from staticsync.report import SyncReport
from tests.artifacts import build, collected_tree, read_packed, stage_artifact
from tests.deploys import deploy_key
from tests.inprocess import PROJECTS
from tests.inprocess import cli as run
from tests.sites import collected

SETTINGS = Settings(live_bucket="live")
NOW = datetime(2026, 6, 1, tzinfo=UTC)
V1 = {"css/site.css": b"body { color: red }\n" * 20, "robots.txt": b"User-agent: *\n"}
V2 = {**V1, "css/site.css": b"body { color: teal }\n" * 20}
MOTO = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def deployed(client: Any, zip_path: Path) -> SyncReport:
    """Stage the zip and run the Lambda's deploy on it, as the function would on its event."""
    key = stage_artifact(client, read_packed(zip_path))
    report = deploy_key(client, SETTINGS, key)
    assert report.outcome in ("deployed", "unchanged"), report.detail
    return report


def planned(client: Any, zip_path: Path, release: str) -> Preview:
    return judge(zip_path.read_bytes(), read_live_state(client, SETTINGS), SETTINGS, NOW, release)


def hashed(tree: dict[str, bytes], name: str) -> str:
    return str(json.loads(tree[MANIFEST_NAME])["paths"][name])


def test_a_build_with_the_live_files_is_no_change_and_exits_0(moto_s3: Any, tmp_path: Path) -> None:
    r1 = build(collected(V1), tmp_path / "r1.zip", "r1").path
    deployed(moto_s3, r1)
    again = build(collected(V1), tmp_path / "r1-again.zip", "r1-again").path
    for zip_path, release in ((r1, "r1"), (again, "r1-again")):
        found = planned(moto_s3, zip_path, release)
        assert (found.outcome, found.keys_to_upload, found.sequence) == ("no_change", (), None)
        assert PLAN_CODES[found.outcome] == ExitCode.OK == 0
        assert table(found).startswith(f"no change: release {release} against the live r1 (place 1)")


def test_one_changed_file_lists_exactly_what_the_deploy_then_uploads_by_kind(
    moto_s3: Any, tmp_path: Path
) -> None:
    deployed(moto_s3, build(collected(V1), tmp_path / "r1.zip", "r1").path)
    tree = collected(V2)
    r2 = build(tree, tmp_path / "r2.zip", "r2").path
    new = hashed(tree, "css/site.css")
    found = planned(moto_s3, r2, "r2")
    assert found.groups == {
        "hashed": (new,),
        "hashed_siblings": (f"{new}.gz",),
        "unhashed": ("css/site.css",),
        "unhashed_siblings": ("css/site.css.gz",),
    }
    assert found.sizes == {kind: len(tree[paths[0]]) for kind, paths in found.groups.items()}
    assert found.mutable_changed == ("css/site.css", "css/site.css.gz")
    assert found.invalidation_paths == ("/staticfiles.json", "/css/site.css", "/css/site.css.gz")
    assert (found.live_release, found.live_sequence, found.sequence) == ("r1", 1, 2)
    assert PLAN_CODES[found.outcome] == ExitCode.CHANGES == 2
    report = deployed(moto_s3, r2)
    assert sorted(report.keys_uploaded) == list(found.keys_to_upload)
    assert planned(moto_s3, r2, "r2").outcome == "no_change"


def test_a_plan_reads_only_the_live_manifest_the_live_release_s_history_and_the_next_journal_place(
    moto_s3: Any, tmp_path: Path
) -> None:
    deployed(moto_s3, build(collected(V1), tmp_path / "r1.zip", "r1").path)
    calls: list[tuple[str, str]] = []
    moto_s3.meta.events.register(
        "provide-client-params.s3", lambda params, model, **_: calls.append((model.name, params["Key"]))
    )
    planned(moto_s3, build(collected(V2), tmp_path / "r2.zip", "r2").path, "r2")
    # The journal place after the live one is read beside the history (in either order): a claim there
    # is a deploy that died, whose unhashed names the plan must rewrite.
    assert calls[0] == ("GetObject", "staticfiles.json")
    assert sorted(calls[1:]) == [
        ("GetObject", ".releases/journal/00000002.json"),
        ("GetObject", ".releases/r1/history.jsonl"),
    ]


def hashed_name_lies(tmp_path: Path) -> tuple[Path, str]:
    tree = collected_tree(V2)
    name = hashed(tree, "css/site.css")
    tree[name] = b"body { color: black }\n"  # the name no longer says its bytes
    return build(tree, tmp_path / "liar.zip", "liar").path, name


def unsafe_path(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "unsafe.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("static/css/../../evil.css", b"x")
    return path, "static/css/../../evil.css"


@pytest.mark.parametrize(
    ("make", "code"), [(hashed_name_lies, "hashed_name_mismatch"), (unsafe_path, "unsafe_path")]
)
def test_an_artifact_the_function_would_reject_is_refused_with_its_code_and_member(
    moto_s3: Any, tmp_path: Path, make: Any, code: str
) -> None:
    deployed(moto_s3, build(collected(V1), tmp_path / "r1.zip", "r1").path)
    zip_path, member = make(tmp_path)
    found = planned(moto_s3, zip_path, "r2")
    assert (found.outcome, found.reason, found.member, found.keys_to_upload) == ("refused", code, member, ())
    assert PLAN_CODES[found.outcome] == ExitCode.REJECTED == 7
    assert table(found) == f"refused: {code}: {found.detail} ({member})"
    assert as_json(found)["reason"] == code and as_json(found)["hashed"] == []


def test_a_live_bucket_that_does_not_exist_is_one_line(moto_s3: Any) -> None:
    with pytest.raises(LiveReadError, match="live bucket 'nosuch' does not exist"):
        read_live_state(moto_s3, Settings(live_bucket="nosuch"))


def test_the_json_record_names_every_group_and_the_totals(moto_s3: Any, tmp_path: Path) -> None:
    found = planned(moto_s3, build(collected(V1), tmp_path / "r1.zip", "r1").path, "r1")
    record = as_json(found)
    assert (record["outcome"], record["live_release"], record["sequence"]) == ("changes", None, 1)
    assert record["files_to_upload"] == len(record["keys_to_upload"]) == len(collected(V1)) - 1
    assert record["bytes_to_upload"] == sum(record["bytes"].values())
    assert set(record["bytes"]) == {"hashed", "hashed_siblings", "unhashed", "unhashed_siblings"}
    headline = "changes: release r1 against no release: 0 files unchanged, 6 to upload, as place 1"
    assert table(found).splitlines()[0] == headline
    json.dumps(record)


# The command itself, in-process (tests/inprocess.py), on a copy of the small touchy project.


def touchy_plan(project: Path, *args: str) -> list[str]:
    return [
        "plan",
        "--settings",
        "touchysettings",
        "--project-dir",
        str(project),
        "--live-bucket",
        "live",
        *args,
    ]


@pytest.fixture
def touchy_live(moto_s3: Any, tmp_path: Path) -> Path:
    """A copy of the touchy project whose release r1 is live."""
    project = tmp_path / "touchy"
    shutil.copytree(PROJECTS / "touchy", project, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "r1.zip"
    package = ["package", "--settings", "touchysettings", "--project-dir", str(project)]
    done = run([*package, "--output", str(out), "--release", "r1"], tmp_path)
    assert done.returncode == 0, done.stderr
    deployed(moto_s3, out)
    return project


def test_plan_exits_0_on_no_change_and_2_on_one_change_with_the_files_listed(
    touchy_live: Path, tmp_path: Path
) -> None:
    done = run(touchy_plan(touchy_live, "--release", "r1"), tmp_path, **MOTO)
    assert (done.returncode, done.stdout.split(":")[0]) == (0, "no change"), done.stderr
    css = touchy_live / "touchy_app" / "static" / "touchy" / "css" / "app.css"
    css.write_text(css.read_text() + "p { margin: 0 }\n")
    done = run(touchy_plan(touchy_live, "--release", "r2", "--json"), tmp_path, **MOTO)
    assert done.returncode == 2, done.stderr
    record = json.loads(done.stdout)
    assert record["unhashed"] == ["touchy/css/app.css"] and record["live_release"] == "r1"
    assert [p.split(".")[0] for p in record["hashed"]] == ["touchy/css/app"]
    assert "touchy/css/app.css" in done.stdout and list(tmp_path.joinpath("tmp").iterdir()) == []


def test_plan_of_a_build_from_the_future_is_refused_with_exit_7(touchy_live: Path, tmp_path: Path) -> None:
    done = run(touchy_plan(touchy_live, "--release", "r2"), tmp_path, SOURCE_DATE_EPOCH="4102444800", **MOTO)
    assert done.returncode == 7, done.stderr
    assert done.stdout.startswith("refused: future_timestamp: release r2 says it was built at 2100-01-01")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--settings", "touchysettings"], "--live-bucket is required"),
        (
            ["plan", "--settings", "s", "--live-bucket", "live", "--live-prefix", "static"],
            "must end with '/'",
        ),
        (["plan", "--live-bucket", "live"], "no settings module"),
    ],
)
def test_plan_flag_mistakes_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = run(args, tmp_path)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1
