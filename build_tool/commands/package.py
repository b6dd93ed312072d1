"""What `build_tool package` (and `manage.py deploystatic`) do: check, collect, pack, stage."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..build import scratch
from ..build.recipe import Project, Recipe
from ..build.result import PackageResult, Stopwatch
from ..env import Environment
from ..errors import UsageError

if TYPE_CHECKING:
    from ..aws.connect import Connecting
    from ..aws.reports import Waiter
    from ..build.cache import CompressionStats
    from ..build.delta import Base, BaseSlot
    from ..build.pack import Packed
    from ..build.release import ReleaseInfo


def check(args: argparse.Namespace) -> None:
    """The mistakes that can be seen from the flags alone, before anything slow runs."""
    if getattr(args, "rollback", False):
        raise UsageError(
            "--rollback is gone: to return to a retained release, run `build_tool rollback RELEASE` "
            "(it stages a one-time rollback request; nothing is rebuilt)"
        )
    if not args.settings:
        raise UsageError("no settings module: pass --settings or set DJANGO_SETTINGS_MODULE")
    if not args.bucket and not args.output:
        raise UsageError("say where the artifact goes: --bucket (upload) or --output")
    if args.prefix and not args.prefix.endswith("/"):
        raise UsageError(f"--prefix {args.prefix!r} must end with '/'")
    if getattr(args, "wait", False) and (
        args.output or args.timeout <= 0 or not args.report_prefix.endswith("/")
    ):
        raise UsageError(
            "--wait needs --bucket (not --output), a --timeout above 0 and a --report-prefix ending in '/'"
        )
    for flag, path in (("--output", args.output), ("--pin-file", args.pin_file)):
        if path is not None and path.is_dir():
            raise UsageError(f"{flag} {path} is a folder: name the file to write")
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"{flag} {path}: folder {path.parent} does not exist")
    if args.cache_dir is not None and args.cache_dir.exists() and not args.cache_dir.is_dir():
        raise UsageError(f"--cache-dir {args.cache_dir} is a file, not a folder")
    if not args.project_dir.is_dir():
        raise UsageError(f"--project-dir {args.project_dir} is not a folder")
    from ..build.delta import check as check_live

    check_live(args)


@dataclass(frozen=True)
class Delivered:
    """Where the artifact went, and with --wait, the waiter that looked before staging and the ETag."""

    uri: str
    waiter: Waiter | None = None
    etag: str | None = None


def package(args: argparse.Namespace, env: Environment) -> PackageResult:
    """Collect, pack and stage (or write to --output); what was made."""
    from ..aws import connect
    from ..build import release

    check(args)
    watch = Stopwatch.since_entry(env.entered)
    # The S3 client, the bucket check and a delta's live release, beside git and Django's start.
    connecting = connect.Connecting(args)
    ignore = (args.cache_dir,) if args.cache_dir else ()
    info = release.detect(args.project_dir, args.release, environ=env.environ, ignore=ignore)
    work = scratch.make_work("build_tool-", env.environ)
    try:
        watch.lap("setup")  # the release id
        base = live_base(args, env, connecting, info.release)
        packed, stats = build(args, env, work, info, base, watch)
        delivered = deliver(args, env, packed, connecting.result().client)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    watch.lap("upload")
    result = PackageResult.of(delivered.uri, info, packed, stats, watch, work)
    if delivered.waiter is None:
        return result
    chatter(args, env, f"waiting for the deploy's report at {delivered.waiter.uri}")
    return replace(result, report=delivered.waiter.wait(delivered.etag))


def live_base(
    args: argparse.Namespace, env: Environment, connecting: Connecting, release: str
) -> Callable[[], Base | None]:
    """What the build asks for once the settings are loaded: the delta's base, waited for then, so a
    wrong bucket or a denied read fails before the (slow) collect. The live release itself is no base
    (a rebuild of it is built in full); the read began before its id was known."""
    from ..build import delta

    def base() -> Base | None:
        found = connecting.result().base
        if found is not None and found.release == release:
            found = None
        if delta.wanted(args):
            said = f"building a delta of the live {found.release}" if found else "building in full"
            chatter(args, env, said)
        return found

    return base


def deliver(args: argparse.Namespace, env: Environment, packed: Packed, client: Any | None) -> Delivered:
    """Write the pin file; then move the zip to --output (no client), or stage it, with --wait
    noting the report already there first."""
    from ..aws import reports as wait
    from ..aws import staging as upload

    if args.pin_file:
        write_pin(packed.path, args.pin_file)
    if client is None:
        shutil.move(packed.path, args.output)
        return Delivered(str(args.output.resolve()))
    key = f"{args.prefix}{packed.record.release}.zip"
    progress = upload.ProgressBar(packed.size, env.stderr, enabled=not args.quiet)
    waiter = wait.Waiter.for_args(client, args, key)  # looks before staging
    etag = upload.stage(client, packed, args.bucket, key, progress=progress, read_etag=bool(waiter))
    return Delivered(f"s3://{args.bucket}/{key}", waiter, etag)


def build(
    args: argparse.Namespace,
    env: Environment,
    work: Path,
    info: ReleaseInfo,
    base: Callable[[], Base | None] = lambda: None,
    watch: Stopwatch | None = None,
) -> tuple[Packed, CompressionStats]:
    """Collect into `work`/static and pack `work`/<release>.zip, staging nothing (package, plan);
    with the live release `base()` returns (asked for once Django has started), a delta of it. When
    the collect's inputs are the base's (build.inputs), nothing is collected: the release is the
    base's files, and the delta packs none of them (--always-collect collects anyway)."""
    from ..build import collect
    from ..build.delta import BaseSlot

    message = f"collecting static files of {args.settings} with {args.storage}"
    watch = watch or Stopwatch()
    slot = BaseSlot()
    inherited: Base | None = None  # the base whose files the release takes without collecting

    def started() -> bool:
        nonlocal inherited
        watch.lap("django_start")
        slot.value = base()
        watch.lap("setup")  # what of the S3 side Django's start did not hide
        slot.inputs = fingerprinted(args)
        watch.lap("inputs")
        if slot.value is not None and skips_collect(args, slot):
            inherited = slot.value
            chatter(args, env, f"static inputs unchanged since {inherited.release}: not collecting")
            return False
        chatter(args, env, message)
        return True

    stats = collect.collect(project_of(args), work / "static", recipe_of(args), started=started, base=slot)
    info = replace(info, inputs=slot.inputs)
    if inherited is not None:
        packed = _pack_inherited(args, work, info, inherited)
    else:
        watch.lap("collect")
        watch.move("collect", "compress", stats.seconds)
        packed = _pack(args, work, info, slot.value)
    watch.lap("pack")
    return packed, stats


