"""What only a real process shows: a cancelled `build_tool package` stops its workers, removes its
temporary folders, prints one line and exits 130 (SIGINT) or 143 (SIGTERM)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.inprocess import OFFLINE

SETTINGS = """
from pathlib import Path
SECRET_KEY = "x"
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "/static/"
STATICFILES_DIRS = [Path(__file__).parent / "assets"]
"""


@pytest.fixture
def slow_project(tmp_path: Path) -> Path:
    """Enough distinct text that brotli keeps both workers busy for several seconds."""
    project = tmp_path / "slow"
    (project / "assets").mkdir(parents=True)
    (project / "slowsettings.py").write_text(SETTINGS)
    words = [f"w{i:x}" for i in range(4000)]
    chooser = random.Random(7)
    for i in range(300):
        text = " ".join(chooser.choices(words, k=8000))
        (project / "assets" / f"f{i}.js").write_text(f"// {i}\n{text}\n")
    return project


def workers(pid: int) -> list[int]:
    """Python processes whose parent is `pid` (the compression pool)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if entry.name.isdigit() and int(rest[1]) == pid and comm.startswith("python"):
            found.append(int(entry.name))
    return found


def alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "Z"
    return stat[stat.rindex(")") + 2]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: build_tool compresses without workers")
@pytest.mark.parametrize(
    ("signum", "code", "whole_group"),
    [(signal.SIGTERM, 143, False), (signal.SIGINT, 130, True)],
    ids=["SIGTERM to the process, as a CI runner cancels", "SIGINT to the group, as Ctrl-C does"],
)
def test_a_cancelled_package_stops_its_workers_cleans_up_and_says_one_line(
    tmp_path: Path, slow_project: Path, signum: int, code: int, whole_group: bool
) -> None:
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))}
    env.update(OFFLINE, TMPDIR=str(tmp_path / "tmp"))
    args = ["--settings", "slowsettings", "--project-dir", str(slow_project), "--output", "x.zip", "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "build_tool", "package", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(pool := workers(process.pid)) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "the compression workers never started"
            time.sleep(0.05)
        time.sleep(0.3)  # let them get into their work
        if whole_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == code, stderr
    assert stderr.count("\n") == 1 and f"cancelled by {signal.Signals(signum).name}" in stderr, stderr
    assert stdout == ""
    assert alive(pool) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "x.zip").exists()
