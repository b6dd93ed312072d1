"""The staged requests besides rollbacks: `prune-<id>.json` (a prune pass now) and `pin-<id>.json` (keep a
release for an app), each read bounded and answered with a report, never retried."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..errors import ArtifactGone, LiveStateError, ObjectTooLarge
from ..live import pins
from ..live.objects import Found, get_object
from ..model.events import PRUNE_PREFIX
from ..model.pins import MAX_REQUEST_BYTES, BadPinRequest, Pin, PinRequest, parse_prune_request
from ..model.retention import stamp
from ..notify.report_object import normal_etag
from ..report import SyncReport
from .prune import PruneReport, prune_live


def read_request(client: Any, bucket: str, key: str, report: SyncReport) -> Found | None:
    """A staged request read bounded (a huge one is never read whole): None when it was rejected."""
    try:
        found = get_object(client, bucket, key, limit=MAX_REQUEST_BYTES)
    except ObjectTooLarge as error:
        reject(report, "request_too_large", str(error))
        return None
    if found is None:
        raise ArtifactGone(f"s3://{bucket}/{key} no longer exists")
    report.outcome, report.artifact_etag = "unchanged", normal_etag(found.etag)
    return found


def reject(report: SyncReport, reason: str, detail: str) -> None:
    """A request that cannot run: reported (`rejected`), not raised, so never retried."""
    report.outcome, report.reason, report.detail = "rejected", reason, detail


def handle_prune_request(
    client: Any, settings: Settings, bucket: str, key: str, report: SyncReport
) -> PruneReport:
    """Run a staged `prune-<id>.json` request ({"format": 1, "request": id, "dry_run": false})."""
    report.kind = "prune"
    found = read_request(client, bucket, key, report)
    try:
        dry_run = parse_prune_request(found.body) if found else False
    except ValueError as error:
        reject(report, "bad_request", f"{key}: {error}")
    if report.outcome == "rejected":
        return PruneReport(
            f"s3://{settings.live_bucket}/{settings.live_prefix}", False, refused=report.detail
        )
    pruned = prune_live(client, settings, dry_run=dry_run)
    report.detail = str(pruned)
    return pruned


def request_object_key(settings: Settings, request: str) -> str:
    """Where `build_tool prune` stages a request: under the staging prefix, as a .json."""
    return f"{settings.staging_prefix}{PRUNE_PREFIX}{request}.json"


def handle_pin_request(
    client: Any, settings: Settings, bucket: str, key: str, report: SyncReport
) -> Pin | None:
    """Run a staged `pin-<id>.json` request: keep a release for an app (model/pins.py), unless it was
    pruned. One invocation at a time with the prune pass: a release pinned here is kept by every
    later pass, and one a pass marked pruned is refused here (`not_retained`)."""
    report.kind = "pin"
    found = read_request(client, bucket, key, report)
    if found is None:
        return None
    try:
        request = PinRequest.parse(found.body)
    except BadPinRequest as error:
        reject(report, "bad_request", f"{key}: {error}")
        return None
    report.release = request.release
    if reason := pins.unpinnable(client, settings, request.release):
        reject(report, "not_retained", reason)
        return None
    if found.modified is None:
        raise LiveStateError(f"S3 gave no LastModified for s3://{bucket}/{key}: the pin cannot be dated")
    pin = request.pin(found.modified)
    pin_at = f"s3://{settings.live_bucket}/{pins.write_pin(client, settings, pin)}"
    report.detail = f"release {pin.release} pinned for {pin.app} until {stamp(pin.expires)}: {pin_at}"
    return pin
