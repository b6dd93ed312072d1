"""Run `build_tool` in this interpreter: its `main(argv, env)` with string streams, in a forked child.

A fork starts from this process as it is (Django, whitenoise and boto3 already imported, so no
interpreter start and no import time) but with its own Django: each run sets Django up afresh, on
its own settings, as a new process would, and leaves this one untouched.
"""

from __future__ import annotations

import io
import os
import pickle
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # noqa: F401 - imported once here, not in every child
import django.core.management  # noqa: F401
import whitenoise.storage  # noqa: F401

from build_tool.cli import main
from build_tool.env import Environment

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = ROOT / "tests" / "projects"
OFFLINE = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "SOURCE_DATE_EPOCH": "1767225600",
}


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str
    value: Any = None  # what `inspect` returned in the child


def forked(work: Callable[[], Any], timeout: float = 120) -> Any:
    """work() in a forked child; its return value (pickled), or its traceback as an AssertionError."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        os.close(read)
        try:
            payload = pickle.dumps((True, work()))
        except BaseException:
            payload = pickle.dumps((False, traceback.format_exc()))
        with os.fdopen(write, "wb") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    ok, value = pickle.loads(data)
    if not ok:
        raise AssertionError(f"the forked run raised:\n{value}")
    return value


def cli(
    args: list[str],
    tmp_path: Path,
    *,
    cwd: Path | None = None,
    inspect: Callable[[], Any] | None = None,
    **environ: str,
) -> Done:
    """`build_tool <args>` with no AWS configuration but `environ`, TMPDIR in tmp_path/tmp."""
    (tmp_path / "tmp").mkdir(exist_ok=True)

    def work() -> Done:
        for key in [k for k in os.environ if k.startswith(("AWS_", "DJANGO_"))]:
            del os.environ[key]
        os.environ.update(OFFLINE, TMPDIR=str(tmp_path / "tmp"), **environ)
        import tempfile

        tempfile.tempdir = None  # read TMPDIR again
        os.chdir(cwd or ROOT)
        env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ=os.environ)
        code = main(args, env)
        value = inspect() if inspect else None
        return Done(code, env.stdout.getvalue(), env.stderr.getvalue(), value)  # type: ignore[attr-defined]

    return forked(work)


def git(folder: Path, *args: str, when: str = "2026-01-01T00:00:00Z") -> str:
    """git in `folder`, committing at `when` (author and committer)."""
    import subprocess

    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


def pinned_site(release: str, live_prefix: str, name: str, env: dict[str, str] | None = None) -> str:
    """The URL an app whose pinned storage reads `release` from the live bucket (under `live_prefix`)
    renders for `name`, or why it did not start: Django configured and started in a forked child, with
    `env` (the S3 endpoint) added to its environment."""

    def child() -> str:
        import django
        from django.conf import settings

        os.environ.update(env or {})
        settings.configure(
            INSTALLED_APPS=["django.contrib.staticfiles"],
            STATIC_URL="/static/",
            STORAGES={"staticfiles": {"BACKEND": "static_deploy.storage.PinnedManifestStaticFilesStorage"}},
            STATIC_DEPLOY={"release": release, "live_bucket": "live", "live_prefix": live_prefix},
        )
        django.setup()
        from django.templatetags.static import static

        try:
            return static(name)
        except Exception as error:  # noqa: BLE001 - the app's start failure is what we look at
            return f"{type(error).__name__}: {error}"

    return str(forked(child))


# A stylesheet large enough to get siblings (the build compresses files of 1,000 bytes or more that
# siblings shrink by 5%: build_tool.build.compress); the touchy project's own files are all smaller.
COMPRESSIBLE_CSS = "".join(f".block-{n} {{ margin: {n}px; padding: {n % 7}px; }}\n" for n in range(60))


def git_project(folder: Path) -> Path:
    """A git repository at `folder` holding the touchy project, committed twice (first parents)."""
    import shutil

    shutil.copytree(PROJECTS / "touchy", folder, ignore=shutil.ignore_patterns("__pycache__"))
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "ci@example.com")
    git(folder, "config", "user.name", "CI")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "one")
    (folder / "assets" / "robots.txt").write_text("User-agent: *\nDisallow:\n")
    git(folder, "commit", "-q", "-am", "two", when="2026-01-02T00:00:00Z")
    return folder
