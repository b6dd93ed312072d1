"""`build_tool package --json` says where the build's seconds went: Django start-up, the inputs
fingerprint, collect, compress, pack, upload (and setup), adding up to the total."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from build_tool.commands.package import Stopwatch
from tests.inprocess import COMPRESSIBLE_CSS, PROJECTS
from tests.inprocess import cli as run

PHASES = {"setup", "django_start", "inputs", "collect", "compress", "pack", "upload"}


def test_json_record_splits_the_seconds_by_phase_and_they_add_up(tmp_path: Path) -> None:
    project = tmp_path / "touchy"
    shutil.copytree(PROJECTS / "touchy", project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "assets" / "site.css").write_text(COMPRESSIBLE_CSS)  # a file that gets siblings
    args = ["package", "--settings", "touchysettings", "--project-dir", str(project)]
    args += ["--output", str(tmp_path / "a.zip"), "--release", "r1", "--json"]
    done = run(args, tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    timings = result["timings"]
    assert set(timings) == PHASES
    assert all(seconds >= 0 for seconds in timings.values())
    assert result["compressed"] > 0 and timings["compress"] > 0
    assert timings["django_start"] > 0 and timings["pack"] > 0
    assert sum(timings.values()) == pytest.approx(result["seconds"], abs=0.05)


def test_moving_time_from_one_phase_to_another_keeps_the_total() -> None:
    watch = Stopwatch(seconds={"collect": 3.0})
    watch.move("collect", "compress", 2.0)
    assert watch.seconds == {"collect": 1.0, "compress": 2.0}
    watch.move("collect", "compress", 5.0)  # never more than the source had
    assert watch.seconds == {"collect": 0.0, "compress": 3.0}
