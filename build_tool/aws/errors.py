"""botocore's errors as one line for people, translated here once for the whole build side.

Every S3 call of the build tool runs inside `translated(kind, action, where, hint)`: a credentials,
profile or region problem, a missing bucket, a denied request, an S3 error or a network failure
comes out as `kind` (an AwsError, exit 6) with a message that says what to set or check. What a
caller treats as an answer rather than a failure (a report not there yet) it catches inside the
block, by `code_of`, before it gets here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    InvalidRegionError,
    NoCredentialsError,
    ProfileNotFound,
)

from staticsync.errors import LiveStateError

NO_CREDENTIALS = "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)"
CHECK_CREDENTIALS = "check the credentials"
IAM_DOC = "docs/aws.md, IAM: who needs what"  # every command's permissions
DENIED = frozenset({"403", "AccessDenied"})
# HeadBucket's answer has no body: a missing bucket is a bare 404 there, and NoSuchBucket elsewhere.
NOT_FOUND = frozenset({"404", "NotFound"})


class AwsError(Exception):
    """S3 cannot be used: credentials, profile, region, bucket, permissions or network (exit 6)."""


class UploadError(AwsError):
    """Something could not be staged (the artifact, a request); the message says what to check."""


class LiveReadError(AwsError):
    """The live state cannot be read (plan, a delta build): credentials, bucket, permissions, or a
    damaged live release."""


class WaitError(AwsError):
    """The report cannot be read (permissions, network); the message says what to grant or check."""


class ReadError(AwsError):
    """status, rollback, prune: S3 or the live bucket's state could not be read."""


@dataclass(frozen=True)
class Where:
    """An S3 place a block of calls works on, and the flag that named its bucket (for the messages)."""

    bucket: str
    key: str = ""
    flag: str = "--bucket"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@contextmanager
def translated(
    kind: type[AwsError], action: str, where: Where | None = None, hint: str = CHECK_CREDENTIALS
) -> Iterator[None]:
    """Raise botocore's errors (and boto3's upload failure, and an unreadable live state) in the block
    as `kind`, in one line: "`action` `where` failed: ...", or what alone explains it (no credentials,
    no such bucket, access denied: `hint` says what to grant)."""
    try:
        yield
    except (BotoCoreError, ClientError, S3UploadFailedError, LiveStateError) as error:
        raise kind(explain(error, action, where, hint)) from None


def explain(error: Exception, action: str, where: Where | None = None, hint: str = CHECK_CREDENTIALS) -> str:
    """The one line `translated` raises."""
    cause = unwrapped(error)
    if isinstance(cause, ProfileNotFound):
        name = cause.kwargs.get("profile")
        return f"AWS profile {name!r} not found (check --profile, AWS_PROFILE, ~/.aws/config)"
    if isinstance(cause, InvalidRegionError):
        return f"{cause} (check AWS_REGION, AWS_DEFAULT_REGION or the profile's region)"
    if isinstance(cause, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(cause, LiveStateError):
        return str(cause)
    target = str(where) if where else "S3"
    if isinstance(cause, ClientError):
        code, operation = code_of(cause), cause.operation_name
        if code == "NoSuchBucket" or (code in NOT_FOUND and operation == "HeadBucket"):
            missing = no_such_bucket(cause, where)  # names the bucket: all a bucket check need say
            return missing if operation == "HeadBucket" else f"{action} {target} failed: {missing}"
        if code in DENIED:
            return f"access to {target} denied ({operation}): {hint}"
    return f"{action} {target} failed: {cause}"


def no_such_bucket(error: ClientError, where: Where | None) -> str:
    """Named by the flag that gave it, when it is `where`'s bucket."""
    bucket = str(error.response.get("Error", {}).get("BucketName") or (where.bucket if where else ""))
    if where is None or bucket != where.bucket:
        return f"bucket {bucket!r} does not exist"
    label = where.flag.removeprefix("--").replace("-", " ")  # --live-bucket: "live bucket"
    return f"{label} {bucket!r} does not exist (check {where.flag})"


def unwrapped(error: Exception) -> Exception:
    """boto3's managed transfer raises S3UploadFailedError while handling S3's answer: that answer."""
    context = error.__context__
    if isinstance(error, S3UploadFailedError) and isinstance(context, ClientError | BotoCoreError):
        return context
    return error


def code_of(error: Exception) -> str:
    """The S3 error code of a ClientError (some are bare HTTP statuses: "404"), else ''."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
