"""How a deploy reads and writes: few requests for a small change, bounded memory for a large one."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from build_tool.build.pack import Packed
from staticsync.artifact.archive import Artifact
from staticsync.config import Settings
from staticsync.deploy import execute, upload
from staticsync.live.state import HISTORY_NAME, history_body
from staticsync.meter import RequestMeter
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key

SETTINGS = Settings(live_bucket="live")
FILES = {f"css/f{i:03}.css": f".c{i} {{ color: #{i:03x}; }}\n".encode() * 50 for i in range(40)}


def deploy(client: Any, packed: Packed) -> tuple[SyncReport, dict[str, int]]:
    key = stage_artifact(client, packed)
    meter = RequestMeter()
    meter.attach(client)
    report = deploy_key(client, SETTINGS, key, meter=meter)
    client.meta.events.unregister("request-created.s3", meter._count)
    return report, meter.by_operation()


def live_files(client: Any, paths: list[str]) -> dict[str, bytes]:
    return {p: client.get_object(Bucket="live", Key=p)["Body"].read() for p in paths}


def test_a_one_file_change_reads_its_hashed_and_unhashed_members_in_one_get(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    deploy(moto_s3, make_artifact(FILES, release="r1", created_at="2026-01-01T00:00:00Z"))
    changed = {**FILES, "css/f007.css": b".changed { color: red; }\n"}
    report, operations = deploy(
        moto_s3, make_artifact(changed, release="r2", created_at="2026-01-02T00:00:00Z")
    )
    assert report.outcome == "deployed"
    assert report.files_uploaded == 2  # the unhashed name and the new hashed one
    # The artifact (read whole: it is small), the live manifest, the live record, the journal place
    # after the live one (free), the release's own record (none); two files, the history, the journal
    # entry and the cutover.
    assert operations == {"GetObject": 4, "HeadObject": 1, "PutObject": 5}
    assert report.s3_requests == report.files_uploaded + 8


@pytest.mark.parametrize(
    ("preverify", "passes"),
    [(0, 2), (60_000, 1)],  # unhashed files (56 KB) read again, or kept from the first pass
    ids=["unhashed-too-large-to-keep", "unhashed-kept"],
)
def test_a_plan_too_large_to_hold_is_streamed_within_the_byte_budget(
    moto_s3: Any,
    make_artifact: Callable[..., Packed],
    monkeypatch: pytest.MonkeyPatch,
    preverify: int,
    passes: int,
) -> None:
    monkeypatch.setattr(execute, "PREVERIFY_BYTES", preverify)
    monkeypatch.setattr(upload, "IN_FLIGHT_BYTES", 4096)
    peak = 0
    acquire = upload.ByteBudget.acquire

    def watched(self: upload.ByteBudget, size: int) -> None:
        nonlocal peak
        acquire(self, size)
        peak = max(peak, self.used)

    monkeypatch.setattr(upload.ByteBudget, "acquire", watched)
    reads: Counter[str] = Counter()
    read_file = Artifact.read_file

    def counted(self: Artifact, path: str) -> bytes:
        reads[path] += 1
        return read_file(self, path)

    monkeypatch.setattr(Artifact, "read_file", counted)
    report, operations = deploy(moto_s3, make_artifact(FILES, release="r1"))
    assert report.outcome == "deployed"
    assert report.files_uploaded == report.files_total == 80
    assert 0 < peak <= 4096
    assert live_files(moto_s3, list(FILES)) == FILES
    # Each unhashed file is read once per pass, each hashed one once; the artifact (120 KB) was read
    # whole by the first GET, so the passes cost no request: the artifact, the (missing) manifest and
    # the HEAD of the release's (missing) record.
    assert {reads[path] for path in FILES} == {passes}
    assert set(reads.values()) == {1, passes}
    assert (operations["GetObject"], operations["HeadObject"]) == (2, 1)


def test_streamed_spans_are_cut_into_contiguous_pieces_at_member_boundaries(
    make_artifact: Callable[..., Packed],
) -> None:
    from staticsync.artifact.archive import Artifact
    from staticsync.artifact.ranged import BytesRange, SparseFile

    packed = make_artifact(FILES, release="r1")
    artifact = Artifact(SparseFile(BytesRange(packed.path.read_bytes())), SETTINGS, None)
    [span] = artifact.spans(sorted(artifact.record.files))
    cut = upload.pieces(artifact, span, limit=1000)  # the zip is about 7 KB
    assert len(cut) > 3
    assert [p for piece in cut for p in piece.paths] == list(span.paths)
    assert (cut[0].start, cut[-1].end) == (span.start, span.end)
    assert all(a.end == b.start for a, b in zip(cut, cut[1:], strict=False))
    assert all(dict(artifact.read_span(piece)).keys() == set(piece.paths) for piece in cut)


def test_the_history_object_holds_the_record_then_the_manifest_one_per_line(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    packed = make_artifact(FILES, release="r1")
    deploy(moto_s3, packed)
    key = SETTINGS.history_key("r1", HISTORY_NAME)
    record, manifest = moto_s3.get_object(Bucket="live", Key=key)["Body"].read().splitlines()
    assert json.loads(record)["release"] == "r1"
    assert manifest == moto_s3.get_object(Bucket="live", Key="staticfiles.json")["Body"].read()


@pytest.mark.parametrize(
    ("record", "manifest", "expected"),
    [
        (b'{"a": 1}', b'{"paths": {}}', b'{"a": 1}\n{"paths": {}}\n'),
        (b'{\n  "a": 1\n}\n', b'{"paths":\r\n {}}', b'{"a":1}\n{"paths":{}}\n'),
    ],
)
def test_history_lines_are_the_documents_verbatim_unless_they_span_lines(
    record: bytes, manifest: bytes, expected: bytes
) -> None:
    assert history_body(record, manifest) == expected
