"""`build_tool plan`: what a deploy of this build would upload, or why it would be refused; stages nothing."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from staticsync.artifact.archive import Artifact
from staticsync.artifact.ranged import BytesRange, SparseFile
from staticsync.config import Settings
from staticsync.errors import ArtifactRejected
from staticsync.model.contract import ReleaseView
from staticsync.model.headers import split_encoding
from staticsync.model.plan import Intent, LiveState, Plan, make_plan
from staticsync.notify.invalidate import invalidation_paths, replaced

from .. import options
from ..aws.live import read_live_state
from ..build.collect import DEFAULT_STORAGE
from ..env import Environment
from ..errors import UsageError

GROUPS = ("hashed", "hashed_siblings", "unhashed", "unhashed_siblings")


@dataclass(frozen=True)
class Preview:
    """A deploy's plan as people and pipelines read it; `reason` set: the function would refuse it."""

    release: str
    live_release: str | None
    live_sequence: int = 0
    sequence: int | None = None  # the place in the order the cutover would take; None: no cutover
    groups: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict.fromkeys(GROUPS, ()))
    sizes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0))
    files_unchanged: int = 0
    keys_to_upload: tuple[str, ...] = ()  # the live keys the deploy would PUT: its report's keys_uploaded
    mutable_changed: tuple[str, ...] = ()  # unhashed files live now with other bytes
    invalidation_paths: tuple[str, ...] = ()
    reason: str | None = None
    detail: str | None = None
    member: str | None = None

    @property
    def outcome(self) -> str:
        if self.reason:
            return "refused"
        return "no_change" if self.sequence is None else "changes"


def preview(
    plan: Plan, view: ReleaseView, live: LiveState, settings: Settings, size: Callable[[str], int]
) -> Preview:
    """Sort a plan's uploads by kind, with their bytes and the URLs a cutover would invalidate."""
    groups: dict[str, tuple[str, ...]] = {}
    for kind, paths in (("hashed", plan.immutable), ("unhashed", plan.mutable)):
        siblings = {p for p in paths if split_encoding(p, view.record.files)[1]}
        groups[kind] = tuple(p for p in paths if p not in siblings)
        groups[f"{kind}_siblings"] = tuple(p for p in paths if p in siblings)
    changed = replaced(plan.mutable, live.record.files if live.record else None)
    return Preview(
        release=plan.release,
        live_release=live.release,
        live_sequence=live.position.sequence,
        sequence=plan.cutover.position.sequence if plan.cutover else None,
        groups=groups,
        sizes={kind: sum(size(p) for p in paths) for kind, paths in groups.items()},
        files_unchanged=len(plan.unchanged),
        keys_to_upload=tuple(settings.live_key(p) for p in plan.uploads),
        mutable_changed=tuple(changed),
        invalidation_paths=tuple(
            invalidation_paths(settings.live_prefix, None, changed) if plan.cutover else ()
        ),
    )


def as_json(found: Preview) -> dict[str, Any]:
    """The record `--json` prints: the deploy report's names (reason, detail, member) where they fit."""
    document = asdict(found)
    groups, sizes = document.pop("groups"), document.pop("sizes")
    extra = {"files_to_upload": len(found.keys_to_upload), "bytes_to_upload": sum(sizes.values())}
    document = {"outcome": found.outcome, **document, **groups, "bytes": sizes, **extra}
    return {key: list(value) if isinstance(value, tuple) else value for key, value in document.items()}


def table(found: Preview) -> str:
    """The plan for people: a headline, files and bytes by kind, each file, the URLs to invalidate."""
    if found.reason:
        return f"refused: {found.reason}: {found.detail}" + (f" ({found.member})" if found.member else "")
    live = (
        f"the live {found.live_release} (place {found.live_sequence})" if found.live_release else "no release"
    )
    headline = f"release {found.release} against {live}: {found.files_unchanged} files unchanged"
    if found.sequence is None:
        return f"no change: {headline}"
    lines = [f"changes: {headline}, {len(found.keys_to_upload)} to upload, as place {found.sequence}"]
    for kind in GROUPS:
        label, files = kind.replace("_", " "), found.groups[kind]
        lines.append(f"  {label:<18} {len(files):>6} files {found.sizes[kind]:>12} bytes")
        lines += [f"    {path}" for path in files]
    lines.append(f"  CloudFront would invalidate (with a distribution) {len(found.invalidation_paths)} paths")
    lines += [f"    {path}" for path in found.invalidation_paths]
    return "\n".join(lines)


