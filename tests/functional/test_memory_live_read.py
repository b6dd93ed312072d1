"""Reading the live state beside an opened artifact holds nothing twice: a live manifest with the
artifact's bytes is the artifact's own bytes object, and the live record's line 1 is streamed (its
manifest line is never read whole); a no-change redeploy makes a fixed number of requests."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from botocore.response import StreamingBody

from build_tool.build.pack import Packed
from staticsync.artifact.archive import Artifact
from staticsync.artifact.ranged import BytesRange, SparseFile
from staticsync.config import Settings
from staticsync.deploy import run as sync
from staticsync.live import state
from staticsync.live.state import Known, first_line, read_live, same_or_read
from staticsync.meter import RequestMeter
from staticsync.model.contract import ReleaseView
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key

SETTINGS = Settings(live_bucket="live")
FILES = {f"css/f{i:03}.css": f".c{i} {{ color: #{i:03x}; }}\n".encode() * 50 for i in range(12)}


def body(data: bytes, raw: io.BytesIO | None = None) -> StreamingBody:
    raw = raw or io.BytesIO(data)
    return StreamingBody(raw, len(data))


def opened(packed: Packed) -> Known:
    artifact = Artifact(SparseFile(BytesRange(packed.path.read_bytes())), SETTINGS, packed.release_sha256)
    view = ReleaseView(artifact.record, artifact.manifest_bytes, artifact.manifest, artifact.inherited)
    return Known(packed.release_sha256, view)


def test_a_live_manifest_with_the_artifacts_bytes_is_the_artifacts_own_bytes_object(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    r1 = make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z")
    deploy_key(moto_s3, SETTINGS, stage_artifact(moto_s3, r1), size=r1.size)
    known = opened(r1)
    live = read_live(moto_s3, SETTINGS, known)
    assert live.manifest_bytes is known.view.manifest_bytes
    assert live.record is known.view.record and live.manifest is known.view.manifest


@pytest.mark.parametrize(
    ("mine", "sent"),
    [
        (b"abcdef", b"abcdef"),
        (b"abcdef", b"abcdeX"),
        (b"abcdef", b"abcdefg"),  # longer
        (b"abcdef", b"abc"),  # shorter
        (b"abcdef", b""),
        (None, b"abc"),
    ],
)
def test_a_body_is_the_bytes_in_memory_only_when_it_has_exactly_them(
    monkeypatch: pytest.MonkeyPatch, mine: bytes | None, sent: bytes
) -> None:
    monkeypatch.setattr(state, "READ_PIECE", 2)  # compared piece by piece
    got = same_or_read(body(sent), mine)
    assert got == sent
    assert (got is mine) == (mine == sent)


def history(line1: bytes, rest: int) -> bytes:
    return line1 + b"\n" + b"m" * rest + b"\n"


def test_the_live_records_first_line_is_read_and_a_large_manifest_line_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state, "READ_PIECE", 1024)
    line = b'{"release": "r1"}'
    large = io.BytesIO(history(line, 4 * state.DRAIN_BYTES))
    assert first_line(body(large.getvalue(), large), None) == line
    assert large.closed  # the rest is dropped with the connection, unread
    small = io.BytesIO(history(line, 100))
    assert first_line(body(small.getvalue(), small), None) == line
    assert small.tell() == len(small.getvalue())  # drained: the connection is kept


def test_a_first_line_with_the_known_digest_is_not_returned() -> None:
    import hashlib

    line = b'{"release": "r1"}'
    assert first_line(body(history(line, 10)), hashlib.sha256(line).hexdigest()) is None
    assert first_line(body(history(line, 10)), "0" * 64) == line
    assert first_line(body(line), None) == line  # no newline: all of it


def test_a_no_change_redeploy_of_a_large_artifact_makes_six_requests_and_parses_nothing_twice(
    moto_s3: Any, make_artifact: Callable[..., Packed], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As an artifact over BESIDE_BYTES: the live state is read after the open, from what it opened.
    monkeypatch.setattr(sync, "BESIDE_BYTES", 1)
    r1 = make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z")
    deploy_key(moto_s3, SETTINGS, stage_artifact(moto_s3, r1), size=r1.size)
    again = f"staging/{r1.record.release}-again.zip"
    moto_s3.copy_object(
        Bucket="artifacts", Key=again, CopySource={"Bucket": "artifacts", "Key": stage_artifact(moto_s3, r1)}
    )
    parsed: list[bytes] = []
    monkeypatch.setattr(state, "parse_release", lambda data: parsed.append(data))
    monkeypatch.setattr(state, "parse_manifest", lambda data: parsed.append(data))
    meter = RequestMeter()
    meter.attach(moto_s3)
    report = deploy_key(moto_s3, SETTINGS, again, meter=meter, size=r1.size)
    assert report.outcome == "unchanged"
    # The artifact (whole), the live manifest, the live record, the journal place after the live one,
    # the HEAD of the release's own record.
    assert meter.by_operation() == {"GetObject": 4, "HeadObject": 1}
    assert parsed == []
