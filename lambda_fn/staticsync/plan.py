"""Decide what a deploy uploads: a pure function of the new release and the live state."""

from __future__ import annotations

from dataclasses import dataclass, field

from .contract import ReleaseRecord, parse_manifest
from .errors import ArtifactRejected


@dataclass(frozen=True)
class LiveState:
    """What the live bucket serves now, as far as the plan needs to know.

    `manifest_bytes` is None before the first deploy. `record` is the live release's record, our
    exact per-file index; it is None when the live manifest was written by something else.
    """

    manifest_bytes: bytes | None = None
    etag: str | None = None
    release: str | None = None
    record: ReleaseRecord | None = None
    manifest: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The files to upload, the files already live, and whether to cut over at all."""

    release: str
    uploads: tuple[str, ...]
    unchanged: tuple[str, ...]
    cutover: bool
    live_release: str | None
    live_etag: str | None


def make_plan(record: ReleaseRecord, manifest_bytes: bytes, live: LiveState) -> Plan:
    """Upload exactly the files whose bytes the live bucket does not already have.

    With the live release's record, that is an exact comparison of SHA-256 per path. Without it
    (a bucket filled by collectstatic), the only names known to hold the right bytes are hashed
    names both manifests share: they are content-addressed. Before the first deploy, everything.
    """
    if live.record is not None:
        known = live.record.files
        uploads = [p for p, digest in record.files.items() if known.get(p) != digest]
    elif live.manifest_bytes is not None:
        shared = set(live.manifest.values()) & _hashed_values(manifest_bytes, record)
        uploads = [p for p in record.files if p not in shared]
    else:
        uploads = list(record.files)
    upload_set = set(uploads)
    unchanged = sorted(p for p in record.files if p not in upload_set)
    cutover = bool(uploads) or live.manifest_bytes != manifest_bytes
    return Plan(
        release=record.release,
        uploads=tuple(sorted(uploads)),
        unchanged=tuple(unchanged),
        cutover=cutover,
        live_release=live.release,
        live_etag=live.etag,
    )


def check_not_stale(record: ReleaseRecord, live: LiveState, *, rollback: bool) -> None:
    """Refuse an artifact built before the live release, unless it is a deliberate rollback."""
    if live.record is None or rollback or record.release == live.record.release:
        return
    if record.created < live.record.created:
        raise ArtifactRejected(
            "stale_artifact",
            f"release {record.release} was built at {record.created_at}, before the live release "
            f"{live.record.release} ({live.record.created_at}); stage it with --rollback to go back",
        )


def check_release_id(record: ReleaseRecord, live: LiveState) -> None:
    """Refuse other contents under the live release's id before anything is written.

    (An id reused from an older release is caught when its history record is written, which
    happens after every file was checked and before any unhashed file is overwritten.)
    """
    if live.record is not None and live.record.release == record.release and live.record != record:
        raise ArtifactRejected(
            "release_id_reused",
            f"release {record.release} is live with different contents; give the new build its own id",
        )


def missing_from_live(plan: Plan, manifest: dict[str, str]) -> list[str]:
    """Names the new manifest refers to that would not be live after the plan ran."""
    live_after = set(plan.uploads) | set(plan.unchanged)
    return sorted(hashed for hashed in manifest.values() if hashed not in live_after)


def _hashed_values(manifest_bytes: bytes, record: ReleaseRecord) -> set[str]:
    return {v for k, v in parse_manifest(manifest_bytes).items() if v != k and v in record.files}
