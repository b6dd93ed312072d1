"""Put back what a verify pass found missing or wrong: files from the retained artifact, a lost record.

A file is written only with the bytes the live record lists for it (checked before each PUT) and only
over the object the pass judged; a lost record only from the artifact whose release.json the cutover
recorded (`release-sha256` on the live staticfiles.json): the staging prefix is CI's to write.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from ..artifact.archive import Span
from ..bucket import CONDITION_FAILED, LiveBucket, error_code
from ..config import Settings
from ..deploy.upload import MULTIPART_BYTES, pieces, put_file, run_all
from ..errors import ArtifactRejected, LiveStateError
from ..live.objects import get_object
from ..live.state import HISTORY_NAME, read_live, read_record, write_history
from ..model.contract import MANIFEST_NAME, META_RELEASE, META_RELEASE_SHA256, parse_manifest
from ..model.headers import HeaderPolicy
from ..model.order import Position
from ..model.plan import LiveState
from ..model.verdicts import UNPROVEN, Listed, Problem, Proof, live_problems, manifest_problems, unreadable
from .retained_artifact import (
    RepairRefused,
    Retained,
    complete_retained,
    locate_artifact,
    open_artifact_of,
    refused_if_damaged,
)

# Files restored up to this many bytes are all read and checked before the first PUT.
PREVERIFY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LiveRead:
    """The live state a pass verifies (None when it cannot: `problems` say why), and the keys
    restored to read it (a lost record)."""

    live: LiveState | None
    problems: list[Problem]
    restored: list[str] = field(default_factory=list)


def read_or_restore(bucket: LiveBucket, repair: bool) -> LiveRead:
    """The live state; a lost record is restored first in repair mode (the one deployer's key a
    repair writes), any other reason it cannot be read is a problem."""
    client, settings = bucket.client, bucket.settings
    try:
        return checked(read_live(client, settings), settings)
    except LiveStateError as error:
        problems = diagnose(client, settings, error)
    if not (repair and [p.code for p in problems] == ["missing_release_record"]):
        return LiveRead(None, problems)
    restored = restore_record(client, settings)
    return replace(checked(read_live(client, settings), settings), restored=[restored])


def checked(live: LiveState, settings: Settings) -> LiveRead:
    problems = live_problems(live, settings)
    return LiveRead(None if problems else live, problems)


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
    if retained.release_sha256 != digest and retained.artifact.record.base is not None:
        # Rolled back to as a delta completed by its base chain: the cutover recorded that release.json.
        retained = complete_retained(client, settings, retained)
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
    """PUT each file of `job` from the artifact, as a deploy writes it, over the object judged only.

    Up to PREVERIFY_BYTES, every file is read and checked before the first PUT, so an artifact with
    one bad member (a base artifact staged again with other bytes) restores nothing; past it, each
    file is checked before its own PUT."""
    done, artifact = Restored(), retained.artifact
    workers = bucket.settings.upload_concurrency
    spans = [piece for span in artifact.spans(job.paths) for piece in pieces(artifact, span)]
    if sum(artifact.size_of(path) for path in job.paths) <= PREVERIFY_BYTES:
        files: dict[str, bytes] = {}  # one key per path: no lock needed
        with refused_if_damaged(retained, "nothing"):
            run_all(lambda span: files.update(artifact.read_span(span)), spans, workers)

        def put(path: str) -> None:
            done.add(bucket.settings.live_key(path), put_back(bucket, job, path, files[path]))

        run_all(put, job.paths, workers)
        return Restored(sorted(done.restored), sorted(done.changed_meanwhile))

    def read(span: Span) -> None:
        for path, data in artifact.read_span(span):
            done.add(bucket.settings.live_key(path), put_back(bucket, job, path, data))

    with refused_if_damaged(retained):
        run_all(read, spans, workers)
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
        put_file(bucket, path, data, digest, headers)
    except ClientError as error:
        if error_code(error) not in CONDITION_FAILED:
            raise
        return False
    return True


def diagnose(client: Any, settings: Settings, error: LiveStateError) -> list[Problem]:
    """Why read_live refused the live state, as one problem with a stable code."""
    found = get_object(client, settings.live_bucket, settings.live_key(MANIFEST_NAME))
    release = found.metadata.get(META_RELEASE) if found else None
    if found is None or not release:
        return unreadable(settings, error)
    key = settings.live_key(MANIFEST_NAME)
    if get_object(client, settings.live_bucket, settings.history_key(release, HISTORY_NAME)) is None:
        return [Problem(key, "missing_release_record", str(error))]
    try:
        record, manifest = read_record(client, settings, release), parse_manifest(found.body)
    except (LiveStateError, ArtifactRejected):
        return unreadable(settings, error)
    live = LiveState(found.body, found.etag, release, record, manifest)
    return manifest_problems(live, settings) or unreadable(settings, error)
