"""Stage rollback requests as `build_tool rollback` does, and run them with the real handler code."""

from __future__ import annotations

from typing import Any

from staticsync.config import Settings
from staticsync.model.order import RollbackRequest
from staticsync.report import SyncReport
from tests.deploys import request_key


def stage_request(
    client: Any, request: str, release: str, replaces: str, artifact_key: str, prefix: str = "staging/"
) -> str:
    """Put a rollback request in the artifacts bucket; return its key."""
    key = f"{prefix}rollback-{request}.json"
    body = RollbackRequest(request, release, replaces, artifact_key).to_json()
    client.put_object(Bucket="artifacts", Key=key, Body=body, ContentType="application/json")
    return key


def run_request(client: Any, settings: Settings, key: str) -> SyncReport:
    return request_key(client, settings, key)
