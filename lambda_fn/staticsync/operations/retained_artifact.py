"""The retained artifact of the live release: find it, open it verified, restore a lost record from it."""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

from ..artifact.archive import Artifact
from ..artifact.ranged import S3Range, SparseFile
from ..bucket import error_code
from ..config import Settings
from ..errors import ArtifactGone, ArtifactRejected, SyncError
from ..live.journal import read_entry
from ..live.state import HISTORY_NAME, get_object, write_history
from ..model.contract import MANIFEST_NAME, META_RELEASE, META_RELEASE_SHA256, parse_manifest
from ..model.order import Position
from ..model.plan import LiveState


class RepairRefused(SyncError, RuntimeError):
    """The retained artifact cannot be trusted to restore the live release: nothing was written."""


def locate_artifact(client: Any, settings: Settings, live: LiveState) -> tuple[str, str]:
    """(bucket, key) of the live release's retained artifact: the journal entry of its cutover names
    it; a release cut over before the journal existed is where build_tool stages it."""
    if not settings.artifacts_bucket:
        raise RepairRefused("ARTIFACTS_BUCKET is not set: name the bucket the release's artifact is kept in")
    entry = read_entry(client, settings, live.position.sequence) if live.position.sequence else None
    if entry is not None and entry.release == live.release and entry.artifact.startswith("s3://"):
        bucket, _, key = entry.artifact.removeprefix("s3://").partition("/")
        return bucket, key
    return settings.artifacts_bucket, f"{settings.staging_prefix}{live.release}.zip"


def open_retained(client: Any, settings: Settings, live: LiveState, bucket: str, key: str) -> Artifact:
    """The retained artifact, verified as a deploy verifies it, and holding the live release's record."""
    artifact = open_artifact_of(client, settings, bucket, key, live.release or "")
    if artifact.record != live.record:
        raise RepairRefused(
            f"s3://{bucket}/{key} holds another build of release {live.release} than the live one "
            "(a rebuild under its key?): nothing restored"
        )
    return artifact


def open_artifact_of(client: Any, settings: Settings, bucket: str, key: str, release: str) -> Artifact:
    """The artifact at s3://bucket/key, verified as a deploy verifies it, if it holds `release`."""
    where = f"s3://{bucket}/{key}"
    try:
        source = S3Range(client, bucket, key)
    except (ArtifactGone, ClientError) as error:
        if isinstance(error, ClientError) and error_code(error) != "InvalidRange":
            raise
        raise RepairRefused(
            f"release {release}'s artifact {where} is gone or empty (expired?): stage that "
            "release again with build_tool package, then run again"
        ) from None
    expected = source.metadata.get(META_RELEASE_SHA256)
    if not expected:
        raise RepairRefused(f"{where} has no release-sha256 metadata: it was not staged by build_tool")
    try:
        artifact = Artifact(SparseFile(source, source.initial_fragments()), settings, expected)
    except ArtifactRejected as error:
        raise RepairRefused(f"{where} is not a sound artifact ({error.code}: {error})") from None
    if artifact.record.release != release:
        raise RepairRefused(
            f"{where} holds release {artifact.record.release}, not the live release {release} "
            "(another build under its key?): nothing restored"
        )
    return artifact


def restore_record(client: Any, settings: Settings) -> str:
    """Write the live release's lost history object again, from its retained artifact, which must
    have built exactly the live staticfiles.json. Written once (IfNoneMatch), like every record."""
    found = get_object(client, settings.live_bucket, settings.live_key(MANIFEST_NAME))
    release = found[2].get(META_RELEASE) if found else None
    if found is None or not release:
        raise RepairRefused("the live staticfiles.json names no release: there is no record to restore")
    live = LiveState(
        found[0], found[1], release, None, parse_manifest(found[0]), Position.from_metadata(found[2])
    )
    bucket, key = locate_artifact(client, settings, live)
    artifact = open_artifact_of(client, settings, bucket, key, release)
    if hashlib.sha256(found[0]).hexdigest() != artifact.record.manifest_sha256:
        raise RepairRefused(
            f"s3://{bucket}/{key} did not build the live staticfiles.json: the record cannot be restored "
            "from it (deploy a release again instead)"
        )
    try:
        write_history(client, settings, release, artifact.release_bytes, artifact.manifest_bytes)
    except ClientError as error:
        if error_code(error) not in ("AccessDenied", "403"):
            raise
        raise RepairRefused(
            f"release {release}'s record may not be written with these credentials (the scheduled pass may "
            "not write the deployer's keys): run `python -m staticsync.check --repair` as an operator"
        ) from None
    return settings.history_key(release, HISTORY_NAME)
