"""The flags more than one command takes, each declared once: its name, type, default and choices.

One function per group of flags that go together, called in the order --help lists them. Where a
command means something more by a flag (package's --live-bucket asks for a delta build), it passes
its own `help`; every other word of --help is said here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .build.collect import ALLOWED_STORAGES, DEFAULT_STORAGE
from .env import Environment

STAGING_PREFIX = "staging/"
HISTORY_PREFIX = ".releases/"
REPORT_PREFIX = "reports/"
DEFAULT_TIMEOUT = 600.0

Parser = argparse.ArgumentParser


def project(
    parser: Parser,
    env: Environment,
    *,
    settings: bool = True,
    help: str = "folder to import the project from, and whose git commit names the release "
    "(default: the current one)",
) -> None:
    """--settings and --project-dir: the Django project to collect (`settings=False`: manage.py's)."""
    if settings:
        parser.add_argument(
            "--settings",
            default=env.environ.get("DJANGO_SETTINGS_MODULE"),
            help="Django settings module (default: $DJANGO_SETTINGS_MODULE)",
        )
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help=help)


def release(parser: Parser) -> None:
    parser.add_argument("--release", help="release id (default: the git commit, else a timestamp)")


def storage(
    parser: Parser,
    *,
    help: str = f"local manifest storage (default: {DEFAULT_STORAGE})",
    cache_help: str = "keep whitenoise's compressed outputs here between builds (restore it with your "
    "CI's cache step): only files whose bytes changed are compressed again",
) -> None:
    """--storage, --cache-dir and --always-collect: how the files are collected and compressed."""
    parser.add_argument("--storage", default=DEFAULT_STORAGE, choices=ALLOWED_STORAGES, help=help)
    parser.add_argument("--cache-dir", type=Path, help=cache_help)
    parser.add_argument(
        "--always-collect",
        action="store_true",
        help="collect even when the static inputs (sources, storage, settings, tool versions) are the "
        "live release's, whose files a delta build otherwise takes without collecting",
    )


def bucket(
    parser: Parser, *, required: bool = False, help: str = "the artifacts bucket (where requests are staged)"
) -> None:
    """--bucket: the artifacts bucket, where artifacts and requests are staged."""
    parser.add_argument("--bucket", required=required, help=help)


def staging_prefix(parser: Parser, *, help: str = f"staging prefix (default: {STAGING_PREFIX})") -> None:
    parser.add_argument("--prefix", default=STAGING_PREFIX, help=help)


def live(parser: Parser, *, required: bool = False, help: str, owner: str = "the stack's") -> None:
    """--live-bucket, --live-prefix and --history-prefix: where the live release is (`owner` names
    whose settings the prefixes are)."""
    parser.add_argument("--live-bucket", required=required, help=help)
    parser.add_argument("--live-prefix", default="", help=f"{owner} LIVE_PREFIX (default: none)")
    parser.add_argument(
        "--history-prefix", default=HISTORY_PREFIX, help=f"{owner} HISTORY_PREFIX (default: {HISTORY_PREFIX})"
    )


def wait(parser: Parser, what: str = "the function's report") -> None:
    """--wait, --timeout and --report-prefix, the same for every command that stages something."""
    parser.add_argument("--wait", action="store_true", help=f"wait for {what} and print it")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds --wait waits for the report (default: {DEFAULT_TIMEOUT:.0f})",
    )
    parser.add_argument(
        "--report-prefix",
        default=REPORT_PREFIX,
        help=f"the stack's REPORT_PREFIX (default: {REPORT_PREFIX})",
    )


def profile(parser: Parser) -> None:
    parser.add_argument("--profile", help="AWS profile (default: the usual boto3 lookup)")


def endpoint(parser: Parser) -> None:
    """--endpoint-url: an S3-compatible store (R2, B2, MinIO) instead of AWS."""
    parser.add_argument(
        "--endpoint-url",
        help="an S3-compatible store's endpoint, e.g. https://<account>.r2.cloudflarestorage.com "
        "(default: AWS, or $AWS_ENDPOINT_URL_S3)",
    )


def unconditional(parser: Parser) -> None:
    """--accept-unconditional-writes: deploy to a store whose PUTs ignore IfMatch and IfNoneMatch."""
    parser.add_argument(
        "--accept-unconditional-writes",
        action="store_true",
        help="deploy even when the store does not honour conditional writes (the probe at the start "
        "says so); then two deploys at once may overwrite each other: run one at a time",
    )


def output(parser: Parser, *, quiet: str | None = None) -> None:
    """--json, and --quiet when the command has it (`quiet` is its help)."""
    parser.add_argument("--json", action="store_true", help="print a JSON record on stdout")
    if quiet is not None:
        parser.add_argument("--quiet", action="store_true", help=quiet)


def requested_by(parser: Parser, env: Environment) -> None:
    parser.add_argument(
        "--requested-by",
        default=env.environ.get("USER", ""),
        help="who asks, recorded in the request (default: $USER)",
    )
