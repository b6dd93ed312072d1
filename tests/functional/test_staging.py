"""Staging the artifact: one PUT for a small one (its answer has the ETag), a managed transfer for a large
one, with one HEAD only when `--wait` needs the ETag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ProfileNotFound

from build_tool.aws import staging as upload
from build_tool.aws.errors import Where, translated
from build_tool.build.pack import Packed
from staticsync.meter import RequestMeter
from staticsync.model.contract import META_RELEASE_SHA256, META_SHA256, META_TAIL_BYTES

FILES = {f"css/f{i:02}.css": f".c{i} {{ color: red; }}\n".encode() * 20 for i in range(10)}


def staged(client: Any, packed: Packed, **options: Any) -> tuple[str | None, dict[str, int]]:
    meter = RequestMeter()
    meter.attach(client)
    etag = upload.stage(client, packed, "artifacts", "staging/r1.zip", **options)
    client.meta.events.unregister("request-created.s3", meter._count)
    return etag, meter.by_operation()


def test_a_small_artifact_is_staged_with_one_put_whose_answer_is_the_etag(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    packed = make_artifact(FILES, release="r1")
    seen: list[int] = []
    etag, operations = staged(moto_s3, packed, progress=seen.append)
    assert operations == {"PutObject": 1}
    head = moto_s3.head_object(Bucket="artifacts", Key="staging/r1.zip")
    assert etag == head["ETag"].strip('"') and seen == [packed.size]
    assert head["Metadata"] == {
        META_SHA256: packed.sha256,
        META_RELEASE_SHA256: packed.release_sha256,
        META_TAIL_BYTES: str(packed.tail_bytes),
    }
    assert head["ContentType"] == "application/zip"


@pytest.mark.parametrize(("read_etag", "heads"), [(True, 1), (False, 0)])
def test_a_large_artifact_goes_through_the_managed_transfer_and_is_read_back_only_when_asked(
    moto_s3: Any,
    make_artifact: Callable[..., Packed],
    monkeypatch: pytest.MonkeyPatch,
    read_etag: bool,
    heads: int,
) -> None:
    monkeypatch.setattr(upload, "SINGLE_PUT_BYTES", 0)
    packed = make_artifact(FILES, release="r1")
    etag, operations = staged(moto_s3, packed, read_etag=read_etag)
    assert operations.get("HeadObject", 0) == heads and operations["PutObject"] == 1
    head = moto_s3.head_object(Bucket="artifacts", Key="staging/r1.zip")
    assert etag == (head["ETag"].strip('"') if read_etag else None)
    assert head["Metadata"][META_SHA256] == packed.sha256


@pytest.mark.parametrize("single_put", [8 * 1024 * 1024, 0], ids=["one-put", "managed-transfer"])
def test_a_failed_upload_is_an_upload_error_naming_the_target(
    moto_s3: Any, make_artifact: Callable[..., Packed], monkeypatch: pytest.MonkeyPatch, single_put: int
) -> None:
    monkeypatch.setattr(upload, "SINGLE_PUT_BYTES", single_put)
    packed = make_artifact(FILES, release="r1")
    with pytest.raises(upload.UploadError, match=r"upload to s3://missing/staging/r1\.zip failed"):
        upload.stage(moto_s3, packed, "missing", "staging/r1.zip")


def client_error(code: str, operation: str, **error: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "no", **error}}, operation)


ARTIFACT = Where("artifacts", "staging/r1.zip")


@pytest.mark.parametrize(
    ("error", "where", "line"),
    [
        (NoCredentialsError(), ARTIFACT, "no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)"),
        (ProfileNotFound(profile="nope"), None, "AWS profile 'nope' not found (check --profile"),
        (
            client_error("404", "HeadBucket"),
            Where("nosuch"),
            "bucket 'nosuch' does not exist (check --bucket)",
        ),
        (
            client_error("NoSuchBucket", "GetObject", BucketName="site"),
            Where("site", "staticfiles.json", flag="--live-bucket"),
            "reading s3://site/staticfiles.json failed: live bucket 'site' does not exist "
            "(check --live-bucket)",
        ),
        (
            client_error("AccessDenied", "PutObject"),
            ARTIFACT,
            "access to s3://artifacts/staging/r1.zip denied (PutObject): grant this",
        ),
        (
            client_error("SlowDown", "PutObject"),
            ARTIFACT,
            "reading s3://artifacts/staging/r1.zip failed: An error occurred (SlowDown)",
        ),
        (
            EndpointConnectionError(endpoint_url="http://s3"),
            ARTIFACT,
            'reading s3://artifacts/staging/r1.zip failed: Could not connect to the endpoint URL: "http://s3"',
        ),
    ],
)
def test_botocore_errors_read_as_one_line_that_says_what_to_check(
    error: Exception, where: Where | None, line: str
) -> None:
    with (
        pytest.raises(upload.UploadError) as raised,
        translated(upload.UploadError, "reading", where, "grant this"),
    ):
        raise error
    assert str(raised.value).startswith(line) and "\n" not in str(raised.value)
