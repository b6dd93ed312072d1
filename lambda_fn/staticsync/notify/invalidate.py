"""CloudFront invalidation of the mutable URLs a cutover changed: never a hashed URL, never `/*`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from ..config import Settings
from ..model.contract import MANIFEST_NAME
from ..report import SyncReport

logger = logging.getLogger(__name__)

# CloudFront's quotas (Developer Guide, "Concurrent invalidation request maximum"): up to 3,000 file
# paths in progress per distribution, in one request or spread over many; wildcard paths have their
# own quota of 15, which we never use. A path is at most 4,000 characters.
MAX_PATHS_IN_PROGRESS = 3000
MAX_PATHS_PER_REQUEST = 3000
MAX_PATH_LENGTH = 4000
# CloudFront wants non-ASCII and RFC 1738 "unsafe" characters URL-encoded and nothing else (an
# encoded safe character names another cache entry). quote() keeps letters, digits and "_.-~"; "~"
# is unsafe in RFC 1738, so it is encoded below. "*" is encoded so a file name never becomes a
# wildcard, "?" so it never starts a query string.
SAFE_CHARACTERS = "/$-_.+!'(),;:@=&"


def invalidation_paths(
    live_prefix: str, url_prefix: str | None, changed_mutable_paths: Iterable[str]
) -> list[str]:
    """The URL paths to invalidate: staticfiles.json first, then each changed mutable path, sorted.

    `changed_mutable_paths` are paths under the live prefix whose name carries no content hash and
    whose bytes changed (`replaced()` drops the ones that were not live before). `url_prefix` is the
    URL path the distribution serves the live prefix at; None means "/" + live_prefix, as for an
    origin without an origin path (the stack's distribution).
    """
    base = f"/{live_prefix}" if url_prefix is None else url_prefix
    if not base.startswith("/") or not base.endswith("/"):
        raise ValueError(f"URL prefix {base!r} must start and end with '/'")
    names = sorted(set(changed_mutable_paths) - {MANIFEST_NAME})
    paths = [url_path(base, name) for name in (MANIFEST_NAME, *names)]
    return [path for path in paths if len(path) <= MAX_PATH_LENGTH]


def url_path(base: str, name: str) -> str:
    return quote(f"{base}{name}", safe=SAFE_CHARACTERS).replace("~", "%7E")


def replaced(paths: Iterable[str], live_files: Mapping[str, str] | None) -> list[str]:
    """The paths that were live before (a new name has nothing cached to invalidate).

    `live_files` is the live release's record (path -> SHA-256); None when the live bucket has no
    record (filled by something else): then every path may have been live.
    """
    return list(paths) if live_files is None else [path for path in paths if path in live_files]


def caller_reference(release: str, sequence: int) -> str:
    """One per cutover: a retried deploy sends the same one, and CloudFront answers with the
    invalidation it already created instead of a second."""
    return f"static-deploy/{release}/{sequence}"


def batches(paths: list[str]) -> tuple[list[list[str]], int]:
    """The requests to send within the in-progress quota, and how many paths did not fit."""
    sent = paths[:MAX_PATHS_IN_PROGRESS]
    chunks = [sent[i : i + MAX_PATHS_PER_REQUEST] for i in range(0, len(sent), MAX_PATHS_PER_REQUEST)]
    return chunks, len(paths) - len(sent)


def invalidate(client: Any, distribution_id: str, paths: list[str], caller_reference: str) -> list[str]:
    """Create the invalidations (without waiting for them to complete); returns their ids.

    Paths past the in-progress quota are not sent: they expire by their Cache-Control max-age.
    """
    chunks, _ = batches(paths)
    ids = []
    for number, chunk in enumerate(chunks):
        reference = caller_reference if number == 0 else f"{caller_reference}/{number}"
        response = client.create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(chunk), "Items": chunk},
                "CallerReference": reference,
            },
        )
        ids.append(response["Invalidation"]["Id"])
    return ids


def invalidate_quietly(
    client: Any, settings: Settings, report: SyncReport, paths: list[str], caller_reference: str
) -> None:
    """invalidate() when a distribution is configured; a failure is a warning in the report and the
    log, never a failed deploy (the files are live; CloudFront serves the old ones until max-age)."""
    if not settings.cloudfront_distribution_id or not paths:
        return
    chunks, skipped = batches(paths)
    try:
        ids = invalidate(client, settings.cloudfront_distribution_id, paths, caller_reference)
    except (ClientError, BotoCoreError) as error:
        message = f"CloudFront invalidation failed: {error}"
        logger.warning(message)
        report.warn(message)
        return
    report.record_invalidation(ids, [path for chunk in chunks for path in chunk])
    if skipped:
        report.warn(
            f"{skipped} paths past CloudFront's {MAX_PATHS_IN_PROGRESS} in progress were not invalidated"
        )
