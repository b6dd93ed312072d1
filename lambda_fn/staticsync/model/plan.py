"""Decide a whole deploy: a pure function of the new release, the live state and the request."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ..errors import ArtifactRejected
from .contract import MANIFEST_NAME, ReleaseRecord, ReleaseView, same_release
from .order import JournalEntry, Position

# A build dated further ahead than this is refused: its clock (or its commit's date) is wrong.
FUTURE_TOLERANCE = timedelta(hours=1)


@dataclass(frozen=True)
class LiveState:
    """What the live bucket serves now, as far as the plan needs to know.

    `manifest_bytes` is None before the first deploy. `record` is the live release's record, our
    exact per-file index; it is None only when the live manifest was written by something else.
    `abandoned` are journal entries claimed after the live position whose cutover never came.
    `modified` is when the live manifest was last written, by S3's clock.
    """

    manifest_bytes: bytes | None = None
    etag: str | None = None
    release: str | None = None
    record: ReleaseRecord | None = None
    manifest: dict[str, str] = field(default_factory=dict)
    position: Position = Position()
    abandoned: tuple[JournalEntry, ...] = ()
    modified: datetime | None = None  # the live manifest's LastModified: S3's clock at the last cutover

    def with_abandoned(self, entry: JournalEntry) -> LiveState:
        return replace(self, abandoned=(*self.abandoned, entry))

    @functools.cached_property
    def hashed(self) -> frozenset[str]:
        """The live manifest's hashed names."""
        return frozenset(value for name, value in self.manifest.items() if value != name)

    @property
    def claimed_above(self) -> int:
        """How many places after the live one are claimed (the next deploy claims the one after)."""
        return max((entry.sequence for entry in self.abandoned), default=self.position.sequence) - (
            self.position.sequence
        )

    @property
    def dirty(self) -> frozenset[str]:
        """Unhashed names an abandoned deploy may have overwritten."""
        return frozenset(name for entry in self.abandoned for name in entry.mutable)


@dataclass(frozen=True)
class Intent:
    """What was asked for: a forward deploy of a staged artifact, or a rollback request's."""

    artifact: str
    now: datetime
    kind: str = "deploy"
    request: str | None = None


@dataclass(frozen=True)
class Cutover:
    """The conditional write of staticfiles.json that makes the release live."""

    if_match: str | None  # the live ETag planned against; None: only if there is none yet
    position: Position

    def condition(self) -> dict[str, str]:
        return {"IfMatch": self.if_match} if self.if_match else {"IfNoneMatch": "*"}


@dataclass(frozen=True)
class Plan:
    """Every phase of a deploy, in order; no cutover means nothing to do."""

    release: str
    immutable: tuple[str, ...] = ()  # content-addressed: written only where absent, before all else
    mutable: tuple[str, ...] = ()  # overwritten in place, after the journal entry is claimed
    unchanged: tuple[str, ...] = ()
    entry: JournalEntry | None = None
    cutover: Cutover | None = None

    @property
    def uploads(self) -> tuple[str, ...]:
        return tuple(sorted((*self.immutable, *self.mutable)))


def make_plan(view: ReleaseView, live: LiveState, intent: Intent, owned: Collection[str] = ()) -> Plan:
    """The phases that take the live bucket from `live` to `view`, or the rejection why not.

    `owned` are the path prefixes (relative to the live prefix) the deployer keeps for itself.
    """
    check_owned(view.record, owned)
    if live.release == view.release:
        if live.record is not None and not same_release(live.record, view.record):
            raise ArtifactRejected(
                "release_id_reused",
                f"release {view.release} is live with different contents; give the new build its own id",
            )
        return Plan(view.release, unchanged=tuple(sorted(view.record.files)))
    if intent.kind == "deploy":
        check_order(view.record, live, intent.now)
    live = resuming(live, view.release, intent)
    check_base(view, live, intent.kind)
    changed = changed_files(view, live)
    dirty = sorted(live.dirty & set(view.record.files) - set(changed))
    check_immutable(view, live, changed)
    immutable = tuple(p for p in changed if content_addressed(p, view, live))
    mutable = tuple(sorted({*changed, *dirty} - set(immutable)))  # dirty and immutable are disjoint
    if not (immutable or mutable) and live.manifest_bytes == view.manifest_bytes:
        return Plan(view.release, unchanged=tuple(sorted(view.record.files)))
    position = live.position.next(live.release, intent.kind, intent.request, skip=live.claimed_above)
    entry = JournalEntry(
        sequence=position.sequence,
        release=view.release,
        previous=live.release,
        previous_sequence=live.position.sequence,
        kind=intent.kind,
        request=intent.request,
        artifact=intent.artifact,
        mutable=mutable,
    )
    changed_set = {*immutable, *mutable}
    return Plan(
        release=view.release,
        immutable=immutable,
        mutable=mutable,
        unchanged=tuple(sorted(p for p in view.record.files if p not in changed_set)),
        entry=entry,
        cutover=Cutover(live.etag, position),
    )


