"""The live release as the build tool reads it: `plan`'s live state and a delta build's base."""

from __future__ import annotations

import argparse
from typing import Any

from staticsync.config import Settings
from staticsync.live.state import HISTORY_NAME, read_live
from staticsync.model.contract import MANIFEST_NAME
from staticsync.model.plan import LiveState

from ..build.delta import Base, base_of
from .errors import IAM_DOC, LiveReadError, Where, translated

# What to grant when reading the live release is denied.
LIVE_READ_HINT = (
    f"the build needs s3:GetObject on it and on its release's {HISTORY_NAME}, and s3:ListBucket on the "
    f"live bucket while nothing is live (see {IAM_DOC})"
)


def read_live_state(client: Any, settings: Settings) -> LiveState:
    """GET the live staticfiles.json and the live release's history object; failures in one line."""
    where = Where(settings.live_bucket, settings.live_key(MANIFEST_NAME), flag="--live-bucket")
    with translated(LiveReadError, "reading", where, LIVE_READ_HINT):
        return read_live(client, settings)


def read_base(client: Any, args: argparse.Namespace, release: str | None = None) -> Base | None:
    """GET the live staticfiles.json and its release's record (as `build_tool plan` does): the base
    of a delta build of `release` (None: any release but the live one, which the caller checks)."""
    settings = Settings(args.live_bucket, args.live_prefix, history_prefix=args.history_prefix)
    return base_of(read_live_state(client, settings), args.storage, release)
