"""What a build is made from, read from the flags once: the Django project, and how it is built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import __version__


@dataclass(frozen=True)
class Project:
    """The Django project to collect: its settings module, imported from `folder` (as manage.py would)."""

    settings_module: str
    folder: Path


@dataclass(frozen=True)
class Recipe:
    """How a release is built: the manifest storage that collects it, the compression cache kept
    between builds (None: this build's, in memory), and the tool the release record names."""

    storage: str
    cache_dir: Path | None = None
    tool: str = f"build_tool {__version__}"
