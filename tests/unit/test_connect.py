"""The build's S3 side runs beside Django's start, and its errors reach the build unchanged."""

from __future__ import annotations

import argparse
import threading

import pytest

from build_tool.aws import connect
from build_tool.aws.staging import UploadError

ARGS = argparse.Namespace(output=None, bucket="artifacts", profile=None, live_bucket=None, full=False)


def test_the_s3_side_runs_beside_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    caller_went_on = threading.Event()

    def waits_for_the_caller(args: argparse.Namespace, release: str) -> connect.Connected:
        # Run in the caller's thread, Connecting() would block here until the timeout.
        return connect.Connected("client" if caller_went_on.wait(5) else None, None)

    monkeypatch.setattr(connect, "connect", waits_for_the_caller)
    connecting = connect.Connecting(ARGS, "r1")
    caller_went_on.set()  # Django starts meanwhile
    assert connecting.result() == connect.Connected("client", None)


def test_what_the_s3_side_raised_is_raised_by_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(args: argparse.Namespace, release: str) -> connect.Connected:
        raise UploadError("bucket 'artifacts' does not exist")

    monkeypatch.setattr(connect, "connect", denied)
    connecting = connect.Connecting(ARGS, "r1")
    with pytest.raises(UploadError, match="does not exist"):
        connecting.result()


def test_an_output_build_without_a_live_bucket_needs_no_client() -> None:
    args = argparse.Namespace(**{**vars(ARGS), "output": "a.zip", "bucket": None})
    assert connect.connect(args, "r1") == connect.Connected(None, None)
