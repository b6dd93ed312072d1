"""A delta's base chain: the retained artifacts that hold what it inherits, and the delta completed by them.

A delta of B inherits files from B's artifact, which may itself be a delta inheriting from its own
base, and so on to a full artifact. Each base's artifact is where build_tool stages it
(`<staging prefix><base>.zip`, the name retention keeps for every base of a retained delta). A base
artifact is only a place to read from: its record must list the delta's SHA-256 for every file taken
from it, and every byte read is checked again against the delta's own record (`completed.py`), so an
artifact staged over a base's key with other bytes is refused, never deployed. Costs: one ranged GET
of each base artifact's tail (two with a large directory), walked until nothing is left to find.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..artifact.archive import Artifact
from ..artifact.ranged import S3Range, SparseFile
from ..bucket import error_code
from ..config import Settings
from ..errors import ArtifactGone, ArtifactRejected, SyncError
from ..model.contract import META_RELEASE_SHA256
from .completed import Completed, Holder, complete

# Bases followed at most: a chain this long is far past any retention (and a cycle stops sooner).
MAX_CHAIN = 1000


class NotRetained(SyncError, LookupError):
    """A base artifact the delta needs is gone, or cannot be trusted to hold what it inherits:
    nothing was written."""


def open_holder(client: Any, settings: Settings, bucket: str, key: str, size: int | None = None) -> Holder:
    """The artifact at s3://bucket/key opened and checked as a deploy opens one (against the
    release-sha256 it was staged with), with the S3Range it reads its members by."""
    source = S3Range(client, bucket, key, size=size)
    expected = source.metadata.get(META_RELEASE_SHA256)
    if not expected:
        raise ArtifactRejected("missing_checksum", f"s3://{bucket}/{key} has no release-sha256 metadata")
    artifact = Artifact(SparseFile(source, source.initial_fragments()), settings, expected)
    return Holder(artifact, source, source.uri)


def base_key(settings: Settings, release: str) -> str:
    """Where a base release's artifact is kept: where build_tool stages it."""
    return f"{settings.staging_prefix}{release}.zip"


def holders_of(client: Any, settings: Settings, bucket: str, delta: Holder) -> dict[str, Holder]:
    """For each file `delta` inherits, the base artifact that holds it as a member (NotRetained when a
    base is gone, holds another release, or lists other bytes for a file taken from it)."""
    record = delta.artifact.record
    wanted, found = set(delta.artifact.inherited), dict[str, Holder]()
    base, seen = record.base, [record.release]
    while wanted:
        if base is None or base in seen or len(seen) > MAX_CHAIN:
            raise NotRetained(
                f"release {record.release} inherits {min(wanted)} (and {len(wanted) - 1} more), which no "
                f"artifact of its base chain holds ({' <- '.join(seen)}): nothing written; stage a full "
                f"build of {record.release}'s commit (build_tool package --full) to roll back to it"
            )
        holder = open_base(client, settings, bucket, base, record.release)
        for path in sorted(wanted & holder.artifact.members.keys()):
            if holder.artifact.record.files[path] != record.files[path]:
                raise NotRetained(
                    f"{path}: the artifact of {record.release}'s base {base} ({holder.where}) lists "
                    f"other bytes for it than {record.release}'s record "
                    "(staged again with other contents?): nothing written; stage a full build of "
                    f"{record.release}'s commit to roll back to it"
                )
            found[path] = holder
        wanted -= found.keys()
        seen.append(base)
        base = holder.artifact.record.base
    return found


def open_base(client: Any, settings: Settings, bucket: str, base: str, release: str) -> Holder:
    """Base `base`'s artifact, opened and checked, holding release `base` (else NotRetained)."""
    where = f"s3://{bucket}/{base_key(settings, base)}"
    try:
        holder = open_holder(client, settings, bucket, base_key(settings, base))
    except (ArtifactGone, ClientError) as error:
        if isinstance(error, ClientError) and error_code(error) != "InvalidRange":
            raise
        raise NotRetained(
            f"release {release} inherits files from {base}, whose artifact {where} is gone (expired or "
            f"deleted): nothing written; stage {base} again (build_tool package --full at its commit), "
            f"or a full build of {release}'s commit"
        ) from None
    except ArtifactRejected as error:
        raise NotRetained(
            f"release {release} inherits files from {base}, whose artifact {where} is not a sound artifact "
            f"({error.code}: {error}): nothing written"
        ) from None
    if holder.artifact.record.release != base:
        raise NotRetained(
            f"{where} holds release {holder.artifact.record.release}, not {base}, which {release} "
            "inherits files from (another build staged under its key?): nothing written"
        )
    return holder


def completed(client: Any, settings: Settings, bucket: str, delta: Holder, uri: str) -> Completed:
    """`delta` as the full artifact of its release, its inherited files read from its base chain."""
    source = delta.source
    etag = source.etag if isinstance(source, S3Range) else ""
    return complete(delta, holders_of(client, settings, bucket, delta), uri, etag)
