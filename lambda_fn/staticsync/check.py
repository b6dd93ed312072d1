"""Verify a live bucket against its live release, and with --repair restore what is missing or wrong.

`python -m staticsync.check --bucket B [--prefix P]` exits 0 when the live site is whole, 1 with one
line per problem otherwise. With `--artifacts-bucket` (or ARTIFACTS_BUCKET) it also compares every
file's bytes with the release's retained artifact; `--repair` restores what differs from it. The
Cache-Control values it expects come from the same variables as the Lambda's (CACHE_CONTROL_HASHED,
...), so run it with the function's configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from enum import IntEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import Settings
from .errors import ConfigError, SyncError
from .model.verdicts import Problem
from .operations.repair import Depth, RepairRefused, VerifyReport, verify_live

__all__ = ["Exit", "Problem", "check_live", "main"]


def check_live(client: Any, settings: Settings, *, everything: bool = False) -> list[Problem]:
    """Every problem with what the live site serves; an empty list when it is whole.

    The live staticfiles.json must parse and name (metadata `release`) a release whose record is
    kept and matches it; every file of the release must be listed, and every hashed name it refers
    to, with each .gz/.br sibling, must have the SHA-256 and headers that release gives it. With
    `everything`, every other file's too: unhashed names are overwritten by whichever deploy writes
    them last.
    """
    return verify_live(client, settings, depth=Depth.DEEP if everything else Depth.HASHED).problems


class Exit(IntEnum):
    """What `python -m staticsync.check` exits with."""

    OK = 0  # whole (after --repair: every problem found was restored)
    PROBLEMS = 1  # the live site is not whole: one line per problem on stdout
    USAGE = 2  # wrong flags or configuration
    ERROR = 3  # S3 could not be read (credentials, bucket, network)
    REFUSED = 4  # the retained artifact is missing, damaged or not the live release's: nothing written


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m staticsync.check", description=__doc__.split("\n")[0])
    parser.add_argument("--bucket", required=True, help="the live bucket")
    parser.add_argument("--prefix", default="", help="the live prefix, ending in '/' (default: none)")
    parser.add_argument("--history-prefix", default=".releases/", help="default: .releases/")
    parser.add_argument(
        "--artifacts-bucket",
        default=os.environ.get("ARTIFACTS_BUCKET", ""),
        help="where the live release's artifact is kept (default: $ARTIFACTS_BUCKET): compare bytes",
    )
    parser.add_argument(
        "--staging-prefix", default=os.environ.get("STAGING_PREFIX", "staging/"), help="default: staging/"
    )
    depth = parser.add_mutually_exclusive_group()
    depth.add_argument(
        "--deep",
        "--all",
        dest="deep",
        action="store_true",
        help="HEAD every file (headers of unhashed files)",
    )
    depth.add_argument(
        "--list-only", action="store_true", help="no HEAD per file: the LIST and the artifact's reads only"
    )
    parser.add_argument("--repair", action="store_true", help="restore what is missing or wrong")
    parser.add_argument("--json", action="store_true", help="print the problems as a JSON list")
    return parser


def main(argv: list[str] | None = None, client: Any = None) -> int:
    args = parser().parse_args(argv)
    env = {**os.environ, "LIVE_BUCKET": args.bucket, "LIVE_PREFIX": args.prefix}
    env |= {"HISTORY_PREFIX": args.history_prefix, "STAGING_PREFIX": args.staging_prefix}
    try:
        settings = Settings.from_env(env | {"ARTIFACTS_BUCKET": args.artifacts_bucket})
        if args.repair and not settings.artifacts_bucket:
            raise ConfigError(
                "--repair needs --artifacts-bucket (or ARTIFACTS_BUCKET): it restores from there"
            )
    except ConfigError as error:
        print(f"check: error: {error}", file=sys.stderr)
        return Exit.USAGE
    depth = Depth.DEEP if args.deep else Depth.LIST if args.list_only else Depth.HASHED
    where = f"s3://{args.bucket}/{args.prefix}"
    try:
        report = verify_live(client or _client(), settings, depth=depth, repair=args.repair)
    except RepairRefused as error:
        print(f"check: refused: {error}", file=sys.stderr)
        return Exit.REFUSED
    except (BotoCoreError, ClientError, SyncError) as error:
        print(f"check: error: cannot read {where}: {error}", file=sys.stderr)
        return Exit.ERROR
    show(report, args.json)
    return Exit.PROBLEMS if report.remaining else Exit.OK


def show(report: VerifyReport, as_json: bool) -> None:
    """The problems on stdout (each marked restored or not), a one-line summary on stderr."""
    restored = set(report.restored)
    if as_json:
        items = [asdict(problem) | {"restored": problem.key in restored} for problem in report.problems]
        print(json.dumps(items, indent=1))
    else:
        lines = [f"{p}{' (restored)' if p.key in restored else ''}" for p in report.problems]
        print(*lines, sep="\n", end="\n" if lines else "")
    print(f"{report.where}: {summary(report)}", file=sys.stderr)


def summary(report: VerifyReport) -> str:
    """`whole`, or how many problems, and what became of them."""
    if not report.problems:
        return "whole"
    said = f"{len(report.problems)} problems"
    if report.repair:
        said += f", {len(report.restored)} files restored"
    if report.held:
        said += f", {len(report.held)} left to a deploy in flight (run again after its cutover)"
    if report.changed_meanwhile:
        said += f", {len(report.changed_meanwhile)} changed by another writer meanwhile (run again)"
    return said


def _client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))


if __name__ == "__main__":
    sys.exit(main())
