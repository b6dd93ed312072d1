"""Which S3 event records are artifacts to deploy, and why the others are skipped."""

from __future__ import annotations

from urllib.parse import unquote_plus

from .config import Settings


def decode_key(raw_key: str) -> str:
    """S3 event keys are URL-encoded with spaces as '+'."""
    return unquote_plus(raw_key)


def skip_reason(event_name: str, key: str, settings: Settings) -> str | None:
    """Why a record is not an artifact to deploy, or None when it is one."""
    if not event_name.startswith("ObjectCreated:"):
        return f"not an ObjectCreated event ({event_name})"
    if not key.startswith(settings.staging_prefix):
        return f"outside the staging prefix {settings.staging_prefix!r}"
    if not key.endswith(".zip"):
        return "not a .zip"
    return None
