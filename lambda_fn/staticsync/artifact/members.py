"""Check a zip's member table against the contract, one entry at a time (each rule and the first problem's
message): names, sizes and layout, before any member is read; table.py checks all entries at once."""

from __future__ import annotations

import stat
from array import array
from collections.abc import Collection, Iterable, Mapping

from ..config import Settings
from ..errors import ArtifactRejected
from ..model.contract import FILES_DIR, MANIFEST_NAME, RELEASE_NAME, ReleaseRecord
from ..model.names import split_family, unsafe_path_reason
from .zipdir import DEFLATED, LOCAL, STORED, Directory

COMPRESSIONS = frozenset({STORED, DEFLATED})
LOCAL_HEADER_BYTES = LOCAL.size
# S3's limit on an object key, in bytes of its UTF-8 encoding; the live prefix counts.
MAX_KEY_BYTES = 1024


def check_each(directory: Directory, settings: Settings) -> None:
    """check_entry on each entry in turn, and no name twice: the first problem is raised."""
    seen: set[str] = set()
    for index, name in enumerate(directory.names):
        check_entry(directory, index, name, settings)
        # Every name that passed is NFC (unsafe_path_reason), so equal after NFC is equal.
        if name in seen:
            raise ArtifactRejected("duplicate_member", f"{name} appears twice", name)
        seen.add(name)


def check_entry(directory: Directory, index: int, name: str, settings: Settings) -> None:
    reason = unsafe_path_reason(name)
    if reason:
        raise ArtifactRejected("unsafe_path", f"{name!r}: {reason}", name)
    if name.endswith("/") or stat.S_ISLNK(directory.modes[index]):
        raise ArtifactRejected("not_a_file", f"{name} is a directory or a symlink", name)
    if directory.flags[index] & 0x1 or directory.methods[index] not in COMPRESSIONS:
        raise ArtifactRejected(
            "unsupported_member", f"{name} is encrypted or neither stored nor deflated", name
        )
    if name not in (MANIFEST_NAME, RELEASE_NAME) and not name.startswith(FILES_DIR):
        raise ArtifactRejected("unexpected_member", f"{name} is outside {FILES_DIR}", name)
    check_key_length(name, settings)
    size, compressed = directory.sizes[index], directory.compressed[index]
    if size > settings.max_member_bytes:
        raise ArtifactRejected(
            "member_too_large",
            f"{name} is {size} bytes, over MAX_MEMBER_BYTES={settings.max_member_bytes}",
            name,
        )
    if size > settings.max_compression_ratio * max(compressed, 1):
        raise ArtifactRejected(
            "compression_ratio",
            f"{name} expands {size}/{compressed}: over MAX_COMPRESSION_RATIO",
            name,
        )


def check_key_length(name: str, settings: Settings) -> None:
    """A member's live key fits S3's limit: else its PUT fails after other files were written."""
    if not name.startswith(FILES_DIR):
        return
    key = settings.live_key(name[len(FILES_DIR) :])
    size = len(key.encode())
    if size > MAX_KEY_BYTES:
        raise ArtifactRejected(
            "key_too_long",
            f"{name} would be the live key {key[:60]!r}... of {size} bytes, over S3's {MAX_KEY_BYTES}"
            " (LIVE_PREFIX included): shorten the path",
            name,
        )


def check_layout(directory: Directory) -> array[int]:
    """Members lie one after another before the central directory, none inside another; returns
    where each one ends.

    Overlapping members are a zip-bomb trick, and an offset past the central directory would
    make the ranged reads ask S3 for a range it cannot serve.
    """
    offsets, compressed = directory.offsets, directory.compressed
    if len(set(offsets)) < len(offsets):
        raise ArtifactRejected("overlapping_members", "two entries share one member's bytes")
    ends = directory.ends()
    for index, offset in enumerate(offsets):
        if offset < 0 or ends[index] - offset - LOCAL_HEADER_BYTES < compressed[index]:
            name = directory.names[index]
            raise ArtifactRejected("bad_layout", f"{name} does not fit where the zip says it is", name)
    return ends


def check_record_matches(record: ReleaseRecord, manifest: Mapping[str, str], names: Iterable[str]) -> None:
    """The record lists exactly the zip's files (`names`, the members' full names), and the
    manifest points only at them."""
    members = {name[len(FILES_DIR) :] for name in names if name.startswith(FILES_DIR)}
    check_members(record, members)
    check_manifest_targets(manifest, record.files)


def check_members(record: ReleaseRecord, members: Collection[str]) -> None:
    """The record lists exactly `members` (paths under static/).

    A delta's record (one with a `base`) lists its members and the files it inherits: each file
    without a member is inherited, whole families at a time (docs/artifact.md, "Delta artifacts").
    """
    listed = record.files.keys()
    extra = [path for path in members if path not in listed]
    missing = [] if record.base else [path for path in listed if path not in members]
    for path in sorted(extra + missing)[:1]:
        where = "the zip but not release.json" if path in members else "release.json but not the zip"
        raise ArtifactRejected("record_mismatch", f"{path} is in {where}", path)
    split = split_family(members, listed) if record.base else None
    if split is not None:
        raise ArtifactRejected(
            "record_mismatch", f"{split} is inherited but a file of its family is packed", split
        )


def check_manifest_targets(manifest: Mapping[str, str], listed: Collection[str]) -> None:
    """Every hashed name of the manifest is a file of the release."""
    missing = [name for name, hashed in manifest.items() if hashed not in listed]
    for name in sorted(missing)[:1]:
        hashed = manifest[name]
        raise ArtifactRejected(
            "manifest_missing_file",
            f"staticfiles.json maps {name} to {hashed}, which the artifact lacks",
            hashed,
        )


def check_total_bytes(claimed: object, sizes: Iterable[int]) -> None:
    """release.json's total_bytes is the uncompressed size of the static/ members (`sizes`)."""
    if not isinstance(claimed, int) or isinstance(claimed, bool) or claimed < 0:
        raise ArtifactRejected(
            "bad_release_record", f"total_bytes must be a whole number, not {claimed!r}", RELEASE_NAME
        )
    actual = sum(sizes)
    if claimed != actual:
        raise ArtifactRejected(
            "record_mismatch",
            f"release.json says total_bytes={claimed}, but the files under {FILES_DIR} hold {actual}",
            RELEASE_NAME,
        )
