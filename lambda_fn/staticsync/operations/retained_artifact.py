"""The retained artifact of the live release: find it, open it proven, restore a lost record or files from it.

The staging prefix is CI's to write, so a staged object is never trusted over the live bucket's own
checksums: a lost record comes back only from the artifact whose release.json the cutover recorded
(`release-sha256` on the live staticfiles.json); a file only from an artifact of the live release
(`same_release` with the live record: the full build of a live delta too, or the delta completed by
its base chain), and only with the bytes the live record lists for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..artifact.archive import Artifact, Span
from ..artifact.ranged import S3Range, SparseFile
from ..bucket import error_code
from ..config import Settings
from ..deploy.upload import run_all
from ..errors import ArtifactGone, ArtifactRejected, SyncError
from ..live.journal import read_entry
from ..model.contract import META_RELEASE_SHA256
from ..model.plan import LiveState
from ..model.verdicts import Proof, md5_hex
from .chain import NotRetained, completed
from .completed import Holder

READERS = 4  # spans of the artifact read at once to compare MD5s (each up to 8 MiB)


class RepairRefused(SyncError, RuntimeError):
    """The retained artifact cannot be trusted to restore the live release: nothing was written."""


@dataclass(frozen=True)
class Retained:
    """An artifact opened and verified as a deploy verifies it, with the SHA-256 of its release.json."""

    artifact: Artifact
    where: str
    release_sha256: str
    # A delta completed by its base chain: the base artifact each inherited file is read from.
    inherited: Mapping[str, str] = field(default_factory=dict)

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

        with refused_if_damaged(self):
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


def complete_retained(client: Any, settings: Settings, retained: Retained) -> Retained:
    """A delta's retained artifact completed by its base chain (chain.py), the bases looked for in its
    own bucket: every file of its release, each read checked against its record."""
    bucket = retained.where.removeprefix("s3://").partition("/")[0]
    delta = Holder(retained.artifact, retained.artifact.file.source, retained.where)
    try:
        source = completed(client, settings, bucket, delta, retained.where)
        digest = source.metadata[META_RELEASE_SHA256]
        artifact = Artifact(SparseFile(source, source.initial_fragments()), settings, digest)
    except NotRetained as error:
        raise RepairRefused(str(error)) from None
    except ArtifactRejected as error:
        raise RepairRefused(
            f"{retained.where} completed by its base chain is not a sound artifact ({error.code}: {error}): "
            "nothing restored"
        ) from None
    return Retained(artifact, f"{retained.where} (completed by its base chain)", digest, source.inherited)


@contextmanager
def refused_if_damaged(retained: Retained | None = None, written: str = "nothing more") -> Iterator[None]:
    """A member that fails its verified read makes the whole artifact untrustworthy: refuse, naming
    the base artifact a delta's inherited file was read from."""
    try:
        yield
    except ArtifactRejected as error:
        base = retained.inherited.get(error.member or "") if retained else None
        where = f" ({error.member} was read from {base}, a base artifact)" if base else ""
        raise RepairRefused(
            f"the retained artifact is damaged ({error.code}: {error}){where}: {written} restored"
        ) from None
