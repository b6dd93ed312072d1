"""Name the release: the git commit when the tree is clean, else a UTC timestamp."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from staticsync.contract import RELEASE_ID, format_timestamp


@dataclass(frozen=True)
class ReleaseInfo:
    release: str
    created_at: str
    source_commit: str | None


def detect(project_dir: Path, release: str | None, now: datetime | None = None) -> ReleaseInfo:
    """Release id and creation time; SOURCE_DATE_EPOCH pins the time for reproducible builds."""
    commit = _git(project_dir, "rev-parse", "HEAD")
    dirty = commit is not None and bool(_git(project_dir, "status", "--porcelain"))
    moment = _created(project_dir, commit if not dirty else None, now)
    if release is None:
        stamp = moment.strftime("%Y%m%dT%H%M%SZ")
        release = commit[:12] if commit and not dirty else (f"{commit[:12]}-{stamp}" if commit else stamp)
    if not RELEASE_ID.fullmatch(release):
        raise ValueError(
            f"--release {release!r}: use letters, digits, '.', '_' and '-' (at most 128, "
            "starting with a letter or digit)"
        )
    return ReleaseInfo(release, format_timestamp(moment), commit)


def _created(project_dir: Path, clean_commit: str | None, now: datetime | None) -> datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), UTC)
    if clean_commit:
        committed = _git(project_dir, "show", "-s", "--format=%ct", clean_commit)
        if committed:
            return datetime.fromtimestamp(int(committed), UTC)
    return now or datetime.now(UTC)


def _git(project_dir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=project_dir, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
