"""`build_tool prune`: preview retention by releases (--dry-run), or ask the function to prune.

The dry run reads only (the live manifest, the journal back to the oldest retained release, their
records, one LIST per 1,000 live keys and per 1,000 staged objects) and prints what a run would delete
and retire, and why. Without --dry-run it stages a one-time `prune-<id>.json` request: the deletion
happens inside the sync function, which runs one invocation at a time, so never during a deploy.
"""

from __future__ import annotations

import argparse
import json
import uuid
from dataclasses import replace
from typing import Any

from staticsync.config import Settings
from staticsync.model.retention import DEFAULT_KEEP, DEFAULT_MAX_DELETES
from staticsync.operations.prune import REQUEST_FORMAT, prune_live
from staticsync.operations.requests import request_object_key

from .. import options
from ..aws.reports import Waiter, describe
from ..env import Environment
from ..errors import UsageError
from .status import add_live_arguments, reading, settings_of

DEFAULT_GRACE_DAYS = 7


def add_arguments(parser: argparse.ArgumentParser, env: Environment) -> None:
    options.bucket(parser, required=True)
    add_live_arguments(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted and why; change nothing"
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=DEFAULT_KEEP,
        help=f"--dry-run: the stack's RETAIN_RELEASES (default: {DEFAULT_KEEP})",
    )
    parser.add_argument(
        "--grace-days",
        type=int,
        default=DEFAULT_GRACE_DAYS,
        help=f"--dry-run: the stack's RETENTION_GRACE_DAYS (default: {DEFAULT_GRACE_DAYS})",
    )
    parser.add_argument(
        "--max-deletes",
        type=int,
        default=DEFAULT_MAX_DELETES,
        help=f"--dry-run: the stack's PRUNE_MAX_DELETES (default: {DEFAULT_MAX_DELETES})",
    )
    options.wait(parser)
    options.requested_by(parser, env)


def run_prune(args: argparse.Namespace, env: Environment | None = None) -> int:
    """The dry run's description, or the staged request's address (and with --wait, its report)."""
    from ..aws.staging import make_client

    env = env or Environment()
    if min(args.keep, args.grace_days, args.max_deletes) < 1:
        raise UsageError("--keep, --grace-days and --max-deletes must be at least 1")
    settings = replace(
        settings_of(args, args.bucket),
        retain_releases=args.keep,
        retention_grace_days=args.grace_days,
        prune_max_deletes=args.max_deletes,
    )
    client = make_client(args.profile)
    if args.dry_run:
        with reading(settings):
            report = prune_live(client, settings, dry_run=True)
        if args.json:
            env.out(json.dumps(report.as_log(), sort_keys=True, default=str))
        else:
            for line in report.lines:
                env.out(line)
            env.err(str(report))
        return 0
    return request_prune(client, settings, args, env)


def request_prune(client: Any, settings: Settings, args: argparse.Namespace, env: Environment) -> int:
    """Stage a prune request (with --wait, wait for its report); print its address and the report."""
    from ..aws.staging import stage_request

    request = uuid.uuid4().hex
    key = request_object_key(settings, request)
    body = json.dumps({"format": REQUEST_FORMAT, "request": request, "requested_by": args.requested_by})
    waiter = Waiter.for_args(client, args, key)  # looks before staging
    etag = stage_request(client, args.bucket, key, body.encode())
    result: dict[str, Any] = {"uri": f"s3://{args.bucket}/{key}", "request": request}
    if waiter is not None:
        result["report"] = waiter.wait(etag)
    show_staged(args, env, result)
    return 0


def show_staged(args: argparse.Namespace, env: Environment, result: dict[str, Any]) -> None:
    """A staged request's address (and with --wait, its report), or the whole record with --json."""
    if args.json:
        env.out(json.dumps(result, sort_keys=True))
        return
    env.out(result["uri"])
    if "report" in result:
        env.out(describe(result["report"]))
