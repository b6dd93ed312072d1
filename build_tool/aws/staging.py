"""Stage the artifact: one PUT (multipart when large) to the artifacts bucket, checksummed."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from staticsync.model.contract import META_BASE, META_RELEASE_SHA256, META_SHA256, META_TAIL_BYTES
from staticsync.notify.report_object import normal_etag

from ..build.pack import Packed
from .errors import IAM_DOC, UploadError, Where, translated

# An artifact up to this size is staged with one PUT (its answer has the ETag); larger ones with
# boto3's managed transfer, which shows progress and goes multipart past 64 MiB.
SINGLE_PUT_BYTES = 8 * 1024 * 1024
MULTIPART_BYTES = 64 * 1024 * 1024
# What to grant when staging (an artifact, a request) is denied.
STAGING_HINT = f"staging needs s3:PutObject on the staging prefix (see {IAM_DOC})"


def make_client(profile: str | None = None) -> Any:
    """An S3 client; a missing profile or a malformed region is an UploadError naming it."""
    with translated(UploadError, "connecting to"):
        return boto3.Session(profile_name=profile).client("s3")


def check_bucket(client: Any, bucket: str) -> None:
    """Fail before the (slow) collect when the bucket or the credentials are wrong."""
    with translated(UploadError, "checking", Where(bucket)):
        client.head_bucket(Bucket=bucket)


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
    extra, target = upload_arguments(packed), Where(bucket, key)
    with translated(UploadError, "upload to", target, STAGING_HINT):
        if packed.size <= SINGLE_PUT_BYTES:
            return _put(client, packed, target, extra, progress)
        _transfer(client, packed, target, extra, progress)
    return _read_etag(client, bucket, key) if read_etag else None


def stage_request(client: Any, bucket: str, key: str, body: bytes) -> str | None:
    """PUT a one-time request (rollback, prune) where the function is triggered, never over another;
    its ETag (what the report carries)."""
    with translated(UploadError, "staging the request at", Where(bucket, key), STAGING_HINT):
        response = client.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
        )
    return normal_etag(response.get("ETag"))


def upload_arguments(packed: Packed) -> dict[str, Any]:
    """The object's metadata (what the function checks the artifact against), checksum and type."""
    metadata = {
        META_SHA256: packed.sha256,
        META_RELEASE_SHA256: packed.release_sha256,
        META_TAIL_BYTES: str(packed.tail_bytes),
    }
    if packed.record.base:
        metadata[META_BASE] = packed.record.base
    return {"Metadata": metadata, "ChecksumAlgorithm": "SHA256", "ContentType": "application/zip"}


def _put(
    client: Any,
    packed: Packed,
    target: Where,
    extra: dict[str, Any],
    progress: Callable[[int], None] | None,
) -> str:
    with packed.path.open("rb") as body:
        response = client.put_object(Bucket=target.bucket, Key=target.key, Body=body, **extra)
    if progress is not None:
        progress(packed.size)
    return str(response["ETag"]).strip('"')


def _transfer(
    client: Any,
    packed: Packed,
    target: Where,
    extra: dict[str, Any],
    progress: Callable[[int], None] | None,
) -> None:
    """boto3's managed transfer: parts in parallel past MULTIPART_BYTES, `progress` as they go."""
    client.upload_file(
        str(packed.path),
        target.bucket,
        target.key,
        ExtraArgs=extra,
        Callback=progress,
        Config=TransferConfig(multipart_threshold=MULTIPART_BYTES),
    )


def _read_etag(client: Any, bucket: str, key: str) -> str | None:
    """The managed transfer returns nothing: one HEAD reads the ETag of what was just stored (None
    without s3:GetObject on the staging prefix: --wait says so then)."""
    try:
        etag: str = client.head_object(Bucket=bucket, Key=key)["ETag"]
    except (ClientError, BotoCoreError):
        return None
    return etag.strip('"')


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
