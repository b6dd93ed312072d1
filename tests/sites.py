"""Small Django-like sites in numbered versions, packed by the real packer, for fault and race tests.

Each version shares some files with every other (unchanged between releases) and has its own
(changed): hashed names, their unhashed originals and gzip siblings, as whitenoise collects them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from build_tool.build.pack import Packed
from staticsync.model.contract import MANIFEST_NAME, format_timestamp
from tests.artifacts import build, collected_tree, stage_artifact

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
SHARED = {
    "css/base.css": b"html { font-family: sans-serif }\n" * 20,
    "img/logo.png": bytes(range(256)) * 8,
    "robots.txt": b"User-agent: *\nDisallow:\n",
}


def site(version: int, pages: int = 3) -> dict[str, bytes]:
    """The original files of `version`: SHARED, plus an app.js and `pages` stylesheets of its own."""
    own = {
        f"css/page{i}.css": f".v{version}.p{i} {{ color: #{version:06x} }}\n".encode() * 20
        for i in range(pages)
    }
    return {**SHARED, "js/app.js": f"console.log({version});\n".encode() * 40, **own}


def collected(files: dict[str, bytes]) -> dict[str, bytes]:
    """What collectstatic with whitenoise leaves: hashed copies and .gz siblings of CSS and JS."""
    tree = collected_tree(files)
    paths = json.loads(tree[MANIFEST_NAME])["paths"]
    for name, hashed in paths.items():
        if name.endswith((".css", ".js")):
            tree[name + ".gz"] = gzip.compress(tree[name], mtime=0)
            tree[hashed + ".gz"] = gzip.compress(tree[hashed], mtime=0)
    return tree


def created_at(version: int) -> str:
    """Later versions are built later, one minute apart (the order comes from their ancestry)."""
    return format_timestamp(EPOCH + timedelta(minutes=version))


def commit(version: int) -> str:
    """Version n is commit n of one branch: its ancestry is every earlier version's commit."""
    return hashlib.sha1(f"version {version}".encode()).hexdigest()


def build_version(
    folder: Path,
    version: int,
    pages: int = 3,
    release: str | None = None,
    shallow: bool = False,
    ancestry: tuple[str, ...] = (),
) -> Packed:
    """`shallow`: built from a one-commit clone, which knows no ancestry; `ancestry`: older commits
    before version 1's."""
    release = release or f"v{version}"
    ancestry = () if shallow else (*(commit(v) for v in range(version - 1, 0, -1)), *ancestry)
    tree = collected(site(version, pages))
    return build(tree, folder / f"{release}.zip", release, created_at(version), commit(version), ancestry)


def stage_version(client: Any, folder: Path, version: int, pages: int = 3) -> str:
    """Build and stage version `version` as staging/v<version>.zip; return the key."""
    return stage_artifact(client, build_version(folder, version, pages))
