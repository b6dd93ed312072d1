"""`build_tool pin RELEASE --app NAME`: keep a release's files for an app that renders its names.

An app deployed with `PinnedManifestStaticFilesStorage` renders the hashed names of its own release. It
stages a one-time `pin-<id>.json` request; the function, one invocation at a time with retention,
checks that the release has a record here and was not pruned, and keeps it for `--days` (S3's clock).
Retention keeps every file of a pinned release until the pin expires (docs/artifact.md, rule 6).
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from staticsync.model.pins import MAX_PIN_DAYS, BadPinRequest, PinRequest, pin_request_key

from .. import options
from ..aws.reports import Waiter
from ..env import Environment
from ..errors import UsageError
from .prune import show_staged
from .status import add_live_arguments, settings_of

DEFAULT_DAYS = 30


def add_arguments(parser: argparse.ArgumentParser, env: Environment) -> None:
    parser.add_argument("release", help="the release the app renders (its build_tool package release id)")
    parser.add_argument("--app", required=True, help="a name for the app or service holding the pin")
    parser.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        help=f"keep the release at least this long, from now by S3's clock (default: {DEFAULT_DAYS})",
    )
    options.bucket(parser, required=True)
    add_live_arguments(parser)
    options.wait(parser)


def run(args: argparse.Namespace, env: Environment | None = None) -> dict[str, Any]:
    """Stage the pin request (with --wait, wait for its report); print its address and the report."""
    from ..aws.staging import make_client, stage_request

    env = env or Environment()
    settings = settings_of(args, args.bucket)
    request = PinRequest(uuid.uuid4().hex, args.app, args.release, args.days)
    try:
        PinRequest.parse(request.to_json())
    except BadPinRequest as error:
        raise UsageError(f"{error} (days: 1 to {MAX_PIN_DAYS})") from None
    client = make_client(args.profile)
    key = pin_request_key(settings.staging_prefix, request.request)
    waiter = Waiter.for_args(client, args, key)  # looks before staging
    etag = stage_request(client, args.bucket, key, request.to_json())
    result: dict[str, Any] = {"uri": f"s3://{args.bucket}/{key}", "release": args.release, "app": args.app}
    if waiter is not None:
        result["report"] = waiter.wait(etag)
    show_staged(args, env, result)
    return result
