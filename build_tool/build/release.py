"""Name the release: the git commit when no tracked file changed, else the commit and a UTC timestamp."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from staticsync.model.contract import MAX_ANCESTRY, RELEASE_ID, format_timestamp

from ..errors import UsageError


@dataclass(frozen=True)
class ReleaseInfo:
    release: str
    created_at: str
    source_commit: str | None
    ancestry: tuple[str, ...] = ()  # HEAD's first parents, newest first (at most MAX_ANCESTRY)
    inputs: str | None = None  # what the collect reads, fingerprinted once Django has started (build.inputs)


def detect(
    project_dir: Path,
    release: str | None,
    now: datetime | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    ignore: tuple[Path, ...] = (),
) -> ReleaseInfo:
    """Release id and creation time; SOURCE_DATE_EPOCH pins the time for reproducible builds.

    Only changes to tracked files make the tree dirty: a CI cache restored into the checkout, build
    outputs and other untracked files do not, nor do the folders in `ignore` (the build cache) even
    if someone committed them.
    """
    commit = _git(project_dir, "rev-parse", "HEAD")
    dirty = commit is not None and _dirty(project_dir, ignore)
    epoch = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH")
    moment = _created(project_dir, commit if not dirty else None, now, epoch)
    if release is None:
        stamp = moment.strftime("%Y%m%dT%H%M%SZ")
        release = commit[:12] if commit and not dirty else (f"{commit[:12]}-{stamp}" if commit else stamp)
    if not RELEASE_ID.fullmatch(release):
        raise UsageError(
            f"--release {release!r}: use letters, digits, '.', '_' and '-' (at most 128, "
            "starting with a letter or digit)"
        )
    return ReleaseInfo(release, format_timestamp(moment), commit, _ancestry(project_dir) if commit else ())


def _pathspec(project_dir: Path, ignore: tuple[Path, ...]) -> list[str]:
    """`git status` pathspecs: everything, except each folder of `ignore` that lies inside the tree."""
    root = _git(project_dir, "rev-parse", "--show-toplevel")
    specs = [":(top)"]
    for folder in ignore:
        target = (project_dir / folder).resolve()
        if root and target.is_relative_to(Path(root).resolve()):
            specs.append(f":(exclude,top){target.relative_to(Path(root).resolve()).as_posix()}")
    return specs


def _dirty(project_dir: Path, ignore: tuple[Path, ...]) -> bool:
    specs = _pathspec(project_dir, ignore)
    return bool(_git(project_dir, "status", "--porcelain", "--untracked-files=no", "--", *specs))


def _ancestry(project_dir: Path) -> tuple[str, ...]:
    """HEAD's first parents, newest first, HEAD itself left out (a shallow clone has none)."""
    listed = _git(project_dir, "rev-list", "--first-parent", f"--max-count={MAX_ANCESTRY + 1}", "HEAD")
    return tuple(listed.split()[1:]) if listed else ()


def _created(
    project_dir: Path, clean_commit: str | None, now: datetime | None, epoch: str | None
) -> datetime:
    if epoch:
        if not epoch.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH={epoch!r}: give the build time as seconds since 1970")
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
