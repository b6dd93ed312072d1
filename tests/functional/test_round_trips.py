"""A deploy's sequential round trips: what does not depend on another request is sent beside it.

Each test makes one request wait (up to WAIT seconds) until the request it should run beside has
started. Run one after the other, the first would wait in vain and the test fails; no wall time is
asserted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from build_tool.build.pack import Packed
from staticsync.artifact.ranged import TAIL_BYTES, TAIL_SHARE, WHOLE_READ_BYTES, first_read
from staticsync.config import Settings
from staticsync.deploy import run as sync
from staticsync.meter import RequestMeter
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key

SETTINGS = Settings(live_bucket="live")
FILES = {f"css/f{i:03}.css": f".c{i} {{ color: #{i:03x}; }}\n".encode() * 50 for i in range(12)}
WAIT = 5.0


class Rendezvous:
    """Holds back requests matching `waits` until one matching `sign` has been sent; records whether
    each waiter saw it in time."""

    def __init__(self, client: Any, waits: Callable[[str, str], bool], sign: Callable[[str, str], bool]):
        self.waits, self.sign = waits, sign
        self.started = threading.Event()
        self.seen: list[bool] = []
        client.meta.events.register("before-call.s3", self._before)

    def _before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        path = params.get("url_path", "")
        if self.sign(model.name, path):
            self.started.set()
        elif self.waits(model.name, path):
            self.seen.append(self.started.wait(WAIT))


def deploy(client: Any, packed: Packed, size: bool = True) -> tuple[SyncReport, dict[str, int]]:
    return run(client, stage_artifact(client, packed), packed.size if size else None)


def run(client: Any, key: str, size: int | None) -> tuple[SyncReport, dict[str, int]]:
    meter = RequestMeter()
    meter.attach(client)
    report = deploy_key(client, SETTINGS, key, meter=meter, size=size)
    client.meta.events.unregister("request-created.s3", meter._count)
    return report, meter.by_operation()


def changed(release: str) -> dict[str, bytes]:
    return {**FILES, "css/f003.css": f".changed-{release} {{ color: red; }}\n".encode()}


def test_the_live_state_is_read_beside_the_artifacts_first_read(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    deploy(moto_s3, make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z"))
    packed = make_artifact(changed("r2"), release="r2", created_at="2026-01-02T00:00:00Z")
    key = stage_artifact(moto_s3, packed)
    meeting = Rendezvous(
        moto_s3,
        waits=lambda op, path: op == "GetObject" and path.startswith("/staging/"),
        sign=lambda op, path: op == "GetObject" and path == "/staticfiles.json",
    )
    report, _ = run(moto_s3, key, packed.size)
    assert report.outcome == "deployed"
    assert meeting.seen == [True]


def test_a_large_artifacts_live_state_is_read_after_its_first_read_not_beside_it(
    moto_s3: Any, make_artifact: Callable[..., Packed], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beside it, the artifact's open and the live record's parse would add their memory peaks.
    deploy(moto_s3, make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z"))
    monkeypatch.setattr(sync, "BESIDE_BYTES", 1)
    packed = make_artifact(changed("r2"), release="r2", created_at="2026-01-02T00:00:00Z")
    key = stage_artifact(moto_s3, packed)
    threads: dict[str, str] = {}

    def note(params: dict[str, Any], **_: Any) -> None:
        threads.setdefault(params["url_path"], threading.current_thread().name)

    moto_s3.meta.events.register("before-call.s3", note)
    report, _ = run(moto_s3, key, packed.size)
    assert report.outcome == "deployed"
    # In the deploy's own thread, after the artifact's checks: not beside the first read.
    assert threads["/staticfiles.json"] == threads[f"/{key}"] == threading.current_thread().name


def test_the_history_is_written_beside_the_journal_claim(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    deploy(moto_s3, make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z"))
    meeting = Rendezvous(
        moto_s3,
        waits=lambda op, path: op == "PutObject" and path.startswith("/.releases/journal/"),
        sign=lambda op, path: op == "PutObject" and path.startswith("/.releases/r2/"),
    )
    report, _ = deploy(moto_s3, make_artifact(changed("r2"), release="r2", created_at="2026-01-02T00:00:00Z"))
    assert report.outcome == "deployed"
    assert meeting.seen == [True]


def test_the_journal_claim_is_sent_only_once_every_content_addressed_name_is_written(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    # A claim beside them would outlive an artifact those writes reject (issue 16: 16 such claims
    # blocked every later deploy).
    deploy(moto_s3, make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z"))
    events: list[tuple[str, str]] = []

    def sent(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["path"] = params["url_path"]
        if model.name == "PutObject":
            events.append(("sent", params["url_path"]))

    def answered(model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name == "PutObject":
            events.append(("answered", context["path"]))

    moto_s3.meta.events.register("before-call.s3", sent)
    moto_s3.meta.events.register("after-call.s3", answered)
    report, _ = deploy(moto_s3, make_artifact(changed("r2"), release="r2", created_at="2026-01-02T00:00:00Z"))
    assert report.outcome == "deployed"
    claim = events.index(next(e for e in events if e[0] == "sent" and e[1].startswith("/.releases/journal/")))
    must_precede = [e for e in events if e[0] == "answered" and _before_claim(e[1])]
    assert len(must_precede) == 1  # the new hashed copy
    assert all(events.index(e) < claim for e in must_precede)
    assert events.index(("sent", "/css/f003.css")) > claim  # the unhashed name only once claimed


def _before_claim(path: str) -> bool:
    return path.startswith("/css/f003.") and path.count(".") >= 2


def test_the_claims_after_the_live_place_and_the_release_s_own_record_are_read_beside_the_live_record(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    deploy(moto_s3, make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z"))
    meeting = Rendezvous(
        moto_s3,
        waits=lambda op, path: op == "GetObject" and path.startswith("/.releases/r1/"),
        sign=lambda op, path: op == "GetObject" and path.startswith("/.releases/journal/"),
    )
    own = Rendezvous(
        moto_s3,
        waits=lambda op, path: op == "GetObject" and path.startswith("/.releases/r1/"),
        sign=lambda op, path: op == "HeadObject" and path.startswith("/.releases/r2/"),
    )
    report, _ = deploy(moto_s3, make_artifact(changed("r2"), release="r2", created_at="2026-01-02T00:00:00Z"))
    assert report.outcome == "deployed"
    assert meeting.seen == own.seen == [True]


def test_a_small_artifact_is_read_whole_by_the_first_get_so_a_change_of_k_files_costs_k_plus_8(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    deploy(moto_s3, make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z"))
    packed = make_artifact(changed("r2"), release="r2", created_at="2026-01-02T00:00:00Z")
    report, operations = deploy(moto_s3, packed)
    assert report.outcome == "deployed" and report.files_uploaded == 2
    # The artifact (whole), the live manifest, the live record, the journal place after the live
    # one (free), the HEAD of the release's own record (none yet); two files, history, journal claim,
    # cutover.
    assert operations == {"GetObject": 4, "HeadObject": 1, "PutObject": 5}
    assert report.s3_requests == report.files_uploaded + 8


def test_an_artifact_the_first_read_does_not_hold_reads_its_members_by_range(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    # Without the event's size the first read is the 1 MiB tail: a larger artifact's members are
    # then one more ranged GET (k + 9).
    noise = {f"img/n{i:03}.png": bytes([i % 251]) * 40_000 + i.to_bytes(4, "big") for i in range(40)}
    deploy(moto_s3, make_artifact({**FILES, **noise}, release="r1", created_at="2026-01-01T00:00:00Z"))
    packed = make_artifact({**changed("r2"), **noise}, release="r2", created_at="2026-01-02T00:00:00Z")
    assert packed.size > TAIL_BYTES
    report, operations = deploy(moto_s3, packed, size=False)
    assert report.outcome == "deployed" and report.files_uploaded == 2
    assert operations == {"GetObject": 5, "HeadObject": 1, "PutObject": 5}


def test_the_first_read_takes_a_small_artifact_whole_and_a_large_ones_tail() -> None:
    assert first_read(TAIL_BYTES, WHOLE_READ_BYTES) == WHOLE_READ_BYTES
    larger = WHOLE_READ_BYTES + 1
    assert first_read(TAIL_BYTES, larger) == TAIL_BYTES + larger // TAIL_SHARE < larger


def test_a_live_record_and_manifest_with_the_artifacts_bytes_are_taken_from_it_not_parsed_again(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    from staticsync.artifact.archive import Artifact
    from staticsync.artifact.ranged import BytesRange, SparseFile
    from staticsync.live.state import Known, read_live
    from staticsync.model.contract import ReleaseView

    def opened(packed: Packed) -> Known:
        artifact = Artifact(SparseFile(BytesRange(packed.path.read_bytes())), SETTINGS, packed.release_sha256)
        view = ReleaseView(artifact.record, artifact.manifest_bytes, artifact.manifest, artifact.inherited)
        return Known(packed.release_sha256, view)

    r1 = make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z")
    deploy(moto_s3, r1)
    same, other = opened(r1), opened(make_artifact(changed("r2"), release="r2"))
    live = read_live(moto_s3, SETTINGS, same)
    assert live.record is same.view.record and live.manifest is same.view.manifest
    parsed = read_live(moto_s3, SETTINGS, other)
    assert parsed.record is not other.view.record and parsed.manifest is not other.view.manifest
    assert (parsed.record, parsed.manifest) == (live.record, live.manifest)
