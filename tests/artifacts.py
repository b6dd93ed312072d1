"""Build small artifacts for tests through the build tool's own packer, and stage them on S3."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from build_tool.aws.staging import stage
from build_tool.build.pack import Packed, pack
from build_tool.build.recipe import Recipe
from build_tool.build.release import ReleaseInfo
from staticsync.model.contract import FILES_DIR, MANIFEST_NAME, RELEASE_NAME, parse_release
from staticsync.model.names import hashed_name


def collected_tree(files: dict[str, bytes]) -> dict[str, bytes]:
    """What ManifestStaticFilesStorage leaves in STATIC_ROOT for `files` (no url() rewriting)."""
    tree = dict(files)
    paths = {name: hashed_name(name, data) for name, data in files.items()}
    tree.update({paths[name]: data for name, data in files.items()})
    manifest = {"paths": paths, "version": "1.1", "hash": "0" * 12}
    tree[MANIFEST_NAME] = json.dumps(manifest).encode()
    return tree


def build(
    tree: dict[str, bytes],
    out: Path,
    release: str = "r1",
    created_at: str = "2026-01-01T00:00:00Z",
    source_commit: str | None = None,
    ancestry: tuple[str, ...] = (),
) -> Packed:
    """Pack `tree` (paths relative to STATIC_ROOT, manifest included) into the zip at `out`."""
    with tempfile.TemporaryDirectory() as root:
        for path, data in tree.items():
            target = Path(root, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return pack(
            Path(root),
            out,
            ReleaseInfo(release, created_at, source_commit, ancestry),
            Recipe("django.contrib.staticfiles.storage.ManifestStaticFilesStorage", tool="tests"),
        )


def stage_artifact(client: Any, packed: Packed, bucket: str = "artifacts", prefix: str = "staging/") -> str:
    """Upload as `build_tool package` does; return the key."""
    key = f"{prefix}{packed.record.release}.zip"
    stage(client, packed, bucket, key)
    return key


def read_packed(path: Path) -> Packed:
    """The Packed record of a zip `build_tool package --output` wrote, as `stage` needs it."""
    data = path.read_bytes()
    archive = zipfile.ZipFile(path)
    release_bytes = archive.read(RELEASE_NAME)
    return Packed(
        path=path,
        record=parse_release(release_bytes),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        release_sha256=hashlib.sha256(release_bytes).hexdigest(),
        tail_bytes=len(data) - archive.getinfo(MANIFEST_NAME).header_offset,
        total_bytes=sum(i.file_size for i in archive.infolist() if i.filename.startswith(FILES_DIR)),
    )
