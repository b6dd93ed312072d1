"""The artifact format shared by the build tool and the Lambda (docs/artifact.md is its description)."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .errors import ArtifactRejected

FORMAT = 1
FILES_DIR = "static/"
MANIFEST_NAME = "staticfiles.json"
RELEASE_NAME = "release.json"
MANIFEST_VERSIONS = frozenset({"1.0", "1.1"})

# S3 object metadata keys (x-amz-meta-*) set on the staged artifact.
META_SHA256 = "sha256"
META_RELEASE_SHA256 = "release-sha256"
META_TAIL_BYTES = "tail-bytes"
META_ROLLBACK = "rollback"
# Metadata on the live staticfiles.json naming the release it belongs to.
META_RELEASE = "release"

RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Content that compresses no further: stored in the zip rather than deflated.
STORED_EXTENSIONS = frozenset(
    {
        *(".gz", ".br", ".zst", ".zip", ".pdf"),
        *(".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".ico"),
        *(".woff", ".woff2", ".mp4", ".webm", ".mp3", ".ogg"),
    }
)


@dataclass(frozen=True)
class ReleaseRecord:
    """What `release.json` says: the release's identity and the SHA-256 of every file."""

    release: str
    created_at: str
    files: dict[str, str] = field(repr=False)
    manifest_sha256: str
    source_commit: str | None = None
    tool: str = ""
    storage: str = ""

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def created(self) -> datetime:
        return datetime.strptime(self.created_at, TIMESTAMP_FORMAT).replace(tzinfo=UTC)

    def to_json(self, total_bytes: int) -> bytes:
        document = {
            "format": FORMAT,
            "release": self.release,
            "created_at": self.created_at,
            "source_commit": self.source_commit,
            "tool": self.tool,
            "storage": self.storage,
            "manifest_sha256": self.manifest_sha256,
            "file_count": self.file_count,
            "total_bytes": total_bytes,
            "files": dict(sorted(self.files.items())),
        }
        return dumps(document)


def dumps(document: Any) -> bytes:
    """Serialise JSON the one way the contract allows, so equal records are equal bytes."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False).encode()


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_release(data: bytes) -> ReleaseRecord:
    """Parse and check `release.json`; any deviation from the contract is a rejection."""
    document = _load_object(data, RELEASE_NAME, "bad_release_record")
    if document.get("format") != FORMAT:
        raise ArtifactRejected(
            "unsupported_format",
            f"release.json has format {document.get('format')!r}; this Lambda reads format {FORMAT}",
            RELEASE_NAME,
        )
    release = _string(document, "release")
    if not RELEASE_ID.fullmatch(release):
        raise ArtifactRejected("bad_release_record", f"release id {release!r} is not a safe key")
    created_at = _string(document, "created_at")
    try:
        datetime.strptime(created_at, TIMESTAMP_FORMAT)
    except ValueError:
        raise ArtifactRejected(
            "bad_release_record", f"created_at {created_at!r} is not {TIMESTAMP_FORMAT}"
        ) from None
    files = document.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and SHA256_HEX.fullmatch(v) for k, v in files.items()
    ):
        raise ArtifactRejected("bad_release_record", "files must map paths to hex SHA-256 digests")
    if document.get("file_count") != len(files):
        raise ArtifactRejected("bad_release_record", "file_count does not match files")
    manifest_sha256 = _string(document, "manifest_sha256")
    commit = document.get("source_commit")
    return ReleaseRecord(
        release=release,
        created_at=created_at,
        files=files,
        manifest_sha256=manifest_sha256,
        source_commit=commit if isinstance(commit, str) else None,
        tool=str(document.get("tool", "")),
        storage=str(document.get("storage", "")),
    )


def parse_manifest(data: bytes) -> dict[str, str]:
    """Return the `paths` of a Django `staticfiles.json`, checked for shape and version."""
    document = _load_object(data, MANIFEST_NAME, "bad_manifest")
    version = document.get("version")
    if not isinstance(version, str) or version not in MANIFEST_VERSIONS:
        raise ArtifactRejected(
            "unsupported_manifest_version",
            f"staticfiles.json version {version!r} is not one of {sorted(MANIFEST_VERSIONS)}",
            MANIFEST_NAME,
        )
    paths = document.get("paths")
    if not isinstance(paths, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in paths.items()
    ):
        raise ArtifactRejected("bad_manifest", "paths must map names to names", MANIFEST_NAME)
    return paths


def hashed_name(name: str, content: bytes) -> str:
    """The name Django's manifest storage gives `name` holding `content`.

    As HashedFilesMixin.hashed_name with its default file_hash: the first 12 hex digits of the MD5
    of the final bytes, inserted before the extension (`css/app.css` -> `css/app.0123456789ab.css`).
    """
    parsed = urlsplit(unquote(name))
    directory, filename = posixpath.split(parsed.path.strip())
    root, extension = posixpath.splitext(filename)
    digest = hashlib.md5(content, usedforsecurity=False).hexdigest()[:12]
    return urlunsplit(parsed._replace(path=posixpath.join(directory, f"{root}.{digest}{extension}")))


def hashed_sources(manifest: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Each hashed name of a manifest (a value that differs from its key) with the names it hashes."""
    sources: dict[str, tuple[str, ...]] = {}
    for name, hashed in manifest.items():
        if hashed != name:
            sources[hashed] = (*sources.get(hashed, ()), name)
    return sources


def unsafe_path_reason(path: str) -> str | None:
    """Say why `path` cannot be a key in the live bucket, or None when it is safe."""
    if not path:
        return "empty path"
    if "\\" in path:
        return "backslash in path"
    if path.startswith("/"):
        return "absolute path"
    if re.match(r"[A-Za-z]:", path):
        return "drive letter"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "control character in path"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "empty, '.' or '..' segment"
    if unicodedata.normalize("NFC", path) != path:
        return "path is not NFC-normalised"
    return None


def _load_object(data: bytes, name: str, code: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactRejected(code, f"{name} is not valid JSON: {error}", name) from None
    if not isinstance(document, dict):
        raise ArtifactRejected(code, f"{name} is not a JSON object", name)
    return document


def _string(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str):
        raise ArtifactRejected("bad_release_record", f"release.json needs a string {key!r}")
    return value
