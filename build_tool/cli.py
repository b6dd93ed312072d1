"""`build_tool package`: collect, pack and stage a Django project's static files."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from enum import IntEnum
from pathlib import Path

from . import __version__
from .collect import ALLOWED_STORAGES, DEFAULT_STORAGE, CollectError, SettingsError
from .package import PackageError
from .upload import UploadError


class ExitCode(IntEnum):
    """What `build_tool` exits with; scripts may rely on these."""

    OK = 0
    ERROR = 1  # unexpected: a bug, with a traceback
    USAGE = 2  # wrong flags
    SETTINGS = 3  # the Django settings module cannot be loaded
    COLLECT = 4  # collectstatic failed (e.g. a CSS url() to a missing file)
    PACKAGE = 5  # the collected files cannot be packed
    AWS = 6  # no credentials, no such bucket, upload failed


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="build_tool", description=__doc__)
    top.add_argument("--version", action="version", version=f"build_tool {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    package = commands.add_parser("package", help="collect, pack and stage the static files")
    package.add_argument(
        "--settings",
        default=os.environ.get("DJANGO_SETTINGS_MODULE"),
        help="Django settings module (default: $DJANGO_SETTINGS_MODULE)",
    )
    package.add_argument(
        "--project-dir",
        type=Path,
        default=Path.cwd(),
        help="folder to import the project from (default: the current one)",
    )
    package.add_argument("--bucket", help="artifacts bucket to stage the zip in")
    package.add_argument("--prefix", default="staging/", help="staging prefix (default: staging/)")
    package.add_argument("--release", help="release id (default: the git commit, else a timestamp)")
    package.add_argument("--output", type=Path, help="write the zip here and upload nothing")
    package.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        choices=ALLOWED_STORAGES,
        help=f"local manifest storage (default: {DEFAULT_STORAGE})",
    )
    package.add_argument(
        "--cache-dir",
        type=Path,
        help="keep whitenoise's compressed outputs here between builds (restore it with your CI's "
        "cache step): only files whose bytes changed are compressed again",
    )
    package.add_argument(
        "--rollback",
        action="store_true",
        help="mark the artifact as a deliberate return to an older release",
    )
    package.add_argument("--profile", help="AWS profile (default: the usual boto3 lookup)")
    package.add_argument("--json", action="store_true", help="print a JSON record on stdout")
    package.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.settings:
        return fail(ExitCode.USAGE, "no settings module: pass --settings or set DJANGO_SETTINGS_MODULE")
    if not args.bucket and not args.output:
        return fail(ExitCode.USAGE, "say where the artifact goes: --bucket (upload) or --output")
    if args.prefix and not args.prefix.endswith("/"):
        return fail(ExitCode.USAGE, f"--prefix {args.prefix!r} must end with '/'")
    try:
        result = run(args)
    except ValueError as error:
        return fail(ExitCode.USAGE, str(error))
    except SettingsError as error:
        return fail(ExitCode.SETTINGS, str(error))
    except CollectError as error:
        return fail(ExitCode.COLLECT, str(error))
    except PackageError as error:
        return fail(ExitCode.PACKAGE, str(error))
    except UploadError as error:
        return fail(ExitCode.AWS, str(error))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    elif not args.quiet:
        print(result["uri"])
        print(summary(result), file=sys.stderr)
    return ExitCode.OK


def run(args: argparse.Namespace) -> dict[str, object]:
    from . import collect, package, release, upload

    started = time.monotonic()
    info = release.detect(args.project_dir, args.release)
    client = None
    if not args.output:
        client = upload.make_client(args.profile)
        upload.check_bucket(client, args.bucket)
    work = Path(tempfile.mkdtemp(prefix="build_tool-"))
    try:
        chatter(args, f"collecting static files of {args.settings} with {args.storage}")
        collect.setup_django(args.settings, args.project_dir)
        stats = collect.collect(work / "static", args.storage, args.cache_dir)
        target = args.output or work / f"{info.release}.zip"
        packed = package.pack(
            work / "static",
            target,
            release=info.release,
            created_at=info.created_at,
            source_commit=info.source_commit,
            tool=f"build_tool {__version__}",
            storage=args.storage,
            cache_dir=args.cache_dir,
        )
        if client is None:
            uri = str(target.resolve())
        else:
            key = f"{args.prefix}{info.release}.zip"
            progress = upload.ProgressBar(packed.size)
            upload.stage(client, packed, args.bucket, key, rollback=args.rollback, progress=progress)
            uri = f"s3://{args.bucket}/{key}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
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
    }


def summary(result: dict[str, object]) -> str:
    return (
        f"release {result['release']}: {result['files']} files, {result['bytes']} bytes "
        f"packed into {result['zip_bytes']} bytes in {result['seconds']} s; "
        f"{result['compressed']} contents compressed, {result['compressed_from_cache']} from the cache"
    )


def chatter(args: argparse.Namespace, message: str) -> None:
    if not (args.quiet or args.json):
        print(message, file=sys.stderr)


def fail(code: ExitCode, message: str) -> int:
    print(f"build_tool: error: {message}", file=sys.stderr)
    return code
