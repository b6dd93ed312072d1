"""A direct deploy's S3 side: the live bucket's client, and the probe that its store honours the
conditional writes the release protocol rests on (`IfNoneMatch: *` for the history and the journal's
claims, `IfMatch` for the cutover).

The probe costs 4 requests on a key of its own, `<history prefix>probes/<random>`: a PUT of an empty
body, the same PUT with `IfNoneMatch: *` (must be refused: 412, or 409 in a race), a PUT with
`IfMatch` on an ETag no object has (must be refused: 412, or 404 where the key is gone), and a
DELETE. Nothing reads the probes folder (retention and verify skip the history prefix); a probe the
DELETE was denied is left there, empty.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from staticsync.bucket import CONDITION_FAILED
from staticsync.config import Settings

from ..errors import UsageError
from .errors import IAM_DOC, AwsError, Where, code_of, translated

PROBE_DIR = "probes/"
NO_SUCH_ETAG = '"00000000000000000000000000000000"'
# Each condition the protocol sends on PutObject, and the value the probe tries it with.
CONDITIONS = {"IfNoneMatch": "*", "IfMatch": NO_SUCH_ETAG}
HONOURED, IGNORED, UNSUPPORTED = "honoured", "ignored", "not supported"
# A store that does not implement a condition may say so instead of ignoring it.
NOT_IMPLEMENTED = frozenset({"NotImplemented", "501"})
WRITE_HINT = f"a direct deploy needs s3:PutObject and s3:DeleteObject on the live bucket (see {IAM_DOC})"


class LiveWriteError(AwsError):
    """The live bucket cannot be written: credentials, bucket, permissions or network (exit 6)."""


class UnconditionalStore(UsageError):
    """The store does not honour conditional writes, and --accept-unconditional-writes was not given."""


@dataclass(frozen=True)
class Probe:
    """What the store did with each condition (honoured, ignored, not supported), and the probe's key."""

    answers: dict[str, str]
    key: str
    left_behind: bool = False  # the DELETE was refused: the empty probe object stays

    @property
    def unhonoured(self) -> tuple[str, ...]:
        return tuple(name for name in CONDITIONS if self.answers.get(name) != HONOURED)

    def summary(self) -> str:
        return ", ".join(f"{name} {self.answers.get(name)}" for name in CONDITIONS)


def make_client(args: argparse.Namespace, concurrency: int) -> Any:
    """The live bucket's client: --profile, --endpoint-url, a connection per upload thread, and
    standard retries (the function's settings)."""
    config = Config(max_pool_connections=concurrency + 4, retries={"mode": "standard", "max_attempts": 5})
    with translated(LiveWriteError, "connecting to"):
        session = boto3.Session(profile_name=args.profile)
        return session.client("s3", endpoint_url=args.endpoint_url or None, config=config)


def probe(client: Any, settings: Settings) -> Probe:
    """Try each condition on a key of the probe's own; delete it (4 requests)."""
    bucket = settings.live_bucket
    key = f"{settings.live_prefix}{settings.history_prefix}{PROBE_DIR}{uuid.uuid4().hex}"
    where = Where(bucket, key, "--live-bucket")
    with translated(LiveWriteError, "probing conditional writes at", where, WRITE_HINT):
        client.put_object(Bucket=bucket, Key=key, Body=b"")
        try:
            answers = {name: answer(client, bucket, key, name, value) for name, value in CONDITIONS.items()}
        finally:
            deleted = delete_quietly(client, bucket, key)
    return Probe(answers, key, left_behind=not deleted)


def answer(client: Any, bucket: str, key: str, condition: str, value: str) -> str:
    """A PUT over the probe object that the condition must refuse: how the store took it."""
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"", **{condition: value})
    except ClientError as error:
        if code_of(error) in CONDITION_FAILED:
            return HONOURED
        if code_of(error) in NOT_IMPLEMENTED:
            return UNSUPPORTED
        raise
    return IGNORED


def delete_quietly(client: Any, bucket: str, key: str) -> bool:
    """Delete the probe; False when the store refused (a bucket policy that denies deletes)."""
    try:
        client.delete_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def judge(found: Probe, settings: Settings, accept: bool) -> str | None:
    """None when the store honours both conditions; the warning to give when it does not and the
    user accepts it (--accept-unconditional-writes); else UnconditionalStore."""
    if not found.unhonoured:
        return None
    where = f"s3://{settings.live_bucket}/{settings.live_prefix}"
    if not accept:
        raise UnconditionalStore(
            f"{where}: the store does not honour conditional writes ({found.summary()}), which the "
            "cutover and the journal's claims rely on; to deploy without them, one deploy at a time, "
            "pass --accept-unconditional-writes"
        )
    return (
        f"warning: {where} does not honour conditional writes ({found.summary()}): deploying without "
        "them; two deploys at once may overwrite each other's cutover and journal place, so run one "
        "at a time (a CI concurrency group)"
    )


def strip_conditions(client: Any, conditions: tuple[str, ...]) -> None:
    """Send PutObject without `conditions`: a store that refuses a header (501) then takes the PUT,
    and one that ignores it sees no difference."""

    def strip(params: dict[str, Any], **_: Any) -> None:
        for name in conditions:
            params.pop(name, None)

    if conditions:
        client.meta.events.register("before-parameter-build.s3.PutObject", strip)
