"""`build_tool package` as a user runs it: exit codes, one-line errors, output, no leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example"
BROKEN_SETTINGS = """
from pathlib import Path
SECRET_KEY = "x"
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "/static/"
STATICFILES_DIRS = [Path(__file__).parent / "assets"]
"""


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter with no AWS configuration but what `env` gives."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))}
    clean.update(
        TMPDIR=str(tmp_path / "tmp"),
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        SOURCE_DATE_EPOCH="1767225600",
        **env,
    )
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "build_tool", "package", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def example(*args: str) -> list[str]:
    return ["--settings", "exampleproject.settings", "--project-dir", str(EXAMPLE), *args]


@pytest.fixture
def broken_project(tmp_path: Path) -> Path:
    project = tmp_path / "broken"
    (project / "assets" / "css").mkdir(parents=True)
    (project / "brokensettings.py").write_text(BROKEN_SETTINGS)
    (project / "assets" / "css" / "site.css").write_text('body { background: url("../img/gone.png"); }\n')
    return project


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--output", "x.zip"], 2, "no settings module"),
        (["--settings", "exampleproject.settings"], 2, "--bucket (upload) or --output"),
        (["--settings", "s", "--bucket", "b", "--prefix", "staging"], 2, "must end with '/'"),
        (example("--output", "x.zip", "--release", "../evil"), 2, "--release '../evil'"),
        (
            ["--settings", "nosuch.settings", "--output", "x.zip"],
            3,
            "cannot import settings 'nosuch.settings'",
        ),
    ],
)
def test_user_mistakes_get_one_line_and_a_documented_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    done = run(args, tmp_path)
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("build_tool: error: ")


def test_a_css_url_to_a_missing_file_fails_the_collect_naming_the_file(
    tmp_path: Path, broken_project: Path
) -> None:
    done = run(
        ["--settings", "brokensettings", "--project-dir", str(broken_project), "--output", "x.zip"], tmp_path
    )
    assert done.returncode == 4
    assert "gone.png" in done.stderr and "css/site.css" in done.stderr
    assert "Traceback" not in done.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # temporary files removed on failure too


def test_no_credentials_fails_before_collecting(tmp_path: Path) -> None:
    done = run(example("--bucket", "artifacts"), tmp_path)
    assert done.returncode == 6
    assert "no AWS credentials" in done.stderr
    assert "collecting" not in done.stderr


def test_output_writes_the_zip_and_makes_no_s3_call_whatever_storages_says(tmp_path: Path) -> None:
    # exampleproject's STORAGES is django-storages' S3ManifestStaticStorage; any S3 call would hit
    # this closed port and fail.
    out = tmp_path / "artifact.zip"
    done = run(
        example("--output", str(out), "--release", "r1", "--json"),
        tmp_path,
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["release"] == "r1" and result["uri"] == str(out)
    assert result["created_at"] == "2026-01-01T00:00:00Z"
    names = zipfile.ZipFile(out).namelist()
    assert "static/shop/css/site.css" in names and names[-2:] == ["staticfiles.json", "release.json"]
    assert result["files"] == len(names) - 2
    assert list((tmp_path / "tmp").iterdir()) == []


def test_human_output_is_the_uri_on_stdout_and_a_summary_on_stderr(tmp_path: Path) -> None:
    out = tmp_path / "artifact.zip"
    done = run(example("--output", str(out), "--release", "r1"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "release r1:" in done.stderr and "files" in done.stderr


def test_quiet_prints_nothing_on_success(tmp_path: Path) -> None:
    done = run(example("--output", str(tmp_path / "a.zip"), "--release", "r1", "--quiet"), tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
