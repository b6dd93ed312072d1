"""The artifact format shared by the build tool and the Lambda (docs/artifact.md is its description)."""

from __future__ import annotations

import dataclasses
import functools
import json
import posixpath
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

from ..errors import ArtifactRejected
from .names import FILES_DIR as FILES_DIR  # the zip's layout, shared with the path rules
from .names import looks_hashed

FORMAT = 1
MANIFEST_NAME = "staticfiles.json"
RELEASE_NAME = "release.json"
MANIFEST_VERSIONS = frozenset({"1.0", "1.1"})

# S3 object metadata keys (x-amz-meta-*) set on the staged artifact.
META_SHA256 = "sha256"
META_RELEASE_SHA256 = "release-sha256"
META_TAIL_BYTES = "tail-bytes"
# On a delta artifact: the release it was built against (a hint for build_tool status and rollback;
# the function reads `base` from release.json, never from here).
META_BASE = "base"
# Metadata on the live staticfiles.json naming the release it belongs to (its other metadata, the
# release's place in the order, is staticsync.model.order.Position).
META_RELEASE = "release"
# At most this many first-parent commits are recorded in `ancestry` (a cheap proof of "older").
MAX_ANCESTRY = 64
COMMIT_HEX = re.compile(r"[0-9a-f]{7,64}")

RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
HEX_RUN = re.compile(r"[0-9a-f]*")
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
    # The first-parent chain of source_commit, newest first, itself excluded (empty without git or
    # in a shallow clone): a release whose commit is in the live release's ancestry is older.
    ancestry: tuple[str, ...] = ()
    # A delta artifact's base: the live release it was built against. `files` still lists every
    # file of the release; those without a member in the zip are inherited from the base.
    base: str | None = None
    # The SHA-256 of what the collect read (build_tool.build.inputs): a build whose inputs are its
    # base's takes the base's files rather than collecting. Absent from records of older builds.
    inputs: str | None = None

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
        if self.ancestry:
            document["ancestry"] = list(self.ancestry)
        if self.base is not None:
            document["base"] = self.base
        if self.inputs is not None:
            document["inputs"] = self.inputs
        return dumps(document)


def same_release(a: ReleaseRecord, b: ReleaseRecord) -> bool:
    """One build of one release: its delta and its full artifact differ only in `base` (and in the
    `total_bytes` they pack, which the record does not keep)."""
    return dataclasses.replace(a, base=None) == dataclasses.replace(b, base=None)


def dumps(document: Any) -> bytes:
    """Serialise JSON the one way the contract allows, so equal records are equal bytes."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False).encode()


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_release(data: bytes) -> ReleaseRecord:
    """Parse and check `release.json`; any deviation from the contract is a rejection."""
    return release_of(load_release(data))


def load_release(data: bytes | str) -> dict[str, Any]:
    """`release.json` as a JSON object, unchecked (release_of checks it)."""
    return _load_object(data, RELEASE_NAME, "bad_release_record")


def release_of(document: dict[str, Any]) -> ReleaseRecord:
    """The record of a parsed `release.json`, checked as parse_release checks it."""
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
    if not isinstance(files, dict) or not digests_map(files):
        raise ArtifactRejected("bad_release_record", "files must map paths to hex SHA-256 digests")
    if document.get("file_count") != len(files):
        raise ArtifactRejected("bad_release_record", "file_count does not match files")
    manifest_sha256 = _string(document, "manifest_sha256")
    commit = document.get("source_commit")
    ancestry = document.get("ancestry", [])
    if (
        not isinstance(ancestry, list)
        or len(ancestry) > MAX_ANCESTRY
        or not all(isinstance(c, str) and COMMIT_HEX.fullmatch(c) for c in ancestry)
    ):
        raise ArtifactRejected(
            "bad_release_record", f"ancestry must list at most {MAX_ANCESTRY} hex commit ids"
        )
    return ReleaseRecord(
        release=release,
        created_at=created_at,
        files=files,
        manifest_sha256=manifest_sha256,
        source_commit=commit if isinstance(commit, str) else None,
        tool=str(document.get("tool", "")),
        storage=str(document.get("storage", "")),
        ancestry=tuple(ancestry),
        base=_base(document, release),
        inputs=_inputs(document),
    )


def digests_map(files: dict[Any, Any]) -> bool:
    """Whether `files` maps strings to SHA-256 hex digests (as SHA256_HEX matches one): checked for
    all values at once, in C (100,000 files: a few ms rather than 45)."""
    values = list(files.values())
    if not all(map(isinstance, files, repeat(str))) or not all(map(isinstance, values, repeat(str))):
        return False
    return set(map(len, values)) <= {64} and HEX_RUN.fullmatch("".join(values)) is not None


def _base(document: dict[str, Any], release: str) -> str | None:
    """A delta's `base` (docs/artifact.md, "Delta artifacts"): another release's id, or absent."""
    base = document.get("base")
    if base is None:
        return None
    if not isinstance(base, str) or not RELEASE_ID.fullmatch(base) or base == release:
        raise ArtifactRejected("bad_release_record", f"base {base!r} is not another release's id")
    return base


def _inputs(document: dict[str, Any]) -> str | None:
    """The build's inputs fingerprint (docs/artifact.md, `inputs`): a hex SHA-256, or absent."""
    inputs = document.get("inputs")
    if inputs is not None and not (isinstance(inputs, str) and SHA256_HEX.fullmatch(inputs)):
        raise ArtifactRejected("bad_release_record", f"inputs {inputs!r} is not a hex SHA-256")
    return inputs


def parse_manifest(data: bytes | str) -> dict[str, str]:
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
    if not isinstance(paths, dict) or not (
        all(map(isinstance, paths, repeat(str))) and all(map(isinstance, paths.values(), repeat(str)))
    ):
        raise ArtifactRejected("bad_manifest", "paths must map names to names", MANIFEST_NAME)
    return paths


def _load_object(data: bytes | str, name: str, code: str) -> dict[str, Any]:
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


@dataclass(frozen=True)
class ReleaseView:
    """One release as a deploy sees it: its record, its manifest and its content-addressed names,
    each parsed or computed once."""

    record: ReleaseRecord
    manifest_bytes: bytes = field(repr=False)
    manifest: dict[str, str] = field(repr=False)
    # A delta's files without a member in the zip: the base release's, byte for byte (plan.check_base).
    inherited: frozenset[str] = field(default=frozenset(), repr=False)

    @classmethod
    def of(cls, record: ReleaseRecord, manifest_bytes: bytes) -> ReleaseView:
        return cls(record, manifest_bytes, parse_manifest(manifest_bytes))

    @property
    def release(self) -> str:
        return self.record.release

    @functools.cached_property
    def hashed(self) -> frozenset[str]:
        """The manifest's hashed names (values that differ from their key)."""
        return frozenset(value for name, value in self.manifest.items() if value != name)

    def content_addressed(self, path: str) -> bool:
        """True for a hashed name, its compressed siblings, and any name of that shape."""
        base, extension = posixpath.splitext(path)
        original = base if extension in (".gz", ".br") else path
        return original in self.hashed or looks_hashed(path)
