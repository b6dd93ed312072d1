"""Stage the artifact: one PUT (multipart when large) to the artifacts bucket, checksummed."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    InvalidRegionError,
    NoCredentialsError,
    ProfileNotFound,
)

from staticsync.model.contract import META_BASE, META_RELEASE_SHA256, META_SHA256, META_TAIL_BYTES

from ..build.pack import Packed

# An artifact up to this size is staged with one PUT (its answer has the ETag); larger ones with
# boto3's managed transfer, which shows progress and goes multipart past 64 MiB.
SINGLE_PUT_BYTES = 8 * 1024 * 1024


class UploadError(Exception):
    """The artifact could not be staged: credentials, bucket or network; the message says which."""


def make_client(profile: str | None = None) -> Any:
    """An S3 client; a missing profile or a malformed region is an UploadError naming it."""
    try:
        return boto3.Session(profile_name=profile).client("s3")
    except ProfileNotFound as error:
        name = error.kwargs.get("profile", profile)
        raise UploadError(
            f"AWS profile {name!r} not found (check --profile, AWS_PROFILE, ~/.aws/config)"
        ) from None
    except InvalidRegionError as error:
        raise UploadError(f"{error} (check AWS_REGION, AWS_DEFAULT_REGION or the profile's region)") from None


def check_bucket(client: Any, bucket: str) -> None:
    """Fail before the (slow) collect when the bucket or the credentials are wrong."""
    try:
        client.head_bucket(Bucket=bucket)
    except NoCredentialsError:
        raise UploadError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            raise UploadError(f"bucket {bucket!r} does not exist") from None
        if code in ("403", "AccessDenied"):
            raise UploadError(f"access to bucket {bucket!r} denied: check the credentials") from None
        raise UploadError(f"bucket {bucket!r}: {error}") from None
    except BotoCoreError as error:
        raise UploadError(f"cannot reach S3: {error}") from None


def stage(
    client: Any,
    packed: Packed,
    bucket: str,
    key: str,
    *,
    progress: Callable[[int], None] | None = None,
    read_etag: bool = True,
) -> str | None:
    """Upload the artifact; returns the staged object's ETag (what `--wait` looks for in the report),
    or None when it cannot be read back (no s3:GetObject on the staging prefix) or was not asked for.

    Up to SINGLE_PUT_BYTES (a delta, a small project) one PUT, whose answer carries the ETag; a
    larger artifact goes through boto3's managed transfer (multipart past 64 MiB, with progress),
    then one HEAD reads the ETag when `read_etag`."""
    metadata = {
        META_SHA256: packed.sha256,
        META_RELEASE_SHA256: packed.release_sha256,
        META_TAIL_BYTES: str(packed.tail_bytes),
    }
    if packed.record.base:
        metadata[META_BASE] = packed.record.base
    extra = {"Metadata": metadata, "ChecksumAlgorithm": "SHA256", "ContentType": "application/zip"}
    if packed.size <= SINGLE_PUT_BYTES:
        return _put(client, packed, bucket, key, extra, progress)
    with uploading(bucket, key):
        client.upload_file(
            str(packed.path),
            bucket,
            key,
            ExtraArgs=extra,
            Callback=progress,
            Config=TransferConfig(multipart_threshold=64 * 1024 * 1024),
        )
    if not read_etag:
        return None
    # The managed transfer returns nothing; one HEAD reads the ETag of what was just stored.
    try:
        etag: str = client.head_object(Bucket=bucket, Key=key)["ETag"]
    except (ClientError, BotoCoreError):
        return None
    return etag.strip('"')


def _put(
    client: Any,
    packed: Packed,
    bucket: str,
    key: str,
    extra: dict[str, Any],
    progress: Callable[[int], None] | None,
) -> str:
    with uploading(bucket, key), packed.path.open("rb") as body:
        response = client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    if progress is not None:
        progress(packed.size)
    return str(response["ETag"]).strip('"')


@contextmanager
def uploading(bucket: str, key: str) -> Iterator[None]:
    """An upload's failures as UploadError, naming what went wrong (boto3's managed transfer wraps
    S3's answer in S3UploadFailedError)."""
    try:
        yield
    except NoCredentialsError:
        raise UploadError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)") from None
    except (ClientError, BotoCoreError, S3UploadFailedError) as error:
        raise UploadError(f"upload to s3://{bucket}/{key} failed: {error}") from None


class ProgressBar:
    """A one-line bar on a terminal's stderr; silent elsewhere."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, *, enabled: bool = True) -> None:
        """`enabled=False` (--quiet) silences it on a terminal too."""
        self.total, self.stream, self.done = max(total, 1), stream, 0
        self.enabled = enabled and stream.isatty()
        self._lock = threading.Lock()

    def __call__(self, sent: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.done += sent
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            self.stream.write(f"\ruploading [{bar:<30}] {share:4.0%} of {self.total / 1e6:.1f} MB")
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()
