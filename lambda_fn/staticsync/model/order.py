"""The release order: each cutover's place in it, its journal entry, and rollback requests (pure)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .contract import META_RELEASE, RELEASE_ID, dumps

KINDS = ("deploy", "rollback")
# Earlier live releases remembered on the live manifest, as 8-hex digests: 128 of them (1.1 KB)
# fit S3's 2 KB of user metadata beside the rest; a digest collision (about 128 in 4 billion) could
# only refuse a release, never let one through.
RECENT = 128
DIGEST_CHARS = 8
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
REQUEST_FORMAT = 1

META_SEQUENCE, META_PREVIOUS, META_KIND = "sequence", "previous", "kind"
META_PLANNED = "planned-against"  # on a history record: the live state its deploy planned against
META_REQUEST, META_RECENT = "request", "recent"


def digest(release: str) -> str:
    return hashlib.sha256(release.encode()).hexdigest()[:DIGEST_CHARS]


@dataclass(frozen=True)
class Position:
    """Where the live release stands in the order, as the live staticfiles.json's metadata says.

    `sequence` counts cutovers (0: nothing was ever cut over by staticsync); `recent` holds the
    digests of the releases live before this one, newest first.
    """

    sequence: int = 0
    previous: str | None = None
    kind: str = "deploy"
    request: str | None = None
    recent: tuple[str, ...] = ()

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Position:
        """Lenient: a manifest written before the release order existed has none of these keys."""
        sequence = metadata.get(META_SEQUENCE, "0")
        return cls(
            sequence=int(sequence) if sequence.isdigit() else 0,
            previous=metadata.get(META_PREVIOUS) or None,
            kind=metadata.get(META_KIND, "deploy"),
            request=metadata.get(META_REQUEST) or None,
            recent=tuple(metadata.get(META_RECENT, "").split()),
        )

    def next(self, live_release: str | None, kind: str, request: str | None, skip: int = 0) -> Position:
        """The position of the release that replaces `live_release`, `skip` abandoned claims on."""
        recent = ((digest(live_release),) if live_release else ()) + self.recent
        return Position(self.sequence + 1 + skip, live_release, kind, request, recent[:RECENT])

    def metadata(self, release: str) -> dict[str, str]:
        found = {META_RELEASE: release, META_SEQUENCE: str(self.sequence), META_KIND: self.kind}
        if self.previous:
            found[META_PREVIOUS] = self.previous
        if self.request:
            found[META_REQUEST] = self.request
        if self.recent:
            found[META_RECENT] = " ".join(self.recent)
        return found

    def was_live(self, release: str) -> bool:
        """Whether `release` was live before the live one (within the last RECENT releases)."""
        return digest(release) in self.recent


@dataclass(frozen=True)
class JournalEntry:
    """One place in the order, claimed (written once) before the unhashed names are overwritten.

    An entry whose cutover never happened is an abandoned claim: the names in `mutable` may hold its
    bytes, so the next deploy rewrites them.
    """

    sequence: int
    release: str
    previous: str | None
    previous_sequence: int
    kind: str
    request: str | None
    artifact: str
    mutable: tuple[str, ...] = field(default=(), repr=False)

    def to_json(self) -> bytes:
        return dumps({**asdict(self), "mutable": list(self.mutable)})

    @classmethod
    def parse(cls, data: bytes) -> JournalEntry:
        document = json.loads(data)
        return cls(**{**document, "mutable": tuple(document.get("mutable", ()))})

    def with_mutable(self, names: tuple[str, ...]) -> JournalEntry:
        return replace(self, mutable=names)


class BadRequest(ValueError):
    """A rollback request that does not parse; the message says what is wrong."""


@dataclass(frozen=True)
class RollbackRequest:
    """Go back to `release`, which must be retained, only while `replaces` is live: at most once."""

    request: str
    release: str
    replaces: str
    artifact_key: str | None = None
    requested_by: str = ""

    def to_json(self) -> bytes:
        document: dict[str, Any] = {"format": REQUEST_FORMAT, **asdict(self)}
        return dumps({k: v for k, v in document.items() if v is not None})

    @classmethod
    def parse(cls, data: bytes) -> RollbackRequest:
        document = read_request(data, "rollback", BadRequest)
        request, release, replaces = (_id(document, name) for name in ("request", "release", "replaces"))
        artifact_key = document.get("artifact_key")
        if artifact_key is not None and not isinstance(artifact_key, str):
            raise BadRequest("artifact_key must be a string")
        if release == replaces:
            raise BadRequest("a rollback to the release it replaces does nothing")
        return cls(request, release, replaces, artifact_key, str(document.get("requested_by", "")))


def read_request(data: bytes, kind: str, error: type[ValueError]) -> dict[str, Any]:
    """A staged request's JSON object of format REQUEST_FORMAT (rollback, prune, pin), or `error`."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as problem:
        raise error(f"not JSON: {problem}") from None
    if not isinstance(document, dict) or document.get("format") != REQUEST_FORMAT:
        raise error(f"not a format {REQUEST_FORMAT} {kind} request")
    return document


def field_id(document: dict[str, Any], name: str, pattern: re.Pattern[str], error: type[ValueError]) -> str:
    """The request's `name`, an id matching `pattern`, or `error` saying it is missing or invalid."""
    value = document.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise error(f"{name} {value!r} is missing or not a valid id")
    return value


def _id(document: dict[str, Any], name: str) -> str:
    return field_id(document, name, REQUEST_ID if name == "request" else RELEASE_ID, BadRequest)


def planned_against(position: Position, etag: str | None) -> str:
    """The live state a deploy planned against, as its history record keeps it: the live place and
    the live manifest's ETag ("0 -" before the first cutover)."""
    return f"{position.sequence} {etag.strip(chr(34)) if etag else '-'}"


def superseded(recorded: str | None, now: str) -> bool:
    """Whether a release whose history record was written while `recorded` was live is older than
    the live release (`now`, as `planned_against` says it).

    A release's record is written before its claim, its claim before its cutover, and every cutover
    moves the live place. So a record kept from an earlier attempt that planned against another live
    state belongs to a release that was live since, or whose claim a cutover stepped over (a deploy
    that died and is retried, an event delivered late): it is older than the live release, and only
    a rollback request may bring it back. A retry with nothing cut over since resumes. No clock
    decides: a record without the note (written before it existed) is older too.
    """
    return recorded != now


def judge_request(request: RollbackRequest, live_release: str | None, position: Position) -> str | None:
    """Why a rollback request must not run now ("replayed", "conflict"), or None to run it.

    A compare-and-swap: it runs only while the release it names as replaced is live. Once it ran,
    the live release is its target (a replay is a no-op) or something later (a conflict).
    """
    if position.request == request.request:
        return "replayed"
    if live_release != request.replaces:
        return "already_live" if live_release == request.release else "conflict"
    return None
