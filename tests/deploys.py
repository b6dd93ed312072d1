"""Run the handler's deploy and rollback paths on one staged key, as the handler does, with a fresh run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from staticsync.bucket import LiveBucket, Run, Staged, forever
from staticsync.config import Settings
from staticsync.deploy.run import deploy
from staticsync.meter import RequestMeter
from staticsync.model.order import RollbackRequest
from staticsync.notify.cutover import SILENT, Notifier
from staticsync.operations.rollback import handle_request
from staticsync.report import SyncReport


def deploy_key(
    client: Any,
    settings: Settings,
    key: str,
    report: SyncReport | None = None,
    *,
    meter: RequestMeter | None = None,
    remaining_seconds: Callable[[], float] = forever,
    request: RollbackRequest | None = None,
    notifier: Notifier = SILENT,
    size: int | None = None,
    bucket: str = "artifacts",
) -> SyncReport:
    """Deploy s3://<bucket>/<key> into `settings`' live bucket; the report (a new one by default)."""
    run = Run(report or SyncReport(key), meter or RequestMeter(), remaining_seconds)
    return deploy(LiveBucket(client, settings), Staged(bucket, key, size), run, request, notifier)


def request_key(
    client: Any,
    settings: Settings,
    key: str,
    report: SyncReport | None = None,
    notifier: Notifier = SILENT,
    remaining_seconds: Callable[[], float] = forever,
    meter: RequestMeter | None = None,
) -> SyncReport:
    """Run the rollback request staged at s3://artifacts/<key>."""
    run = Run(report or SyncReport(key), meter or RequestMeter(), remaining_seconds)
    return handle_request(LiveBucket(client, settings), Staged("artifacts", key), run, notifier)
