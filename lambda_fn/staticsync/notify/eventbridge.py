"""The "Release Live" event on EventBridge after every cutover, for what must follow the static files."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..config import Settings
from ..errors import SyncError
from ..report import SyncReport
from .report_object import report_uri

logger = logging.getLogger(__name__)

SOURCE = "static-deploy"
DETAIL_TYPE = "Release Live"


class AnnounceFailed(SyncError, RuntimeError):
    """EventBridge accepted the request but not the entry (PutEvents reports it, it does not raise)."""


def release_live_entry(settings: Settings, report: SyncReport) -> dict[str, Any]:
    """The PutEvents entry of a cutover the report describes (a deploy or a rollback)."""
    detail = {
        "kind": report.kind,
        "release": report.release,
        "commit": report.commit,
        "live_release_before": report.live_release_before,
        "sequence": report.sequence,
        "manifest_etag": report.manifest_etag,
        "artifact": report.artifact,
        "report": report_uri(settings, report.artifact),
        "live_bucket": settings.live_bucket,
        "live_prefix": settings.live_prefix,
        "files_total": report.files_total,
        "files_uploaded": report.files_uploaded,
        "files_unchanged": report.files_unchanged,
        "bytes_uploaded": report.bytes_uploaded,
        "invalidation_ids": report.invalidation_ids,
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail, sort_keys=True),
        "EventBusName": settings.event_bus_name,
    }


def announce(client: Any, entry: dict[str, Any]) -> str:
    """Put one event; returns its id."""
    response = client.put_events(Entries=[entry])
    [result] = response["Entries"]
    if response.get("FailedEntryCount") or "EventId" not in result:
        raise AnnounceFailed(
            f"EventBridge refused the event: {result.get('ErrorCode')}: {result.get('ErrorMessage')}"
        )
    event_id: str = result["EventId"]
    return event_id


def announce_quietly(client: Any, settings: Settings, report: SyncReport) -> None:
    """announce() unless EVENT_BUS_NAME is empty; a failure is a warning in the report and the log,
    never a failed deploy (the release is live whether or not anyone heard)."""
    if not settings.event_bus_name:
        return
    try:
        report.event_id = announce(client, release_live_entry(settings, report))
    except (AnnounceFailed, ClientError, BotoCoreError) as error:
        message = f"release live event not sent: {error}"
        logger.warning(message)
        report.warn(message)
