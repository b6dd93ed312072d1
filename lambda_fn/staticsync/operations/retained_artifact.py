"""The retained artifact of the live release: find it, open it proven, restore a lost record or files from it.

The staging prefix is CI's to write, so a staged object is never trusted over the live bucket's own
checksums: a lost record comes back only from the artifact whose release.json the cutover recorded
(`release-sha256` on the live staticfiles.json); a file only from an artifact of the live release
(`same_release` with the live record: the full build of a live delta too), and only with the bytes
the live record lists for it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..artifact.archive import Artifact, Span
from ..artifact.ranged import S3Range, SparseFile
from ..bucket import CONDITION_FAILED, LiveBucket, error_code
from ..config import Settings
from ..deploy.upload import MULTIPART_BYTES, pieces, put_file, run_all
from ..errors import ArtifactGone, ArtifactRejected, SyncError
from ..live.journal import read_entry
from ..live.state import HISTORY_NAME, get_object, write_history
from ..model.contract import MANIFEST_NAME, META_RELEASE, META_RELEASE_SHA256
from ..model.headers import HeaderPolicy
from ..model.order import Position
from ..model.plan import LiveState
from ..model.verdicts import UNPROVEN, Listed, Proof, md5_hex

READERS = 4  # spans of the artifact read at once to compare MD5s (each up to 8 MiB)


class RepairRefused(SyncError, RuntimeError):
    """The retained artifact cannot be trusted to restore the live release: nothing was written."""


@dataclass(frozen=True)
class Retained:
    """An artifact opened and verified as a deploy verifies it, with the SHA-256 of its release.json."""

    artifact: Artifact
    where: str
    release_sha256: str

    def prove(self, proof: Proof) -> Retained:
        """This artifact, if it may restore the live release `proof` describes; else RepairRefused."""
        refusal = proof.refusal(self.where, self.artifact.record, self.release_sha256)
        if refusal is not None:
            raise RepairRefused(f"{refusal}: nothing restored")
        return self

    def differing(self, md5s: Mapping[str, str]) -> list[str]:
        """The paths whose member (a verified read) has another MD5 than `md5s` gives it (a listed
        ETag); a HEAD then tells a wrong file from a KMS-encrypted one, whose ETag is no MD5."""
        wrong: list[str] = []
        lock = threading.Lock()

        def read(span: Span) -> None:
            for path, data in self.artifact.read_span(span):
                if md5_hex(data) != md5s[path]:
                    with lock:
                        wrong.append(path)

        with refused_if_damaged():
            run_all(read, self.artifact.spans(sorted(md5s)), READERS)
        return sorted(wrong)


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


def open_retained(client: Any, settings: Settings, live: LiveState) -> Retained:
    """The live release's retained artifact, verified, and of the same release as the live record."""
    bucket, key = locate_artifact(client, settings, live)
    retained = open_artifact_of(client, settings, bucket, key, live.release or "")
    return retained.prove(Proof(live.release or "", live.record, None))


def open_artifact_of(client: Any, settings: Settings, bucket: str, key: str, release: str) -> Retained:
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
    return Retained(artifact, where, expected)


def restore_record(client: Any, settings: Settings) -> str:
    """Write the live release's lost history object again from the artifact that was deployed: the
    one whose release.json has the SHA-256 the cutover wrote on the live staticfiles.json (and which
    built exactly it). Written once (IfNoneMatch), like every record."""
    found = get_object(client, settings.live_bucket, settings.live_key(MANIFEST_NAME))
    release = found.metadata.get(META_RELEASE) if found else None
    if found is None or not release:
        raise RepairRefused("the live staticfiles.json names no release: there is no record to restore")
    key = settings.history_key(release, HISTORY_NAME)
    digest = found.metadata.get(META_RELEASE_SHA256)
    if not digest:
        raise RepairRefused(
            f"{UNPROVEN}: put {key} back by hand (line 1 the release.json of a build you trust, line 2 "
            "the live staticfiles.json, with If-None-Match: *), then deploy again: the cutover records it"
        )
    live = LiveState(found.body, found.etag, release, position=Position.from_metadata(found.metadata))
    bucket, artifact_key = locate_artifact(client, settings, live)
    retained = open_artifact_of(client, settings, bucket, artifact_key, release)
    if hashlib.sha256(found.body).hexdigest() != retained.artifact.record.manifest_sha256:
        raise RepairRefused(
            f"{retained.where} did not build the live staticfiles.json: the record cannot be restored "
            "from it (deploy a release again instead)"
        )
    write_record(client, settings, retained.prove(Proof(release, None, digest)))
    return key


def write_record(client: Any, settings: Settings, retained: Retained) -> None:
    release, artifact = retained.artifact.record.release, retained.artifact
    try:
        write_history(client, settings, release, artifact.release_bytes, artifact.manifest_bytes)
    except ClientError as error:
        if error_code(error) not in ("AccessDenied", "403"):
            raise
        raise RepairRefused(
            f"release {release}'s record may not be written with these credentials (the scheduled pass may "
            "not write the deployer's keys): run `python -m staticsync.check --repair` as an operator"
        ) from None


@dataclass(frozen=True)
class Restore:
    """Files to put back: each with the live record's SHA-256, its release's headers, and the object
    listed at its key (overwritten only if still there: IfMatch; else created only: IfNoneMatch)."""

    paths: list[str]
    digests: Mapping[str, str]
    policy: HeaderPolicy
    listed: Mapping[str, Listed]

    def condition(self, path: str) -> dict[str, str]:
        """Overwrite only the object we listed; create only where there was none."""
        return {"IfMatch": self.listed[path].etag} if path in self.listed else {"IfNoneMatch": "*"}


@dataclass
class Restored:
    """Keys written back, and keys another writer changed meanwhile (left to it)."""

    restored: list[str] = field(default_factory=list)
    changed_meanwhile: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, key: str, written: bool) -> None:
        with self.lock:
            (self.restored if written else self.changed_meanwhile).append(key)


def restore_files(bucket: LiveBucket, retained: Retained, job: Restore) -> Restored:
    """PUT each file of `job` from the artifact, as a deploy writes it, over the object judged only."""
    done, artifact = Restored(), retained.artifact

    def read(span: Span) -> None:
        for path, data in artifact.read_span(span):
            done.add(bucket.settings.live_key(path), put_back(bucket, job, path, data))

    spans = [piece for span in artifact.spans(job.paths) for piece in pieces(artifact, span)]
    with refused_if_damaged():
        run_all(read, spans, bucket.settings.upload_concurrency)
    return Restored(sorted(done.restored), sorted(done.changed_meanwhile))


def put_back(bucket: LiveBucket, job: Restore, path: str, data: bytes) -> bool:
    """Write one file if its bytes are the live record's; False when a writer got there first."""
    digest = job.digests[path]
    if hashlib.sha256(data).hexdigest() != digest:
        raise ArtifactRejected("checksum_mismatch", f"{path} is not the live record's bytes", path)
    headers = job.policy.headers(path)
    if len(data) < MULTIPART_BYTES:  # conditions need a single PUT
        headers = headers | job.condition(path)
    try:
        put_file(bucket.client, bucket.settings, path, data, digest, headers)
    except ClientError as error:
        if error_code(error) not in CONDITION_FAILED:
            raise
        return False
    return True


@contextmanager
def refused_if_damaged() -> Iterator[None]:
    """A member that fails its verified read makes the whole artifact untrustworthy: refuse."""
    try:
        yield
    except ArtifactRejected as error:
        raise RepairRefused(
            f"the retained artifact is damaged ({error.code}: {error}): nothing more restored"
        ) from None