def resuming(live: LiveState, release: str, intent: Intent) -> LiveState:
    """The live state a retried deploy plans against: when the newest claim above the live place is
    its own (this release, this artifact, this request) and was planned against the live place, nothing
    was claimed or cut over since, and the retry claims that same place again rather than stepping
    over itself. A claim of its own planned against an earlier place is stepped over like any other."""
    newest = max(live.abandoned, key=lambda entry: entry.sequence, default=None)
    if newest is None or (
        newest.release,
        newest.artifact,
        newest.kind,
        newest.request,
        newest.previous_sequence,
    ) != (release, intent.artifact, intent.kind, intent.request, live.position.sequence):
        return live
    return replace(live, abandoned=tuple(e for e in live.abandoned if e.sequence < newest.sequence))


def check_owned(record: ReleaseRecord, owned: Collection[str]) -> None:
    """No file may land on a key the deployer keeps for itself (the manifest, the history)."""
    prefixes = tuple(owned)  # str.startswith takes them all at once: no generator a file
    for path in record.files:
        if path == MANIFEST_NAME or path.startswith(prefixes):
            raise ArtifactRejected(
                "reserved_path", f"{path} would overwrite the deployer's own {path.split('/')[0]}", path
            )


def check_order(record: ReleaseRecord, live: LiveState, now: datetime) -> None:
    """A forward deploy must be new: never live before, and not provably older than the live one.

    The order is the order of cutovers, never a clock: `created_at` is only checked for sanity.
    """
    if record.created > now + FUTURE_TOLERANCE:
        raise ArtifactRejected(
            "future_timestamp",
            f"release {record.release} says it was built at {record.created_at}, in the future: fix "
            "the build machine's clock or the commit date (or set SOURCE_DATE_EPOCH)",
        )
    if live.position.was_live(record.release):
        raise ArtifactRejected(
            "rollback_required",
            f"release {record.release} was live before {live.release}; going back to it takes a "
            f"rollback request: build_tool rollback {record.release}",
        )
    commit, base = record.source_commit, live.record
    if commit and base is not None and commit != base.source_commit and commit in base.ancestry:
        raise ArtifactRejected(
            "stale_artifact",
            f"release {record.release} (commit {commit[:12]}) is an ancestor of the live release "
            f"{base.release}: it is older; to go back to it, use build_tool rollback",
        )


def check_base(view: ReleaseView, live: LiveState, kind: str = "deploy") -> None:
    """A delta deploys only onto its base: the live release, holding every inherited file's bytes.

    Each inherited file must have the same SHA-256 in the live record (so it is simply unchanged), and
    none may be a name an abandoned deploy may have overwritten: the artifact has no bytes to restore
    it with. A full artifact (no `base`) passes.
    """
    record = view.record
    if record.base is None:
        return
    if live.release != record.base:
        if kind == "rollback":
            raise ArtifactRejected(
                "not_retained",
                f"release {record.release} was staged as a delta of {record.base}; stage a full build "
                "of its commit to roll back to it (build_tool package --full)",
            )
        raise ArtifactRejected(
            "base_not_live",
            f"release {record.release} was built as a delta of {record.base}, but "
            f"{live.release or 'nothing'} is live: build it again against the live release (build_tool "
            "package --live-bucket ...) or stage a full artifact (build_tool package --full)",
        )
    known = live.record.files if live.record is not None else {}
    for path in sorted(view.inherited):
        if known.get(path) != record.files[path]:
            raise ArtifactRejected(
                "base_mismatch",
                f"{path} is inherited from {record.base}, whose record has other bytes for it "
                "(or none): stage a full artifact (build_tool package --full)",
                path,
            )
    for path in sorted(live.dirty & view.inherited)[:1]:
        raise ArtifactRejected(
            "base_mismatch",
            f"{path} may have been overwritten by a deploy that never cut over, and this delta "
            "inherits it instead of shipping it: stage a full artifact (build_tool package --full)",
            path,
        )


def changed_files(view: ReleaseView, live: LiveState) -> list[str]:
    """The files whose bytes the live bucket does not already hold under the same name.

    With the live release's record, an exact comparison of SHA-256 per path. Without it (a bucket
    filled by collectstatic), only the hashed names both manifests share are known to be right.
    """
    files = view.record.files
    if live.record is not None:
        known = live.record.files
        return sorted(p for p, digest in files.items() if known.get(p) != digest)
    if live.manifest_bytes is not None:
        shared = set(live.manifest.values()) & view.hashed
        return sorted(p for p in files if p not in shared)
    return sorted(files)


def content_addressed(path: str, view: ReleaseView, live: LiveState) -> bool:
    """Hashed in the new release, in the live one, or by its shape: never overwritten."""
    base, extension = posixpath.splitext(path)
    return view.content_addressed(path) or (base if extension in (".gz", ".br") else path) in live.hashed


def check_immutable(view: ReleaseView, live: LiveState, changed: list[str]) -> None:
    """A live content-addressed name keeps its bytes, whatever the new manifest says about it."""
    if live.record is None:
        return
    for path in changed:
        if path in live.record.files and content_addressed(path, view, live):
            raise ArtifactRejected(
                "immutable_name_conflict",
                f"{path} is a content-addressed name of the live release {live.release} and the "
                "artifact has other bytes for it",
                path,
            )
