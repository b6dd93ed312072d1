"""The local storage is in the settings before Django starts: apps that read `staticfiles_storage`
at import or in ready() (Wagtail's admin does) never build the project's S3 storage."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inprocess import PROJECTS, ROOT, cli

TOUCHY = PROJECTS / "touchy"
CLOSED = {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}


def what_the_app_saw() -> dict[str, object]:
    from touchy_app import SEEN

    return {
        "seen": [f"{kind.__module__}.{kind.__qualname__}" if kind else None for kind in SEEN],
        "s3_storage_imported": "storages.backends.s3" in sys.modules,
    }


@pytest.mark.parametrize("settings", ["touchysettings", "touchysettings42"])
def test_an_app_touching_the_static_storage_at_startup_gets_the_local_one(
    tmp_path: Path, settings: str
) -> None:
    args = [
        "package",
        "--settings",
        settings,
        "--project-dir",
        str(TOUCHY),
        "--output",
        str(tmp_path / "a.zip"),
    ]
    done = cli([*args, "--release", "r1", "--quiet"], tmp_path, inspect=what_the_app_saw, **CLOSED)
    assert (done.returncode, done.stderr) == (0, "")
    local = "build_tool.build.compress.CompressedManifestStaticFilesStorage"
    assert done.value == {"seen": [local, local], "s3_storage_imported": False}


# `make` installs Django 4.2 into .venv/django42; DJANGO42_PATH names another such folder.
DJANGO42 = os.environ.get("DJANGO42_PATH") or str(ROOT / ".venv" / "django42")


@pytest.mark.skipif(not Path(DJANGO42, "django").is_dir(), reason=f"no Django 4.2 in {DJANGO42}")
def test_on_django_42_a_project_naming_its_storage_in_staticfiles_storage_packages_offline(
    tmp_path: Path,
) -> None:
    code = (
        "import sys, django; from build_tool.cli import main; assert django.VERSION[:2] == (4, 2); "
        "code = main(sys.argv[1:]); from touchy_app import SEEN; print(SEEN[-1].__name__); sys.exit(code)"
    )
    args = ["package", "--settings", "touchysettings42", "--project-dir", str(TOUCHY), "--release", "r1"]
    env = {
        **os.environ,
        **CLOSED,
        "PYTHONPATH": os.pathsep.join([DJANGO42, str(ROOT), str(ROOT / "lambda_fn")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args, "--output", str(tmp_path / "a.zip"), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "CompressedManifestStaticFilesStorage"
