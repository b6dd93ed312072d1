"""Shared fixtures: sample events, a fake Lambda context, artifacts built by the real packer."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from build_tool.build.pack import Packed
from devtools.lambda_context import FakeContext
from tests.artifacts import build, collected_tree

__all__ = ["FakeContext", "load_event"]

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """One of the sample events in the top-level events/ folder (also used by `sam local invoke`)."""
    return json.loads((EVENTS / name).read_text())


TESTS = Path(__file__).parent
COSTS = ("unit", "functional", "integration")  # tests/README.md: which to run when


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked by the folder it lives in, so `-m unit` (or functional, integration) selects it."""
    for item in items:
        cost = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if cost in COSTS:
            item.add_marker(getattr(pytest.mark, cost))


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def make_artifact(tmp_path: Path) -> Callable[..., Packed]:
    """make_artifact({"css/a.css": b"..."}, release="r2") -> a packed zip of that collected tree."""
    counter = iter(range(1_000_000))

    def make(files: dict[str, bytes], **kwargs: Any) -> Packed:
        return build(collected_tree(files), tmp_path / f"artifact-{next(counter)}.zip", **kwargs)

    return make


@pytest.fixture
def moto_s3() -> Iterator[Any]:
    """An in-process S3 (moto) with buckets artifacts and live."""
    from moto import mock_aws

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    try:
        with mock_aws():
            import boto3

            client = boto3.client("s3", region_name="us-east-1")
            for bucket in ("artifacts", "live"):
                client.create_bucket(Bucket=bucket)
            yield client
    finally:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(saved)
