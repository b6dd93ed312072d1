"""A rejected artifact's tags: why and which bytes, so a delivery of the same bytes is refused at once."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..artifact.ranged import S3Range
from ..errors import ArtifactRejected

TAG_KEY, TAG_REJECTED = "staticsync", "rejected"
TAG_REASON, TAG_ETAG = "staticsync-reason", "staticsync-etag"
REJECTED_TAG = {"TagSet": [{"Key": TAG_KEY, "Value": TAG_REJECTED}]}
ALREADY_REJECTED = "already_rejected"
# Verdicts about the live state, not the bytes: what is live may change, so they are not final.
LIVE_RELATIVE = frozenset(
    {"stale_artifact", "release_id_reused", "rollback_required", "future_timestamp", "rollback_conflict"}
    | {"base_not_live", "not_retained"}  # a delta's base may be live again later
    | {"superseded", "never_live", "request_not_run"}  # judged against one live bucket's history
)
# Verdicts about a rollback request, not about the artifact it names: the artifact is never tagged
# for them, so one wrong request cannot disable rollbacks to a good release.
REQUEST_LEVEL = frozenset(
    {"rollback_mismatch", "rollback_conflict", "never_live", "request_not_run", "not_retained"}
)


def rejection_tags(error: ArtifactRejected, source: S3Range | None) -> dict[str, Any]:
    """staticsync=rejected, with the reason and the ETag of the bytes that were rejected."""
    tags = [*REJECTED_TAG["TagSet"], {"Key": TAG_REASON, "Value": error.code}]
    if source is not None:
        tags.append({"Key": TAG_ETAG, "Value": source.etag.strip('"')})
    return {"TagSet": tags}


def previous_rejection(client: Any, source: S3Range) -> str | None:
    """The reason these very bytes were found bad before, or None.

    The first GET says how many tags the object has (x-amz-tagging-count) but not which, so only an
    artifact that has tags costs one more request. The ETag in the tag keeps a rejection from
    sticking to a corrected artifact staged under the same key while the bad one was tagged. A stale
    artifact is judged again: after a rollback of the live site it may be the newest.
    """
    if not source.tag_count:
        return None
    try:
        response = client.get_object_tagging(Bucket=source.bucket, Key=source.key)
    except ClientError:
        return None  # tags unreadable (e.g. no s3:GetObjectTagging): validating again is safe
    tags = {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}
    reason = tags.get(TAG_REASON, "unknown")
    if tags.get(TAG_KEY) != TAG_REJECTED or tags.get(TAG_ETAG) != source.etag.strip('"'):
        return None
    return None if reason in LIVE_RELATIVE else reason
