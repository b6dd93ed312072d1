"""Pack a collected STATIC_ROOT into the deterministic artifact zip that docs/artifact.md describes."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from staticsync.model.contract import FILES_DIR, MANIFEST_NAME, RELEASE_NAME, STORED_EXTENSIONS, ReleaseRecord
from staticsync.model.names import unsafe_path_reason

from .cache import DEFLATE, DEFLATE_LEVEL, CompressionCache, CompressionStats, deflate_from
from .delta import Base, digest_of, release_files
from .recipe import Recipe
from .release import ReleaseInfo

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16


class PackageError(Exception):
    """The collected files cannot be packed under the contract (e.g. an unsafe file name)."""


@dataclass(frozen=True)
class Packed:
    """The artifact on disk and what the upload must record about it."""

    path: Path
    record: ReleaseRecord
    size: int
    sha256: str
    release_sha256: str
    tail_bytes: int
    total_bytes: int  # of the members packed (a delta's inherited files are not)
    inherited: int = 0  # files a delta lists without packing them


def collected_files(static_root: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix path, file) for every collected file but the manifest, sorted."""
    found = []
    for folder, dirs, files in os.walk(static_root):
        dirs.sort()
        for name in files:
            full = Path(folder, name)
            relative = full.relative_to(static_root).as_posix()
            if relative == MANIFEST_NAME:
                continue
            reason = unsafe_path_reason(relative) or ("symlink" if full.is_symlink() else None)
            if reason:
                raise PackageError(f"cannot ship {relative!r}: {reason}")
            found.append((relative, full))
    return iter(sorted(found))


def pack(
    static_root: Path, out: Path, release: ReleaseInfo, recipe: Recipe, base: Base | None = None
) -> Packed:
    """Write the artifact; members are deflated on every core, and only once per content when the
    recipe's `cache_dir` (the build cache) already holds their streams. The bytes are the same either way.

    With `base` (the live release), a delta: only the families the base lacks are packed, and the
    record lists the others with the base's digests (build_tool.build.delta)."""
    manifest = read_manifest(static_root, recipe.storage)
    files, listed = members(static_root, base)
    cache = CompressionCache(recipe.cache_dir)  # None: this build's streams, in memory only
    deflated = [str(full) for relative, full in files if not _stored(relative)]
    cache.fill(deflated, (DEFLATE,), CompressionStats())
    with deflate_from(cache):
        return _pack(files, manifest, out, identity(release, recipe, manifest, base), listed)


def pack_inherited(out: Path, release: ReleaseInfo, recipe: Recipe, base: Base) -> Packed:
    """A delta of a build whose inputs are the base's (build.delta.inherits_all): no member, the
    base's every file and manifest, and otherwise the record a collecting build writes."""
    if base.manifest is None:
        raise ValueError("a base without its manifest cannot be inherited whole")
    identity_ = identity(release, recipe, base.manifest, base)
    return _pack([], base.manifest, out, identity_, dict(base.files))


def read_manifest(static_root: Path, storage: str) -> bytes:
    manifest_path = static_root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise PackageError(f"{MANIFEST_NAME} was not written: is {storage} a manifest storage?")
    return manifest_path.read_bytes()


def members(static_root: Path, base: Base | None) -> tuple[list[tuple[str, Path]], dict[str, str] | None]:
    """(the collected files the zip holds, a delta's every file with its digest; None: not a delta)."""
    files = list(collected_files(static_root))
    if base is None:
        return files, None
    listed, packed = release_files({relative: digest_of(full) for relative, full in files}, base)
    check_packable(packed, {relative for relative, _ in files})
    return [(relative, full) for relative, full in files if relative in packed], listed


def identity(release: ReleaseInfo, recipe: Recipe, manifest: bytes, base: Base | None) -> ReleaseRecord:
    """The release record but for its files, which packing fills in."""
    return ReleaseRecord(
        release=release.release,
        created_at=release.created_at,
        files={},
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        source_commit=release.source_commit,
        tool=recipe.tool,
        storage=recipe.storage,
        ancestry=release.ancestry,
        base=base.release if base else None,
        inputs=release.inputs,
    )


def check_packable(packed: set[str], collected: set[str]) -> None:
    """A family a delta packs is on disk whole (one the base holds only partly cannot be)."""
    for path in sorted(packed - collected)[:1]:
        raise PackageError(
            f"{path} is the live release's, but other files of its family changed: build with --full"
        )


def _pack(
    files: list[tuple[str, Path]],
    manifest: bytes,
    out: Path,
    identity: ReleaseRecord,
    listed: dict[str, str] | None = None,
) -> Packed:
    """Write the zip; `identity` is the release record but for its files: `listed` (a delta's every
    file), else those packed here."""
    digests: dict[str, str] = {}
    total = 0
    with out.open("wb") as raw, zipfile.ZipFile(raw, "w") as archive:
        for relative, full in files:
            data = full.read_bytes()
            digests[relative] = hashlib.sha256(data).hexdigest()
            total += len(data)
            _write(archive, FILES_DIR + relative, data)
        tail_start = raw.tell()
        record = dataclasses.replace(identity, files=digests if listed is None else listed)
        release_bytes = record.to_json(total)
        _write(archive, MANIFEST_NAME, manifest)
        _write(archive, RELEASE_NAME, release_bytes)
    size = out.stat().st_size
    return Packed(
        path=out,
        record=record,
        size=size,
        sha256=_sha256_file(out),
        release_sha256=hashlib.sha256(release_bytes).hexdigest(),
        tail_bytes=size - tail_start,
        total_bytes=total,
        inherited=len(record.files) - len(digests),
    )


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.external_attr = FILE_MODE
    info.create_system = 3
    stored = _stored(name)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    archive.writestr(info, data, compresslevel=None if stored else DEFLATE_LEVEL)


def _stored(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in STORED_EXTENSIONS


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
