"""Fixtures for tests against a real S3 server: SeaweedFS on loopback, one per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from unittest import mock

import boto3
import pytest

from devtools.seaweed import S3Server, WebhookConfig, running_seaweed
from tests.handler import fresh_handler

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

BUCKETS = ("artifacts", "live")
STAGING = WebhookConfig(bucket="artifacts", prefix="staging/")
HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS with buckets artifacts and live; uploads under artifacts/staging/ emit events."""
    with running_seaweed(tmp_path_factory.mktemp("seaweed"), BUCKETS, webhook=STAGING) as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server) -> S3Client:
    return s3_server.client()


@pytest.fixture
def empty_buckets(s3: S3Client, s3_server: S3Server) -> None:
    """Delete every object and pending multipart upload, then forget any queued event."""
    for bucket in BUCKETS:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys: list[ObjectIdentifierTypeDef] = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    s3_server.events.drain()


@pytest.fixture
def s3_env(s3_server: S3Server) -> Iterator[dict[str, str]]:
    """os.environ pointed at the server, so default boto3 sessions (the handler's) use it."""
    # A default session made earlier would keep the credentials it had already resolved.
    with (
        mock.patch.dict(os.environ, s3_server.env(), clear=True),
        mock.patch.object(boto3, "DEFAULT_SESSION", None),
    ):
        yield dict(os.environ)


@pytest.fixture
def app(s3_env: dict[str, str], empty_buckets: None) -> Iterator[ModuleType]:
    """The Lambda's handler module, imported fresh against the server with empty buckets (a test file
    that needs it configured otherwise, or its calls recorded, defines its own `app`)."""
    with fresh_handler() as module:
        yield module