def fingerprinted(args: argparse.Namespace) -> str | None:
    """The build's inputs fingerprint; None (the build collects, and says what went wrong in its own
    words) when a finder or a source fails here."""
    from ..build.inputs import fingerprint

    try:
        return fingerprint(args.storage)
    except Exception:
        return None


def skips_collect(args: argparse.Namespace, slot: BaseSlot) -> bool:
    """Whether the build takes its base's files without collecting (not with --always-collect)."""
    from ..build.delta import inherits_all

    return not getattr(args, "always_collect", False) and inherits_all(slot.value, slot.inputs)


def project_of(args: argparse.Namespace) -> Project:
    return Project(args.settings, args.project_dir)


def recipe_of(args: argparse.Namespace) -> Recipe:
    return Recipe(args.storage, args.cache_dir)


def _pack(args: argparse.Namespace, work: Path, info: ReleaseInfo, base: Base | None) -> Packed:
    from ..build import pack as package

    try:
        return package.pack(work / "static", work / f"{info.release}.zip", info, recipe_of(args), base)
    except OSError as error:
        if scratch.no_space(error):
            message = f"cannot pack in {work}: no space left; {scratch.NO_SPACE_HINT}"
            raise package.PackageError(message) from None
        raise


def _pack_inherited(args: argparse.Namespace, work: Path, info: ReleaseInfo, base: Base) -> Packed:
    from ..build import pack as package

    return package.pack_inherited(work / f"{info.release}.zip", info, recipe_of(args), base)


def write_pin(artifact: Path, target: Path) -> None:
    """The release's record and manifest, as the live bucket's history object holds them: the file a
    site ships so static_deploy.storage.PinnedManifestStaticFilesStorage renders this release's names."""
    import zipfile

    from staticsync.live.state import history_body
    from staticsync.model.contract import MANIFEST_NAME, RELEASE_NAME

    with zipfile.ZipFile(artifact) as archive:
        body = history_body(archive.read(RELEASE_NAME), archive.read(MANIFEST_NAME))
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(body)
    temporary.replace(target)


def chatter(args: argparse.Namespace, env: Environment, message: str) -> None:
    if not (args.quiet or args.json):
        env.err(message)
