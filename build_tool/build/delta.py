"""Delta builds: the live release's record as the build's cache (docs/artifact.md, "Delta artifacts").

A collected file whose SHA-256 the live record has for the same path is the live file, and its
`.gz`/`.br` siblings are the live ones too (whitenoise writes gzip with mtime 0 and brotli is
deterministic): it is not compressed, its siblings' digests are the live record's, and the zip holds
no member for it. Everything here is pure but `digest_of` (a file read); `aws.live.read_base` reads the base.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from staticsync.model.names import SIBLING_SUFFIXES, original_of
from staticsync.model.plan import LiveState

from ..errors import UsageError


@dataclass(frozen=True)
class Base:
    """The live release a delta is built against: its id, the SHA-256 of each of its files, and for a
    build that may take them without collecting, its inputs fingerprint and its manifest's bytes."""

    release: str
    files: Mapping[str, str] = field(repr=False)
    inputs: str | None = None
    manifest: bytes | None = field(default=None, repr=False, compare=False)

    def unchanged(self, path: str, digest: str) -> bool:
        return self.files.get(path) == digest


@dataclass
class BaseSlot:
    """Where a delta build's base is put once read: it is read beside Django's start
    (build_tool.aws.connect), and the compression, which comes after, looks here when it begins.
    `inputs`: the build's inputs fingerprint, taken then too (build_tool.build.inputs)."""

    value: Base | None = None
    inputs: str | None = None


def wanted(args: argparse.Namespace) -> bool:
    """--live-bucket asks for a delta; --full (or no --live-bucket) for a self-contained artifact."""
    return bool(getattr(args, "live_bucket", None)) and not getattr(args, "full", False)


def check(args: argparse.Namespace) -> None:
    """The live flags' mistakes, before anything slow runs."""
    for flag in ("live_prefix", "history_prefix"):
        value = getattr(args, flag, "")
        if value.startswith("/") or (value and not value.endswith("/")):
            raise UsageError(
                f"--{flag.replace('_', '-')} {value!r}: a key prefix must not start with '/' and must "
                "end with '/'"
            )
    if getattr(args, "live_bucket", None) and not getattr(args, "history_prefix", ""):
        raise UsageError("--history-prefix must not be empty (the function's HISTORY_PREFIX)")


def base_of(live: LiveState, storage: str, release: str | None) -> Base | None:
    """The live release to build a delta of, or None: nothing live, no record of it (a bucket filled
    by something else), built with another storage (other files, other siblings), or `release` itself
    (a rebuild of the live release: a delta needs another release as its base)."""
    record = live.record
    if live.release in (None, release) or record is None or record.storage != storage:
        return None
    manifest = live.manifest_bytes
    if manifest is None or hashlib.sha256(manifest).hexdigest() != record.manifest_sha256:
        manifest = None  # not the record's: the build collects
    return Base(record.release, record.files, record.inputs, manifest)


def inherits_all(base: Base | None, inputs: str | None) -> bool:
    """Whether the release is the base's files and manifest as they are: the collect read the very
    inputs the base's did (build_tool.build.inputs), and the base's manifest is at hand."""
    return base is not None and inputs is not None and base.inputs == inputs and base.manifest is not None


def digest_of(path: Path | str) -> str:
    """The file's SHA-256; read once per build (compression and packing both ask), keyed by its
    path, size and mtime so that a rewritten file is read again."""
    stat = os.stat(path)
    key = (os.fspath(path), stat.st_size, stat.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        digest = _DIGESTS[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return digest


_DIGESTS: dict[tuple[str, int, int], str] = {}


def to_compress(names: Iterable[str], base: Base | None, path: Any) -> tuple[list[str], int]:
    """The names whose bytes the base lacks (`path(name)` is the collected file), and how many it has."""
    if base is None:
        return list(names), 0
    kept: list[str] = []
    skipped = 0
    for name in names:
        if base.unchanged(name, digest_of(path(name))):
            skipped += 1
        else:
            kept.append(name)
    return kept, skipped


def release_files(collected: Mapping[str, str], base: Base | None) -> tuple[dict[str, str], set[str]]:
    """(every file of the release with its SHA-256, the files the zip holds).

    Without a base, exactly what was collected, all packed. With one, each unchanged file's siblings
    are the base's (compression skipped them), and a family (a file and its siblings) is packed whole
    when any of its files is new or changed, else inherited whole.
    """
    if base is None:
        return dict(collected), set(collected)
    files = dict(collected)
    for path, digest in collected.items():
        if base.unchanged(path, digest):
            files.update({s: base.files[s] for s in (path + x for x in SIBLING_SUFFIXES) if s in base.files})
    changed = {original_of(path) for path, digest in files.items() if not base.unchanged(path, digest)}
    return files, {path for path in files if original_of(path) in changed}
