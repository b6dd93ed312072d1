"""The benchmark's latency proxy: signatures still verify through it, and it counts what it forwards."""

from __future__ import annotations

import io
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from devtools.s3proxy import ProxyServer, operation, running_proxy
from devtools.seaweed import S3Server


@pytest.fixture
def proxy(s3_server: S3Server, empty_buckets: None) -> Iterator[ProxyServer]:
    with running_proxy(s3_server.endpoint_url, latency=0.0) as server:
        yield server


def client_for(proxy: ProxyServer, secret: str = "testing") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=proxy.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_signed_requests_pass_through_and_are_counted_by_operation(proxy: ProxyServer) -> None:
    s3 = client_for(proxy)
    s3.put_object(Bucket="live", Key="a b/c.txt", Body=b"hello", ChecksumAlgorithm="SHA256")
    assert s3.get_object(Bucket="live", Key="a b/c.txt", Range="bytes=1-3")["Body"].read() == b"ell"
    s3.head_object(Bucket="live", Key="a b/c.txt")
    s3.put_object_tagging(Bucket="live", Key="a b/c.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    s3.get_object_tagging(Bucket="live", Key="a b/c.txt")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="live")["Contents"]] == ["a b/c.txt"]
    s3.delete_objects(Bucket="live", Delete={"Objects": [{"Key": "a b/c.txt"}]})
    stats = proxy.stats.snapshot()
    assert stats["by_operation"] == {
        "DeleteObjects": 1,
        "GetObject": 1,
        "GetObjectTagging": 1,
        "HeadObject": 1,
        "ListObjectsV2": 1,
        "PutObject": 1,
        "PutObjectTagging": 1,
    }
    assert stats["bytes_up"] >= 5
    assert stats["bytes_down"] >= 3


def test_a_wrong_secret_is_still_refused_behind_the_proxy(proxy: ProxyServer) -> None:
    with pytest.raises(ClientError) as raised:
        client_for(proxy, secret="wrong").put_object(Bucket="live", Key="x", Body=b"x")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_multipart_uploads_are_counted_part_by_part(proxy: ProxyServer) -> None:
    s3 = client_for(proxy)
    data = bytes(range(256)) * (12 * 4096)  # 12 MiB
    config = TransferConfig(multipart_threshold=5 * 1024**2, multipart_chunksize=5 * 1024**2)
    s3.upload_fileobj(io.BytesIO(data), "artifacts", "big.bin", Config=config)
    assert s3.get_object(Bucket="artifacts", Key="big.bin")["Body"].read() == data
    ops = proxy.stats.snapshot()["by_operation"]
    assert ops["CreateMultipartUpload"] == ops["CompleteMultipartUpload"] == 1
    assert ops["UploadPart"] == 3


def test_latency_is_added_to_every_request(s3_server: S3Server, empty_buckets: None) -> None:
    with running_proxy(s3_server.endpoint_url, latency=0.05) as slow:
        s3 = client_for(slow)
        started = time.monotonic()
        for _ in range(4):
            s3.head_bucket(Bucket="live")
        assert time.monotonic() - started >= 0.2


def test_stats_are_served_and_reset_over_http(proxy: ProxyServer) -> None:
    client_for(proxy).head_bucket(Bucket="live")
    with urllib.request.urlopen(proxy.endpoint_url + "/__s3proxy__/stats") as response:
        assert json.load(response)["by_operation"] == {"HeadBucket": 1}
    request = urllib.request.Request(proxy.endpoint_url + "/__s3proxy__/reset", method="POST")
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["requests"] == 0


@pytest.mark.parametrize(
    ("method", "target", "headers", "expected"),
    [
        ("GET", "/", {}, "ListBuckets"),
        ("GET", "/b?list-type=2&prefix=x", {}, "ListObjectsV2"),
        ("GET", "/b/", {}, "ListObjects"),
        ("GET", "/b?uploads", {}, "ListMultipartUploads"),
        ("GET", "/b/k", {}, "GetObject"),
        ("HEAD", "/b/k", {}, "HeadObject"),
        ("HEAD", "/b", {}, "HeadBucket"),
        ("PUT", "/b/k", {}, "PutObject"),
        ("PUT", "/b/k", {"x-amz-copy-source": "/b/j"}, "CopyObject"),
        ("PUT", "/b/k?partNumber=1&uploadId=u", {}, "UploadPart"),
        ("POST", "/b/k?uploads", {}, "CreateMultipartUpload"),
        ("POST", "/b/k?uploadId=u", {}, "CompleteMultipartUpload"),
        ("DELETE", "/b/k?uploadId=u", {}, "AbortMultipartUpload"),
        ("POST", "/b?delete", {}, "DeleteObjects"),
        ("DELETE", "/b/k", {}, "DeleteObject"),
    ],
)
def test_operations_are_named_from_method_query_and_path(
    method: str, target: str, headers: dict[str, str], expected: str
) -> None:
    assert operation(method, target, headers) == expected
