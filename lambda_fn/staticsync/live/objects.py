"""The deployer's objects read and written whole: a GET with its LastModified, a write-once PUT."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from ..bucket import CONDITION_FAILED, MISSING, error_code
from ..config import Settings
from ..errors import ObjectTooLarge

JSON = "application/json; charset=utf-8"


class Found(NamedTuple):
    """An object read whole: its bytes, ETag, user metadata and S3's LastModified (S3's clock)."""

    body: bytes
    etag: str
    metadata: dict[str, str]
    modified: datetime | None = None


def get_object(
    client: Any, bucket: str, key: str, limit: int | None = None, read: Callable[[Any], bytes] | None = None
) -> Found | None:
    """The object, or None when there is none. With `limit`, an object larger than `limit` bytes is
    not read: ObjectTooLarge (a request staged by whoever can write the staging prefix is bounded).
    `read` reads the response's body stream (by default whole)."""
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING:
            return None
        raise
    if limit is not None and int(response.get("ContentLength", 0)) > limit:
        response["Body"].close()
        raise ObjectTooLarge(f"s3://{bucket}/{key} is {response['ContentLength']} bytes, over {limit}")
    body = response["Body"].read() if read is None else read(response["Body"])
    return Found(body, response["ETag"], response.get("Metadata", {}), response.get("LastModified"))


class ClaimTaken(Exception):
    """Someone else already wrote that place in the journal (or that request's claim)."""

    def __init__(self, existing: bytes) -> None:
        super().__init__("already claimed")
        self.existing = existing


def write_once(client: Any, settings: Settings, key: str, body: bytes) -> None:
    """PUT `body` at `key` unless the key exists; an existing object with the same bytes is fine."""
    try:
        client.put_object(Bucket=settings.live_bucket, Key=key, Body=body, ContentType=JSON, IfNoneMatch="*")
    except ClientError as error:
        if error_code(error) not in CONDITION_FAILED:
            raise
        found = get_object(client, settings.live_bucket, key)
        if found is None or found[0] != body:
            raise ClaimTaken(found[0] if found else b"{}") from None
