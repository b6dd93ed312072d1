"""The release protocol's pure rules, driven by Hypothesis against an in-memory S3 that honours IfMatch
and IfNoneMatch: deploys that crash at any write, Lambda's retries, late and repeated deliveries.

The steps mirror deploy/execute.py and deploy/judge.py (models/release.pml is the exhaustive model); what
decides is the real code: `make_plan` (and its `resuming`), `Position`, `planned_against`, `superseded`.
The invariants are the model's I1 and I3: the live site is one whole release once no claim is above the
live place, and a release that was replaced never comes back by a forward deploy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from staticsync.errors import ArtifactRejected
from staticsync.model.contract import META_RELEASE, ReleaseRecord, ReleaseView
from staticsync.model.order import META_PLANNED, JournalEntry, Position, planned_against, superseded
from staticsync.model.plan import Intent, LiveState, make_plan

RELEASES = ("r1", "r2", "r3", "r4")
NOW = "2026-01-01T00:00:00Z"
STEPS = ("immutable", "history", "claim", "mutable", "cutover")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(release: str) -> tuple[ReleaseView, dict[str, bytes]]:
    """A release: its own hashed stylesheet, a hashed logo every release shares, and robots.txt
    (unhashed, overwritten in place), whose bytes r1 and r2 share."""
    css = f".{release} {{}}".encode()
    hashed_css = f"app.{sha(css)[:12]}.css"
    logo = b"logo"
    robots = b"robots r1" if release in ("r1", "r2") else f"robots {release}".encode()
    files = {"app.css": css, hashed_css: css, "logo.0123456789ab.png": logo, "robots.txt": robots}
    paths = {"app.css": hashed_css, "logo.png": "logo.0123456789ab.png"}
    manifest = json.dumps({"paths": paths, "version": "1.1"}).encode()
    record = ReleaseRecord(release, NOW, {p: sha(d) for p, d in files.items()}, sha(manifest))
    return ReleaseView.of(record, manifest), files


class Conflict(Exception):
    """A conditional write that S3 refused (412)."""


@dataclass
class Bucket:
    """An in-memory S3 bucket: conditional PUTs as S3 answers them; an ETag per write."""

    objects: dict[str, tuple[bytes, str, dict[str, str]]] = field(default_factory=dict)
    writes: int = 0

    def put(self, key: str, body: bytes, meta: dict[str, str] | None = None, **condition: str) -> str:
        found = self.objects.get(key)
        if condition.get("IfNoneMatch") == "*" and found is not None:
            raise Conflict(key)
        if "IfMatch" in condition and (found is None or found[1] != condition["IfMatch"]):
            raise Conflict(key)
        self.writes += 1
        etag = f'"{self.writes}"'
        self.objects[key] = (body, etag, dict(meta or {}))
        return etag


class Crash(Exception):
    """The invocation died at this write (before it landed)."""


@dataclass
class Deploy:
    """One delivery of a release's event, run step by step as deploy/execute.py runs it."""

    bucket: Bucket
    release: str
    crash_at: str | None = None

    def run(self) -> str:
        view, files = build(self.release)
        live = self.read_live()
        kept = self.bucket.objects.get(f".releases/{self.release}")
        intent = Intent(f"s3://artifacts/{self.release}.zip", live_now())
        plan = make_plan(view, live, intent, owned=(".releases/",))
        if plan.cutover is None:
            return "unchanged"
        mine = any(e.release == self.release for e in live.abandoned) and live.position.sequence > 0
        if kept is not None and not mine and superseded(kept[2].get(META_PLANNED), self.planned(live)):
            raise ArtifactRejected("superseded", self.release)
        self.step("immutable")
        for path in plan.immutable:
            self.put_once(path, files[path])
        self.step("history")
        if kept is None:
            self.bucket.put(f".releases/{self.release}", b"record", {META_PLANNED: self.planned(live)})
        plan = self.claim(plan, live, view, intent)
        self.step("mutable")
        for path in plan.mutable:
            self.bucket.put(path, files[path])
        self.step("cutover")
        assert plan.cutover is not None
        metadata = plan.cutover.position.metadata(self.release)
        self.bucket.put("staticfiles.json", view.manifest_bytes, metadata, **plan.cutover.condition())
        return "deployed"

    def claim(self, plan: object, live: LiveState, view: ReleaseView, intent: Intent) -> object:
        self.step("claim")
        for _ in range(16):
            entry = plan.entry  # type: ignore[attr-defined]
            key = f".releases/journal/{entry.sequence:08d}"
            body = entry.to_json()
            found = self.bucket.objects.get(key)
            if found is not None and found[0] == body:
                return plan
            try:
                self.bucket.put(key, body, IfNoneMatch="*")
                return plan
            except Conflict:
                live = replace(live, abandoned=self.claims_above(live.position.sequence))
                plan = make_plan(view, live, intent, owned=(".releases/",))
        raise AssertionError("sixteen claims lost in a row with no concurrent deploy")

    def put_once(self, path: str, data: bytes) -> None:
        found = self.bucket.objects.get(path)
        if found is None:
            self.bucket.put(path, data, IfNoneMatch="*")
        elif found[0] != data:
            raise ArtifactRejected("immutable_name_conflict", path)

    def read_live(self) -> LiveState:
        found = self.bucket.objects.get("staticfiles.json")
        if found is None:
            return LiveState(abandoned=self.claims_above(0))
        body, etag, meta = found
        release = meta.get(META_RELEASE)
        view = build(release)[0] if release else None
        position = Position.from_metadata(meta)
        record = view.record if view else None
        manifest = view.manifest if view else {}
        return LiveState(
            body, etag, release, record, manifest, position, self.claims_above(position.sequence)
        )

    def claims_above(self, sequence: int) -> tuple[JournalEntry, ...]:
        keys = sorted(k for k in self.bucket.objects if k.startswith(".releases/journal/"))
        entries = (JournalEntry.parse(self.bucket.objects[k][0]) for k in keys)
        return tuple(e for e in entries if e.sequence > sequence)

    def planned(self, live: LiveState) -> str:
        return planned_against(live.position, live.etag)

    def step(self, name: str) -> None:
        if self.crash_at == name:
            raise Crash(name)


