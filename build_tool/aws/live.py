"""The live release as the build tool reads it: `plan`'s live state and a delta build's base."""

from __future__ import annotations

import argparse
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from staticsync.config import Settings
from staticsync.errors import LiveStateError
from staticsync.live.state import HISTORY_NAME, read_live
from staticsync.model.contract import MANIFEST_NAME
from staticsync.model.plan import LiveState

from ..build.delta import Base, base_of
from .staging import UploadError


class LiveReadError(UploadError):
    """The live state cannot be read: credentials, bucket, permissions, or a damaged live release."""


def read_live_state(client: Any, settings: Settings) -> LiveState:
    """GET the live staticfiles.json and the live release's history object; failures in one line."""
    where = f"s3://{settings.live_bucket}/{settings.live_key(MANIFEST_NAME)}"
    try:
        return read_live(client, settings)
    except LiveStateError as error:
        raise LiveReadError(str(error)) from None
    except NoCredentialsError:
        raise LiveReadError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)") from None
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            raise LiveReadError(
                f"live bucket {settings.live_bucket!r} does not exist (check --live-bucket)"
            ) from None
        if code in ("403", "AccessDenied"):
            raise LiveReadError(
                f"access denied reading {where} or its release's {HISTORY_NAME}: plan needs s3:GetObject "
                "on both (and s3:ListBucket on the live bucket while nothing is live: see the README)"
            ) from None
        raise LiveReadError(f"reading {where} failed: {error}") from None
    except BotoCoreError as error:
        raise LiveReadError(f"cannot reach S3: {error}") from None


def read_base(client: Any, args: argparse.Namespace, release: str) -> Base | None:
    """GET the live staticfiles.json and its release's record (as `build_tool plan` does)."""
    settings = Settings(args.live_bucket, args.live_prefix, history_prefix=args.history_prefix)
    return base_of(read_live_state(client, settings), args.storage, release)
