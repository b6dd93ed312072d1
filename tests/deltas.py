"""Versions of tests/sites.py packed as the build tool packs a delta: chains of deltas to roll back to."""

from __future__ import annotations

import tempfile
from pathlib import Path

from build_tool.build.delta import Base
from build_tool.build.pack import Packed, pack
from build_tool.build.recipe import Recipe
from build_tool.build.release import ReleaseInfo
from tests.sites import build_version, collected, commit, created_at, site

STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


def build_delta(folder: Path, version: int, base: Packed) -> Packed:
    """Version `version` as a delta of `base` (its record as the base), with the very record, manifest
    and digests `build_version` gives it: only `base` and the members differ."""
    folder.mkdir(parents=True, exist_ok=True)
    ancestry = tuple(commit(v) for v in range(version - 1, 0, -1))
    release = ReleaseInfo(f"v{version}", created_at(version), commit(version), ancestry)
    with tempfile.TemporaryDirectory() as root:
        for path, data in collected(site(version)).items():
            Path(root, path).parent.mkdir(parents=True, exist_ok=True)
            Path(root, path).write_bytes(data)
        recipe = Recipe(STORAGE, tool="tests")
        out = folder / f"v{version}.zip"
        return pack(Path(root), out, release, recipe, Base(base.record.release, base.record.files))


def chain(folder: Path, deltas: range) -> dict[int, Packed]:
    """v1 full, then each version of `deltas` a delta of the one before (delta -> delta -> full)."""
    (folder / "full").mkdir(parents=True, exist_ok=True)
    packed = {1: build_version(folder / "full", 1)}
    for version in deltas:
        packed[version] = build_delta(folder / "delta", version, packed[version - 1])
        assert packed[version].record.base == f"v{version - 1}" and packed[version].inherited
    return packed
