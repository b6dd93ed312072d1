"""`build_tool rollback [RELEASE]`: stage a one-time rollback request for a retained release, and wait.

Nothing is rebuilt: the request names the artifact the release went live from, and the function
deploys it only while the release read as live here is still live (a compare-and-swap). Costs: the
live manifest and record (2 GETs), one GET per place walked back to the target, a HEAD of its record
and one of its artifact (and, for a delta, one of each base artifact down its chain), one PUT; with
--wait, a HEAD of the report key and the report's polls.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from staticsync.config import Settings
from staticsync.live.state import read_live
from staticsync.live.walk import REPLACED, Place, artifact_location, find_live_place, not_retained, walk_live
from staticsync.model.order import RollbackRequest
from staticsync.model.plan import LiveState
from staticsync.operations.rollback import request_object_key

from .. import options
from ..aws.reports import Waiter, describe
from ..env import Environment
from ..errors import UsageError
from .status import add_live_arguments, reading, settings_of


class RollbackRefused(UsageError):
    """The rollback cannot be asked for: no target, the target is live, or it is not retained."""


def add_arguments(parser: argparse.ArgumentParser, env: Environment) -> None:
    parser.add_argument(
        "release", nargs="?", help="the release to return to (default: the one live before the live one)"
    )
    options.bucket(parser, required=True)
    add_live_arguments(parser)
    options.wait(parser)
    options.requested_by(parser, env)


def choose(found: Place | None, live_release: str, release: str | None) -> Place:
    """The place to return to (`found` by the walk back from the live place), or why there is none.

    `release` None asks for the release live before the live one. Raises RollbackRefused.
    """
    if release == live_release:
        raise RollbackRefused(f"release {release} is the live release: nothing to roll back to")
    if found is not None:
        return found
    if release is None:
        raise RollbackRefused(
            f"no release was live before {live_release} in the journal: nothing to return to"
        )
    raise RollbackRefused(
        f"release {release} is not retained: it did not go live in this live bucket's journal (see "
        "build_tool status); rebuild it with build_tool package instead"
    )


def target_place(client: Any, settings: Settings, live: LiveState, release: str | None) -> Place:
    """Walk back only as far as the target: by default the first replaced place.

    A release the live manifest does not remember as live before (its last 128) is not walked for.
    """
    assert live.release is not None
    found = None
    if release is None:
        found = next((p for p in walk_live(client, settings, live) if p.outcome == REPLACED), None)
    elif release != live.release and live.position.was_live(release):
        found = find_live_place(client, settings, release, live)
    return choose(found, live.release, release)


def make_request(client: Any, settings: Settings, release: str | None, requested_by: str) -> RollbackRequest:
    """Read the live release, pick and check the target, and return the request to stage."""
    live = read_live(client, settings)
    if live.release is None:
        raise RollbackRefused(f"nothing is live at s3://{settings.live_bucket}/{settings.live_prefix}")
    place = target_place(client, settings, live, release)
    reason = not_retained(client, settings, place.entry, live_release=live.release)
    if reason:
        raise RollbackRefused(f"release {place.release} is not retained: {reason}")
    location = artifact_location(place.entry, settings)
    assert not isinstance(location, str)  # not_retained said so
    return RollbackRequest(uuid.uuid4().hex, place.release, live.release, location[1], requested_by)


def run(args: argparse.Namespace, env: Environment) -> dict[str, Any]:
    """Stage the request (and with --wait, wait for its report); the JSON record of what was done."""
    from ..aws.staging import make_client, stage_request

    if args.wait and (args.timeout <= 0 or not args.report_prefix.endswith("/")):
        raise UsageError("--wait needs a --timeout above 0 and a --report-prefix ending in '/'")
    settings = settings_of(args, args.bucket)
    client = make_client(args.profile)
    with reading(settings):
        request = make_request(client, settings, args.release, args.requested_by)
    key = request_object_key(settings, request.request)
    waiter = Waiter.for_args(client, args, key)  # looks before staging
    etag = stage_request(client, args.bucket, key, request.to_json())
    result: dict[str, Any] = {
        "uri": f"s3://{args.bucket}/{key}",
        "request": request.request,
        "release": request.release,
        "replaces": request.replaces,
        "artifact": f"s3://{args.bucket}/{request.artifact_key}",
    }
    chatter(args, env, f"rollback to {request.release} (replacing {request.replaces}) requested")
    if waiter is not None:
        chatter(args, env, f"waiting for the function's report at {waiter.uri}")
        result["report"] = waiter.wait(etag)
    show(args, env, result)
    return result


def show(args: argparse.Namespace, env: Environment, result: dict[str, Any]) -> None:
    if args.json:
        env.out(json.dumps(result, sort_keys=True))
        return
    env.out(str(result["uri"]))
    if "report" in result:
        env.out(describe(result["report"]))


def chatter(args: argparse.Namespace, env: Environment, message: str) -> None:
    if not args.json:
        env.err(message)
