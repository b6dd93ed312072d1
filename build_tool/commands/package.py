"""What `build_tool package` (and `manage.py deploystatic`) do: check, collect, pack, stage."""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..build import scratch
from ..env import Environment
from ..errors import UsageError

if TYPE_CHECKING:
    from ..build.cache import CompressionStats
    from ..build.delta import Base
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


def package(args: argparse.Namespace, env: Environment) -> dict[str, object]:
    """Collect, pack and stage (or write to --output); the JSON record of what was made."""
    from ..aws import connect
    from ..aws import reports as wait
    from ..aws import staging as upload
    from ..build import delta, release

    check(args)
    started = time.monotonic()
    watch = Stopwatch()
    ignore = (args.cache_dir,) if args.cache_dir else ()
    info = release.detect(args.project_dir, args.release, environ=env.environ, ignore=ignore)
    # The S3 client, the bucket check and a delta's live release, beside Django's start.
    connecting = connect.Connecting(args, info.release)

    def live_base() -> Base | None:
        """Waited for once the settings are loaded: a wrong bucket or a denied read fails before the
        (slow) collect."""
        base = connecting.result().base
        if delta.wanted(args):
            chatter(args, env, f"building a delta of the live {base.release}" if base else "building in full")
        return base

    waiter, etag = None, None
    work = scratch.make_work("build_tool-", env.environ)
    try:
        watch.lap("setup")  # the release id
        packed, stats = build(args, env, work, info, live_base, watch)
        client = connecting.result().client
        if args.pin_file:
            write_pin(packed.path, args.pin_file)
        if client is None:
            shutil.move(packed.path, args.output)
            uri = str(args.output.resolve())
        else:
            key = f"{args.prefix}{info.release}.zip"
            progress = upload.ProgressBar(packed.size, env.stderr, enabled=not args.quiet)
            waiter = wait.Waiter.for_args(client, args, key)  # looks before staging
            etag = upload.stage(client, packed, args.bucket, key, progress=progress, read_etag=bool(waiter))
            uri = f"s3://{args.bucket}/{key}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    watch.lap("upload")
    result: dict[str, object] = {
        "uri": uri,
        "release": info.release,
        "created_at": info.created_at,
        "source_commit": info.source_commit,
        "files": packed.record.file_count,
        "bytes": packed.total_bytes,
        "zip_bytes": packed.size,
        "sha256": packed.sha256,
        "seconds": round(time.monotonic() - started, 2),
        "compressed": stats.compressed,
        "compressed_from_cache": stats.reused,
        "timings": watch.rounded(),
        "base": packed.record.base,
        "inherited": packed.inherited,
        "compression_skipped": stats.inherited,
        "scratch": str(work.parent),  # where the temporary collect was written (build_tool.build.scratch)
    }
    if waiter is not None:
        chatter(args, env, f"waiting for the deploy's report at {waiter.uri}")
        result["report"] = waiter.wait(etag)
    return result


def build(
    args: argparse.Namespace,
    env: Environment,
    work: Path,
    info: ReleaseInfo,
    base: Callable[[], Base | None] = lambda: None,
    watch: Stopwatch | None = None,
) -> tuple[Packed, CompressionStats]:
    """Collect into `work`/static and pack `work`/<release>.zip, staging nothing (package, plan);
    with the live release `base()` returns (asked for once Django has started), a delta of it."""
    from ..build import collect
    from ..build.delta import BaseSlot

    message = f"collecting static files of {args.settings} with {args.storage}"
    watch = watch or Stopwatch()
    slot = BaseSlot()

    def started() -> None:
        watch.lap("django_start")
        slot.value = base()
        watch.lap("setup")  # what of the S3 side Django's start did not hide
        chatter(args, env, message)

    stats = collect.collect(
        args.settings,
        args.project_dir,
        work / "static",
        args.storage,
        args.cache_dir,
        started=started,
        base=slot,
    )
    watch.lap("collect")
    watch.move("collect", "compress", stats.seconds)
    packed = _pack(args, work, info, slot.value)
    watch.lap("pack")
    return packed, stats


def _pack(args: argparse.Namespace, work: Path, info: ReleaseInfo, base: Base | None) -> Packed:
    from ..build import pack as package

    try:
        return _pack_into(args, work, info, base)
    except OSError as error:
        if scratch.no_space(error):
            message = f"cannot pack in {work}: no space left; {scratch.NO_SPACE_HINT}"
            raise package.PackageError(message) from None
        raise


def _pack_into(args: argparse.Namespace, work: Path, info: ReleaseInfo, base: Base | None) -> Packed:
    from ..build import pack as package

    return package.pack(
        work / "static",
        work / f"{info.release}.zip",
        release=info.release,
        created_at=info.created_at,
        source_commit=info.source_commit,
        tool=f"build_tool {__version__}",
        storage=args.storage,
        cache_dir=args.cache_dir,
        ancestry=info.ancestry,
        base=base,
    )


@dataclass
class Stopwatch:
    """Seconds per phase of a build, for `--json`'s "timings": where the seconds go."""

    seconds: dict[str, float] = field(default_factory=dict)
    last: float = field(default_factory=time.monotonic)

    def lap(self, phase: str) -> None:
        """Charge the time since the last lap to `phase`."""
        now = time.monotonic()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self.last
        self.last = now

    def move(self, source: str, target: str, seconds: float) -> None:
        """Charge `seconds` of `source`'s time to `target` (compression runs inside the collect)."""
        moved = min(seconds, self.seconds.get(source, 0.0))
        self.seconds[source] = self.seconds.get(source, 0.0) - moved
        self.seconds[target] = self.seconds.get(target, 0.0) + moved

    def rounded(self) -> dict[str, float]:
        return {phase: round(value, 3) for phase, value in self.seconds.items()}


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


def summary(result: dict[str, object]) -> str:
    line = (
        f"release {result['release']}: {result['files']} files, {result['bytes']} bytes "
        f"packed into {result['zip_bytes']} bytes in {result['seconds']} s; "
        f"{result['compressed']} contents compressed, {result['compressed_from_cache']} from the cache"
    )
    if result.get("base"):
        line += f"; a delta of {result['base']}: {result['inherited']} files inherited, not packed"
    return line


def chatter(args: argparse.Namespace, env: Environment, message: str) -> None:
    if not (args.quiet or args.json):
        env.err(message)
