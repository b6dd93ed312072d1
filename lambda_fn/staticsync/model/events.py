"""Which S3 event records name something to act on (an artifact, a rollback request), and why the others
are skipped."""

from __future__ import annotations

from urllib.parse import unquote_plus

from ..config import Settings
from .pins import PIN_PREFIX

ARTIFACT, ROLLBACK_REQUEST, PRUNE_REQUEST = "artifact", "rollback_request", "prune_request"
PIN_REQUEST = "pin_request"
# The two S3 triggers of the template: staged artifacts and rollback requests, both under STAGING_PREFIX.
SUFFIXES = {".zip": ARTIFACT, ".json": ROLLBACK_REQUEST}
# A .json whose name starts with these is a prune request (`build_tool prune`, operations/prune.py) or
# a pin request (an app deploy keeping its release: model/pins.py).
PRUNE_PREFIX = "prune-"
REQUEST_PREFIXES = {PRUNE_PREFIX: PRUNE_REQUEST, PIN_PREFIX: PIN_REQUEST}
NOT_ARTIFACTS_BUCKET = "not the artifacts bucket"


def decode_key(raw_key: str) -> str:
    """S3 event keys are URL-encoded with spaces as '+'."""
    return unquote_plus(raw_key)


def record_kind(key: str) -> str | None:
    """ARTIFACT for a .zip; PRUNE_REQUEST, PIN_REQUEST for a prune-*.json, a pin-*.json; ROLLBACK_REQUEST
    for another .json; or None."""
    kind = next((kind for suffix, kind in SUFFIXES.items() if key.endswith(suffix)), None)
    name = key.rpartition("/")[2]
    if kind == ROLLBACK_REQUEST:
        return next((k for prefix, k in REQUEST_PREFIXES.items() if name.startswith(prefix)), kind)
    return kind


def skip_reason(event_name: str, bucket: str, key: str, settings: Settings) -> str | None:
    """Why a record is not one to act on, or None when it is one.

    A record naming another bucket than ARTIFACTS_BUCKET is skipped: only CI's bucket may say what
    goes live, whatever else is wired to the function.
    """
    if not event_name.startswith("ObjectCreated:"):
        return f"not an ObjectCreated event ({event_name})"
    if settings.artifacts_bucket and bucket != settings.artifacts_bucket:
        return NOT_ARTIFACTS_BUCKET
    if not key.startswith(settings.staging_prefix):
        return f"outside the staging prefix {settings.staging_prefix!r}"
    if record_kind(key) is None:
        return "not a .zip artifact or a .json rollback request"
    return None
