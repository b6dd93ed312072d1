"""One child of the Distributed Map, in the shard function: upload one shard's content-addressed
names (each read and checked first), then write its done-marker. Idempotent: every name is written
only where absent, and the marker once."""

from __future__ import annotations

from typing import Any

from ..artifact.ranged import S3Range
from ..bucket import LiveBucket, Run
from ..deploy.execute import Executor
from ..deploy.run import open_checked
from ..model.contract import META_RELEASE_SHA256
from ..notify.report_object import normal_etag, split_uri
from .shards import ListRef, Shard, ShardRefused, has_marker, read_list, write_marker


def run_shard(bucket: LiveBucket, event: dict[str, Any], run: Run) -> dict[str, Any]:
    """The child's work on its Map item ({"index", "digest", "list": the plan step's ListRef}).

    The item's shard is taken from the list the plan step wrote (under `.releases/`, with the digest
    the state machine carried), and must have the digest the item names. The artifact must be the very
    upload the plan judged (its ETag and its release.json's SHA-256)."""
    ref = ListRef.of(event["list"])
    shard = shard_of(bucket, ref, int(event["index"]), str(event["digest"]))
    run.report.release, run.report.sequence = shard.release, shard.sequence
    if has_marker(bucket.client, bucket.settings, ref, shard):
        return result(shard, "done before")  # a retry of a child that finished: nothing to redo
    executor = open_shard(bucket, shard, run)
    executor.stream(shard.paths, only=frozenset(shard.paths))
    write_marker(bucket.client, bucket.settings, ref, shard)
    run.report.outcome = "uploaded"
    return result(shard, "uploaded")


def shard_of(bucket: LiveBucket, ref: ListRef, index: int, digest: str) -> Shard:
    listing = read_list(bucket.client, bucket.settings, ref)
    if not 0 <= index < len(listing.shards) or listing.shards[index].digest != digest:
        raise ShardRefused(f"shard {index} of {ref.key} does not have the digest {digest} the item carries")
    return listing.shards[index]


def open_shard(bucket: LiveBucket, shard: Shard, run: Run) -> Executor:
    """The artifact the plan judged, opened and checked as a deploy opens it, and an executor on it."""
    artifact_bucket, key = split_uri(shard.artifact)
    source = S3Range(bucket.client, artifact_bucket, key)
    if normal_etag(source.etag) != shard.artifact_etag:
        raise ShardRefused(
            f"{shard.artifact} is another upload now (ETag {source.etag}): not the one planned"
        )
    if source.metadata.get(META_RELEASE_SHA256) != shard.release_sha256:
        raise ShardRefused(f"{shard.artifact}'s release-sha256 is not the one the plan step read")
    artifact, view = open_checked(source, bucket.settings, run.report)
    return Executor(bucket, artifact, view, run)


def result(shard: Shard, outcome: str) -> dict[str, Any]:
    return {"index": shard.index, "digest": shard.digest, "files": len(shard.paths), "outcome": outcome}
