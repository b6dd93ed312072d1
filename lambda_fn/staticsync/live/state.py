"""Read what the live bucket serves, and write to it: history records and the conditional cutover."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..bucket import CONDITION_FAILED, MISSING, error_code
from ..config import Settings
from ..errors import ArtifactRejected, LiveChanged, LiveStateError
from ..model.contract import (
    MANIFEST_NAME,
    META_RELEASE,
    RELEASE_NAME,
    ReleaseRecord,
    ReleaseView,
    parse_manifest,
    parse_release,
    same_release,
)
from ..model.order import Position
from ..model.plan import Cutover, LiveState
from .bodies import PartsBody
from .journal import abandoned_claims
from .objects import Found, get_object

# Under HISTORY_PREFIX/<release>/: the release record and manifest (docs/artifact.md, "The live bucket").
HISTORY_NAME = "history.jsonl"
# Live objects are read in pieces of this size (a few MB at 100,000 files): each is compared or hashed
# as it arrives, so an object equal to one in memory is never held twice.
READ_PIECE = 1024 * 1024
# A history record's rest (its manifest line) up to this size is read to the end rather than dropped
# with its connection.
DRAIN_BYTES = 1024 * 1024


def read_live(client: Any, settings: Settings, known: Known | None = None) -> LiveState:
    """The live manifest with its ETag and place in the order, the live release's record, and the
    journal's claims after the live place (deploys in flight or dead: what they may have overwritten).

    A manifest that names a release whose record is missing, unreadable or of another manifest is
    an error, never a reason to skip a check: every decision about order and content needs it.
    `known` (an artifact already opened): a live manifest or record with the same bytes as its own
    is taken from it rather than parsed again, and never held twice (a no-change redeploy of 100,000
    files: about 100 MB and 0.4 s less).
    """
    key = settings.live_key(MANIFEST_NAME)
    found = read_manifest_object(client, settings.live_bucket, key, known)
    if found is None:
        return LiveState()
    body, etag, metadata, modified = found
    shared = known is not None and body is known.view.manifest_bytes
    try:
        manifest = known.view.manifest if known is not None and shared else parse_manifest(body)
    except ArtifactRejected as error:
        raise LiveStateError(
            f"the live s3://{settings.live_bucket}/{key} is unreadable ({error}); fix or remove it "
            "before deploying"
        ) from None
    release, position = metadata.get(META_RELEASE), Position.from_metadata(metadata)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal") as beside:
        # The claims after the live place are read beside the live record: no round trip more.
        claims = beside.submit(abandoned_claims, client, settings, position.sequence)
        record = read_record(client, settings, release, known) if release else None
        abandoned = claims.result()
    # The opened artifact checked its manifest against its record already.
    checked = shared and known is not None and record is known.view.record
    if record is not None and not checked and hashlib.sha256(body).hexdigest() != record.manifest_sha256:
        raise LiveStateError(
            f"the live {key} is not the one release {record.release} built (overwritten by hand?): put "
            f"back line 2 of {settings.history_key(record.release, HISTORY_NAME)} with the same metadata"
        )
    return LiveState(body, etag, release, record, manifest, position, abandoned, modified)


def read_manifest_object(client: Any, bucket: str, key: str, known: Known | None) -> Found | None:
    """The live manifest object; its body is `known`'s own bytes object when they are the same bytes,
    compared piece by piece as they arrive, so equal bytes are never held twice."""
    mine = known.view.manifest_bytes if known is not None else None
    return get_object(client, bucket, key, read=lambda stream: same_or_read(stream, mine))


def same_or_read(stream: Any, mine: bytes | None) -> bytes:
    """A response body read in pieces: `mine` itself when the body has exactly its bytes, else the
    body's bytes. Pieces equal to `mine` are not kept (they are `mine`'s), only what follows."""
    if mine is None:
        data: bytes = stream.read()
        return data
    at, rest = 0, list[bytes]()
    with memoryview(mine) as view:
        while piece := stream.read(READ_PIECE):
            if not rest and view[at : at + len(piece)] == piece:
                at += len(piece)
            else:
                rest.append(piece)
        if not rest and at == len(mine):
            return mine
        return b"".join([bytes(view[:at]), *rest])


def write_history(
    client: Any,
    settings: Settings,
    release: str,
    release_bytes: bytes,
    manifest_bytes: bytes,
    metadata: dict[str, str] | None = None,
) -> Found | None:
    """Keep the release's record and manifest; a release id is never reused for other bytes.

    None when this call wrote it; the kept object (with S3's LastModified) when it was there already."""
    key = settings.history_key(release, HISTORY_NAME)
    try:
        client.put_object(
            Bucket=settings.live_bucket,
            Key=key,
            Body=PartsBody(history_parts(release_bytes, manifest_bytes)),
            ContentType="application/jsonl; charset=utf-8",
            Metadata=metadata or {},
            IfNoneMatch="*",
        )
    except ClientError as error:
        if error_code(error) not in CONDITION_FAILED:
            raise
        existing = get_object(client, settings.live_bucket, key)
        if existing is None:
            raise ArtifactRejected(
                "release_id_reused", f"release {release}'s record changed while it was written", RELEASE_NAME
            ) from None
        check_kept(existing, release, release_bytes, manifest_bytes)
        return existing
    return None


def kept_history(client: Any, settings: Settings, release: str) -> Found | None:
    """The HEAD of the release's history record if one is kept already (a retry, a replay, a rebuild),
    else None: its metadata and ETag, not its bytes (up to 45 MB; `kept_body` reads them if needed)."""
    key = settings.history_key(release, HISTORY_NAME)
    try:
        head = client.head_object(Bucket=settings.live_bucket, Key=key)
    except ClientError as error:
        if error_code(error) in MISSING:
            return None
        raise
    return Found(b"", head["ETag"], head.get("Metadata", {}), head.get("LastModified"))


def kept_body(client: Any, settings: Settings, release: str) -> Found | None:
    return get_object(client, settings.live_bucket, settings.history_key(release, HISTORY_NAME))


def check_kept(kept: Found | None, release: str, release_bytes: bytes, manifest_bytes: bytes) -> None:
    """A kept record of `release` must be this very build's: a release id is never reused."""
    if kept is not None and not same_history(kept.body, history_body(release_bytes, manifest_bytes)):
        raise ArtifactRejected(
            "release_id_reused",
            f"release {release} was already deployed with different contents",
            RELEASE_NAME,
        )


def same_history(kept: bytes, body: bytes) -> bool:
    """The kept history object is this release's: the same bytes, or the record of the same build as
    a delta where this is the full artifact (or the reverse: docs/artifact.md, "Delta artifacts")."""
    if kept == body:
        return True
    (kept_record, _, kept_manifest), (record, _, manifest) = (b.partition(b"\n") for b in (kept, body))
    try:
        return kept_manifest == manifest and same_release(parse_release(kept_record), parse_release(record))
    except ArtifactRejected:
        return False


def history_body(release_bytes: bytes, manifest_bytes: bytes) -> bytes:
    """The history object: release.json, then staticfiles.json, one JSON document per line.

    One object rather than two saves a PUT per deploy. Both documents are kept byte for byte
    when they are one line each (as the build tool and Django write them), else re-serialised.
    """
    return b"".join(history_parts(release_bytes, manifest_bytes))


def history_parts(release_bytes: bytes, manifest_bytes: bytes) -> list[bytes]:
    """history_body's parts, for a PUT that does not join them (bodies.PartsBody)."""
    return [_one_line(release_bytes), b"\n", _one_line(manifest_bytes), b"\n"]


def _one_line(document: bytes) -> bytes:
    if b"\n" not in document and b"\r" not in document:
        return document
    return json.dumps(json.loads(document), ensure_ascii=False, separators=(",", ":")).encode()


def cut_over(
    client: Any,
    settings: Settings,
    manifest: bytes,
    cutover: Cutover,
    headers: dict,
    metadata: dict[str, str],
) -> str:
    """Write staticfiles.json only if the live one is still the one we planned against; its ETag.

    `metadata` names the release, its place in the order and its release.json's SHA-256 (which a
    record restored from a staged artifact must match: the staging prefix is CI's to write)."""
    release = metadata.get(META_RELEASE)
    try:
        response = client.put_object(
            Bucket=settings.live_bucket,
            Key=settings.live_key(MANIFEST_NAME),
            Body=manifest,
            Metadata=metadata,
            **headers,
            **cutover.condition(),
        )
    except ClientError as error:
        if error_code(error) in CONDITION_FAILED:
            raise LiveChanged(
                f"another deploy changed the live staticfiles.json while release {release} was "
                "uploading; not overwriting it (a retry re-plans against the new live release)"
            ) from None
        raise
    return str(response.get("ETag", ""))


@dataclass(frozen=True)
class Known:
    """An opened artifact: the SHA-256 of its release.json (checked) and its view."""

    release_sha256: str
    view: ReleaseView


def read_record(client: Any, settings: Settings, release: str, known: Known | None = None) -> ReleaseRecord:
    """The kept record of `release`; LiveStateError (with how to repair) when it is gone or damaged.

    Only line 1, that release's release.json, is read: streamed, so the manifest after it is never
    held (up to 25 MB at 100,000 files), and when it is `known`'s (by its SHA-256), nothing is kept:
    the opened artifact's parsed record is returned."""
    key = settings.history_key(release, HISTORY_NAME)
    try:
        response = client.get_object(Bucket=settings.live_bucket, Key=key)
    except ClientError as error:
        if error_code(error) not in MISSING:
            raise
        raise LiveStateError(
            f"the live release {release} has no record at {key}, so no deploy can be judged against "
            f"it: restore it from {release}'s retained artifact with "
            "`python -m staticsync.check --repair --artifacts-bucket <artifacts bucket>`"
        ) from None
    line = first_line(response["Body"], known.release_sha256 if known is not None else None)
    if line is None and known is not None:
        return known.view.record
    try:
        return parse_release(line or b"")
    except ArtifactRejected as error:
        raise LiveStateError(
            f"the live release {release}'s record at {key} is unreadable ({error}): delete it, then "
            "restore it with `python -m staticsync.check --repair --artifacts-bucket <artifacts bucket>`"
        ) from None


def first_line(stream: Any, sha256_hex: str | None) -> bytes | None:
    """Line 1 of a response body (all of it when it has no newline), read in pieces; None when its
    SHA-256 is `sha256_hex`. The rest is not read: a small rest is drained so that the connection is
    kept, a large one is dropped with it."""
    digest, pieces, tail = hashlib.sha256(), list[bytes](), b""
    while piece := stream.read(READ_PIECE):
        end = piece.find(b"\n")
        if end >= 0:
            piece, tail = piece[:end], piece[end:]
        digest.update(piece)
        pieces.append(piece)
        if end >= 0:
            break
    if tail:
        skip_rest(stream)
    if sha256_hex is not None and digest.hexdigest() == sha256_hex:
        return None
    return b"".join(pieces)


def skip_rest(stream: Any) -> None:
    """Drain a response body's rest when it is small (its connection goes back to the pool); close it
    when it is not (reading 25 MB to throw away costs more than a new connection)."""
    length = getattr(stream, "_content_length", None)  # botocore's StreamingBody
    if length is not None and int(length) - getattr(stream, "_amount_read", 0) > DRAIN_BYTES:
        stream.close()
        return
    while stream.read(READ_PIECE):
        pass
