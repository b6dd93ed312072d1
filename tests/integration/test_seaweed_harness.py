"""The local S3 harness behaves like the AWS features the sync relies on."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from devtools.seaweed import S3Server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.usefixtures("empty_buckets")

# Long enough for a stray event to show up: deliveries measured at a few milliseconds.
QUIET = 1.0
MiB = 1024 * 1024


def status(error: pytest.ExceptionInfo[ClientError]) -> int:
    return error.value.response["ResponseMetadata"]["HTTPStatusCode"]


def only_record(s3_server: S3Server) -> dict:
    event = s3_server.events.wait_event(timeout=5)
    with pytest.raises(TimeoutError):
        extra = s3_server.events.wait_event(timeout=QUIET)
        pytest.fail(f"a second event arrived: {extra}")
    (record,) = event["Records"]
    return record


def test_a_wrong_secret_key_is_refused_with_403(s3_server: S3Server) -> None:
    intruder = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
        region_name=s3_server.region,
    )
    with pytest.raises(ClientError) as error:
        intruder.put_object(Bucket="live", Key="x", Body=b"x")
    assert status(error) == 403


def test_a_put_to_an_unknown_bucket_does_not_create_it(s3: S3Client) -> None:
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket="no-such-bucket", Key="x", Body=b"x")
    assert status(error) == 404
    assert "no-such-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("staging/release.zip", "staging/release.zip"),
        ("staging/with space.zip", "staging/with+space.zip"),
        ("staging/plus+sign.zip", "staging/plus%2Bsign.zip"),
        ("staging/100%.zip", "staging/100%25.zip"),
        ("staging/ünï 日本.zip", "staging/%C3%BCn%C3%AF+%E6%97%A5%E6%9C%AC.zip"),
    ],
)
def test_a_put_under_staging_emits_one_event_with_the_key_encoded_as_aws_does(
    s3: S3Client, s3_server: S3Server, key: str, encoded: str
) -> None:
    s3.put_object(Bucket="artifacts", Key=key, Body=b"zip bytes")

    record = only_record(s3_server)

    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"] == {"name": "artifacts", "arn": "arn:aws:s3:::artifacts"}
    assert record["s3"]["object"]["key"] == encoded
    assert unquote_plus(record["s3"]["object"]["key"]) == key
    assert record["s3"]["object"]["size"] == len(b"zip bytes")


def test_a_multipart_upload_emits_one_event_for_the_finished_object(
    s3: S3Client, s3_server: S3Server
) -> None:
    parts = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_fileobj(io.BytesIO(b"a" * 12 * MiB), "artifacts", "staging/big.zip", Config=parts)

    record = only_record(s3_server)

    assert record["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert record["s3"]["object"]["key"] == "staging/big.zip"
    assert record["s3"]["object"]["size"] == 12 * MiB
    etag = s3.head_object(Bucket="artifacts", Key="staging/big.zip")["ETag"]
    assert record["s3"]["object"]["eTag"] == etag.strip('"')


def test_overwriting_a_staged_object_emits_an_event_again(s3: S3Client, s3_server: S3Server) -> None:
    s3.put_object(Bucket="artifacts", Key="staging/again.zip", Body=b"one")
    only_record(s3_server)

    s3.put_object(Bucket="artifacts", Key="staging/again.zip", Body=b"second")

    assert only_record(s3_server)["s3"]["object"]["size"] == len(b"second")


def test_objects_outside_the_staging_prefix_emit_no_event(s3: S3Client, s3_server: S3Server) -> None:
    s3.put_object(Bucket="artifacts", Key="other/release.zip", Body=b"x")
    s3.put_object(Bucket="artifacts", Key="stagingX/release.zip", Body=b"x")
    s3.put_object(Bucket="live", Key="staging/release.zip", Body=b"x")
    with pytest.raises(TimeoutError):
        s3_server.events.wait_event(timeout=QUIET)

    # The webhook still works, and nothing from above was merely late (events arrive in order).
    s3.put_object(Bucket="artifacts", Key="staging/control.zip", Body=b"x")
    assert s3_server.events.wait_event(timeout=5)["Records"][0]["s3"]["object"]["key"] == (
        "staging/control.zip"
    )


def test_a_conditional_write_on_an_existing_key_is_refused_with_412(s3: S3Client) -> None:
    s3.put_object(Bucket="live", Key="index.html", Body=b"v1", IfNoneMatch="*")

    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket="live", Key="index.html", Body=b"v2", IfNoneMatch="*")

    assert status(error) == 412
    assert s3.get_object(Bucket="live", Key="index.html")["Body"].read() == b"v1"


def test_a_default_boto3_session_reaches_the_server_through_env(s3_env: dict[str, str], s3: S3Client) -> None:
    assert "AWS_PROFILE" not in s3_env
    boto3.client("s3").put_object(Bucket="live", Key="from-env.txt", Body=b"x")

    assert s3.get_object(Bucket="live", Key="from-env.txt")["Body"].read() == b"x"