def judge(data: bytes, live: LiveState, settings: Settings, now: datetime, release: str) -> Preview:
    """The function's own checks and plan for the zip `data` against `live`, with no request made.

    Every file the deploy would write is read and checked as the deploy checks it before writing
    (its SHA-256, and a hashed name against its bytes), so the same artifacts are refused.
    """
    try:
        artifact = Artifact(SparseFile(BytesRange(data)), settings, None)
        view = ReleaseView(artifact.record, artifact.manifest_bytes, artifact.manifest, artifact.inherited)
        plan = make_plan(view, live, Intent(f"plan:{release}", now), owned=(settings.history_prefix,))
        for span in artifact.spans(plan.uploads):
            for _ in artifact.read_span(span):
                pass
    except ArtifactRejected as error:
        sequence = live.position.sequence
        return Preview(
            release, live.release, sequence, reason=error.code, detail=str(error), member=error.member
        )
    return preview(plan, view, live, settings, artifact.size_of)


def check(args: argparse.Namespace) -> None:
    """The mistakes the flags alone show, before anything slow runs."""
    if not args.settings:
        raise UsageError("no settings module: pass --settings or set DJANGO_SETTINGS_MODULE")
    if not args.live_bucket:
        raise UsageError("--live-bucket is required: the bucket the site's static files are served from")
    for flag, value in (("--live-prefix", args.live_prefix), ("--history-prefix", args.history_prefix)):
        if value.startswith("/") or (value and not value.endswith("/")):
            raise UsageError(f"{flag} {value!r}: a key prefix must not start with '/' and must end with '/'")
    if not args.history_prefix:
        raise UsageError("--history-prefix must not be empty (the function's HISTORY_PREFIX)")
    if args.cache_dir is not None and args.cache_dir.exists() and not args.cache_dir.is_dir():
        raise UsageError(f"--cache-dir {args.cache_dir} is a file, not a folder")
    if not args.project_dir.is_dir():
        raise UsageError(f"--project-dir {args.project_dir} is not a folder")


def run(args: argparse.Namespace, env: Environment) -> str:
    """Read the live state (before the slow collect), collect, pack, judge; print; the outcome."""
    from ..aws import staging as upload
    from ..build import delta, release, scratch
    from . import package as pipeline

    check(args)
    settings = Settings(args.live_bucket, args.live_prefix, history_prefix=args.history_prefix)
    ignore = (args.cache_dir,) if args.cache_dir else ()
    info = release.detect(args.project_dir, args.release, environ=env.environ, ignore=ignore)
    live = read_live_state(upload.make_client(args.profile), settings)
    work = scratch.make_work("build_tool-plan-", env.environ)
    try:
        # A delta of the live release just read, as `package --live-bucket` would stage.
        base = delta.base_of(live, args.storage, info.release)
        packed, _ = pipeline.build(args, env, work, info, lambda: base)
        data = packed.path.read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found = judge(data, live, settings, datetime.now(UTC), info.release)
    if args.json:
        env.out(json.dumps(as_json(found), sort_keys=True))
    elif not args.quiet:
        env.out(table(found))
    return found.outcome


def add_arguments(parser: argparse.ArgumentParser, env: Environment) -> None:
    options.project(parser, env, help="folder to import the project from (default: .)")
    options.live(parser, help="the bucket the site's static files are served from", owner="the function's")
    options.storage(
        parser, help=f"(default: {DEFAULT_STORAGE})", cache_help="the build cache, as for package"
    )
    options.release(parser)
    options.profile(parser)
    options.output(parser, quiet="print nothing but errors: the exit code says it")