def live_now() -> object:
    from datetime import UTC, datetime

    return datetime(2026, 1, 2, tzinfo=UTC)


class Protocol(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.bucket = Bucket()
        self.pending: list[str] = []  # events whose invocation died: Lambda retries them
        self.lives: list[str] = []  # each release that went live, in order

    def deliver(self, release: str, crash_at: str | None = None) -> None:
        try:
            Deploy(self.bucket, release, crash_at).run()
        except Crash:
            self.pending.append(release)
        except ArtifactRejected:
            pass
        self.note_live()

    def note_live(self) -> None:
        found = self.bucket.objects.get("staticfiles.json")
        release = found[2].get(META_RELEASE) if found else None
        if release and (not self.lives or self.lives[-1] != release):
            assert release not in self.lives, f"{release} came back by a forward deploy: {self.lives}"
            self.lives.append(release)

    @rule(release=st.sampled_from(RELEASES), crash_at=st.none() | st.sampled_from(STEPS))
    def an_event_is_delivered(self, release: str, crash_at: str | None) -> None:
        self.deliver(release, crash_at)

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def lambda_retries_a_dead_invocation(self, data: st.DataObject) -> None:
        release = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1)))
        self.deliver(release, data.draw(st.none() | st.sampled_from(STEPS)))

    @rule()
    def the_metadata_is_lost(self) -> None:
        """An operator re-puts the live manifest with its bytes and none of its metadata."""
        if "staticfiles.json" in self.bucket.objects:
            body = self.bucket.objects["staticfiles.json"][0]
            self.bucket.put("staticfiles.json", body)

    @invariant()
    def the_live_site_is_one_whole_release_once_no_claim_is_above_it(self) -> None:
        found = self.bucket.objects.get("staticfiles.json")
        if found is None or not found[2].get(META_RELEASE):
            return
        release = found[2][META_RELEASE]
        view, files = build(release)
        assert found[0] == view.manifest_bytes
        sequence = Position.from_metadata(found[2]).sequence
        if Deploy(self.bucket, release).claims_above(sequence):
            return  # a dead deploy's unhashed names wait for the next deploy (models/README.md, F1)
        for path, data in files.items():
            assert self.bucket.objects[path][0] == data, f"{path} is not {release}'s"

    @invariant()
    def a_good_release_can_always_still_go_live(self) -> None:
        """No claim, however many dead deploys left, blocks a fresh release (checked on a copy)."""
        copy = Bucket(dict(self.bucket.objects), self.bucket.writes)
        assert Deploy(copy, "fresh").run() == "deployed"


Protocol.TestCase.settings = settings(max_examples=400, stateful_step_count=30, deadline=None)
test_the_protocol_holds_under_crashes_retries_replays_and_lost_metadata = Protocol.TestCase
