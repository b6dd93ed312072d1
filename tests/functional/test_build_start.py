"""A build's start pays only for what it needs before Django starts: the command line imports no boto3,
botocore, Django, whitenoise or staticsync; a command's flags and code are imported only when it is the
one run; boto3 is imported by the S3 side's own thread, never by the build's before Django's start. And a
build that is its own process accounts for all of it (`interpreter`, `imports`) in `--json`'s timings.

Each check runs in a fresh interpreter (a subprocess), where sys.modules says what an import pulled in.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from build_tool import cli
from build_tool.env import Environment
from tests.inprocess import OFFLINE, PROJECTS, ROOT

TOUCHY = PROJECTS / "touchy"
# What a build needs only once Django has started (or, for boto3, only in the S3 side's thread).
LATE = ("boto3", "botocore", "s3transfer", "django", "whitenoise")
# What only the commands that talk to the live bucket, or pack, need.
COMMAND_ONLY = ("staticsync",)


def loaded_after(code: str, tmp_path: Path) -> dict[str, list[str]]:
    """Run `code` in a fresh interpreter; it prints a JSON object, here returned."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))} | OFFLINE
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def families(names: tuple[str, ...]) -> str:
    """Python that lists which of `names` (top-level packages) sys.modules holds."""
    return f"sorted({{m.partition('.')[0] for m in sys.modules}} & {set(names)!r})"


def test_importing_the_command_line_imports_no_aws_django_or_staticsync(tmp_path: Path) -> None:
    loaded = families(LATE + COMMAND_ONLY)
    code = f"import json, sys; import build_tool.cli; print(json.dumps({{'loaded': {loaded}}}))"
    assert loaded_after(code, tmp_path) == {"loaded": []}


def test_parsing_a_package_command_line_imports_no_other_command_and_nothing_aws(tmp_path: Path) -> None:
    argv = ["package", "--settings", "s", "--bucket", "b", "--live-bucket", "live"]
    code = (
        "import json, sys; from build_tool import cli; "
        f"cli.parser(deferred=True).parse_args({argv!r}); "
        "commands = sorted(m for m in sys.modules if m.startswith('build_tool.commands.')); "
        f"print(json.dumps({{'loaded': {families(LATE + COMMAND_ONLY)}, 'commands': commands}}))"
    )
    assert loaded_after(code, tmp_path) == {"loaded": [], "commands": []}


def test_a_build_reaches_django_start_having_imported_nothing_of_aws_or_django(tmp_path: Path) -> None:
    argv = ["package", "--settings", "touchysettings", "--project-dir", str(TOUCHY)]
    argv += ["--output", str(tmp_path / "a.zip"), "--release", "r1"]
    code = (
        "import json, sys\n"
        "from build_tool import cli\n"
        "from build_tool.build import collect\n"
        "def at_django_start(*args, **kwargs):\n"
        f"    print(json.dumps({{'loaded': {families(LATE)}}}))\n"
        "    raise collect.SettingsError('stopped where Django would start')\n"
        "collect.collect = at_django_start\n"
        f"assert cli.main({argv!r}) == cli.ExitCode.SETTINGS\n"
    )
    assert loaded_after(code, tmp_path) == {"loaded": []}


def test_every_exit_code_names_an_error_class_that_exists() -> None:
    for name in cli.EXIT_CODES:
        module, _, attribute = name.rpartition(".")
        kind = getattr(import_module(module), attribute)
        assert issubclass(kind, Exception) and f"{kind.__module__}.{kind.__qualname__}" == name


def test_an_error_gets_the_exit_code_of_the_nearest_class_it_is_named_by() -> None:
    from build_tool.aws.staging import UploadError

    assert cli.exit_code(UploadError("no such bucket")) == cli.ExitCode.AWS  # through AwsError
    assert cli.exit_code(KeyError("a bug")) is None


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_each_command_s_help_lists_its_flags_though_they_are_added_only_when_it_is_chosen(
    command: str,
) -> None:
    commands: Any = next(a for a in cli.parser()._actions if a.dest == "command")
    every = commands.choices[command]
    listed = [action for action in every._actions if action.help != argparse.SUPPRESS]
    flags = {flag for action in listed for flag in action.option_strings if flag.startswith("--")}
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    assert cli.main([command, "--help"], env) == 0
    shown = env.stdout.getvalue()  # type: ignore[attr-defined]
    assert flags and {flag for flag in flags if flag not in shown} == set()


def test_a_build_that_is_its_own_process_accounts_for_the_interpreter_and_its_imports(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))} | OFFLINE
    command = [sys.executable, "-m", "build_tool", "package", "--settings", "touchysettings"]
    command += ["--project-dir", str(TOUCHY), "--output", str(tmp_path / "a.zip"), "--release", "r1"]
    command += ["--json"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    timings = record["timings"]
    assert {"interpreter", "imports", "django_start", "collect", "pack"} <= set(timings)
    assert timings["interpreter"] > 0 and timings["imports"] > 0
    # The phases cover the process from its start to the record: they add up to `seconds`.
    assert sum(timings.values()) == pytest.approx(record["seconds"], abs=0.05)
