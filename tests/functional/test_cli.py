"""`build_tool package` as a user runs it: exit codes, one-line errors, output, no leftovers.

In-process (tests/inprocess.py: `main(argv, env)` in a forked child); tests/functional/test_cli_signals.py
keeps the runs that need a real process.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from build_tool import cli
from build_tool.commands import package as pipeline
from build_tool.env import Environment
from tests.inprocess import PROJECTS, ROOT
from tests.inprocess import cli as run

TOUCHY = PROJECTS / "touchy"
BROKEN_SETTINGS = """
from pathlib import Path
SECRET_KEY = "x"
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "/static/"
STATICFILES_DIRS = [Path(__file__).parent / "assets"]
"""

# `package --json` without --wait (which adds "report").
JSON_KEYS = {
    "uri",
    "release",
    "created_at",
    "source_commit",
    "files",
    "bytes",
    "zip_bytes",
    "sha256",
    "seconds",
    "compressed",
    "compressed_from_cache",
    "timings",
    "base",
    "inherited",
    "compression_skipped",
    "scratch",
    "collected",
    "inputs",
}


def package(*args: str) -> list[str]:
    return ["package", *args]


def touchy(*args: str) -> list[str]:
    return package("--settings", "touchysettings", "--project-dir", str(TOUCHY), *args)


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
        (package("--output", "x.zip"), 2, "no settings module"),
        (package("--settings", "touchysettings"), 2, "--bucket (upload) or --output"),
        (package("--settings", "s", "--bucket", "b", "--prefix", "staging"), 2, "must end with '/'"),
        (touchy("--output", "x.zip", "--release", "../evil"), 2, "--release '../evil'"),
        (touchy("--output", "no/such/folder/x.zip"), 2, "folder no/such/folder does not exist"),
        (touchy("--output", "tests"), 2, "--output tests is a folder"),
        (touchy("--bucket", "b", "--profile", "nope"), 6, "AWS profile 'nope' not found"),
        (package("--settings", "nosuch.settings", "--output", "x.zip"), 3, "cannot import settings"),
        (
            package("--settings", "nostatic", "--project-dir", str(TOUCHY), "--output", "x.zip"),
            3,
            "do not install 'django.contrib.staticfiles'",
        ),
        (package("--settings", "s", "--bogus"), 2, "unrecognized arguments: --bogus"),
    ],
)
def test_user_mistakes_get_one_line_and_a_documented_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    done = run(args, tmp_path)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "collecting" not in done.stderr  # found before the slow part
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(("build_tool: error: ", "build_tool package: error: "))


def test_a_malformed_region_is_one_line_with_the_aws_code(tmp_path: Path) -> None:
    done = run(touchy("--bucket", "b"), tmp_path, AWS_DEFAULT_REGION="eu west 1", AWS_ACCESS_KEY_ID="x")
    assert done.returncode == 6
    assert done.stderr.count("\n") == 1 and "AWS_REGION" in done.stderr


def test_a_bad_source_date_epoch_is_a_usage_error(tmp_path: Path) -> None:
    done = run(touchy("--output", "x.zip"), tmp_path, SOURCE_DATE_EPOCH="yesterday")
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)
    assert "SOURCE_DATE_EPOCH='yesterday'" in done.stderr


def test_a_bug_stays_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Any ValueError used to be reported as a usage error; only UsageError is one now.
    def broken(args: object, env: object) -> dict[str, object]:
        raise ValueError("a bug")

    monkeypatch.setattr(pipeline, "package", broken)
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["package", "--settings", "s", "--output", "x.zip"], env)


@pytest.mark.parametrize(
    "storage",
    [
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
    ],
)
def test_a_css_url_to_a_missing_file_is_one_line_naming_both_files(
    tmp_path: Path, broken_project: Path, storage: str
) -> None:
    args = package("--settings", "brokensettings", "--project-dir", str(broken_project), "--output", "x.zip")
    done = run([*args, "--storage", storage, "--quiet"], tmp_path)
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1, done.stderr
    assert "css/site.css refers to img/gone.png" in done.stderr
    assert "object at 0x" not in done.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # temporary files removed on failure too


def test_no_credentials_fails_before_collecting(tmp_path: Path) -> None:
    done = run(touchy("--bucket", "artifacts"), tmp_path)
    assert done.returncode == 6
    assert "no AWS credentials" in done.stderr
    assert "collecting" not in done.stderr


def test_output_writes_the_zip_and_json_record(tmp_path: Path) -> None:
    out = tmp_path / "artifact.zip"
    done = run(touchy("--output", str(out), "--release", "r1", "--json"), tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result.keys() == JSON_KEYS  # what pipelines read: a change here is a change of the CLI
    assert result["release"] == "r1" and result["uri"] == str(out)
    assert result["created_at"] == "2026-01-01T00:00:00Z"
    names = zipfile.ZipFile(out).namelist()
    assert "static/touchy/css/app.css" in names and names[-2:] == ["staticfiles.json", "release.json"]
    assert result["files"] == len(names) - 2
    assert list((tmp_path / "tmp").iterdir()) == []


def test_human_output_is_the_uri_on_stdout_and_a_summary_on_stderr(tmp_path: Path) -> None:
    out = tmp_path / "artifact.zip"
    done = run(touchy("--output", str(out), "--release", "r1"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "release r1:" in done.stderr and "files" in done.stderr


def test_quiet_prints_nothing_on_success(tmp_path: Path) -> None:
    done = run(touchy("--output", str(tmp_path / "a.zip"), "--release", "r1", "--quiet"), tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_help_lists_the_exit_codes_and_the_environment(tmp_path: Path) -> None:
    done = run(["package", "--help"], tmp_path)
    assert done.returncode == 0
    for code in ExitCodes:
        assert f"{code.value} " in done.stdout
    for variable in ("DJANGO_SETTINGS_MODULE", "SOURCE_DATE_EPOCH", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3"):
        assert variable in done.stdout


ExitCodes = list(cli.ExitCode)


def test_the_configuration_reference_documents_every_exit_code() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    for code in cli.ExitCode:
        assert f"| {code.value} |" in reference
