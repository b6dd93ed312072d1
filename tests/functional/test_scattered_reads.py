"""A change scattered across the artifact is read in a few ranged GETs: gaps up to COALESCE_GAP are read
through (cheaper than a round trip), no GET holds more than GROUP_BYTES of members, and the first GET is
sized from the object size the S3 event carries."""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from typing import Any

import pytest

from staticsync.artifact.archive import COALESCE_GAP, GROUP_BYTES, Artifact
from staticsync.artifact.ranged import MAX_TAIL_HINT, TAIL_BYTES, BytesRange, S3Range, SparseFile, first_read
from staticsync.config import Settings
from staticsync.dispatch import object_sizes
from staticsync.model.contract import FILES_DIR, MANIFEST_NAME, RELEASE_NAME, ReleaseRecord

MEMBERS, MEMBER_BYTES = 10_000, 4096  # a 41 MB artifact: 100 changes spread evenly are 400 KB apart


def artifact_bytes(count: int, size: int) -> bytes:
    rng = random.Random(count)
    files = {f"img/{n // 100:03}/i{n:05}.png": rng.randbytes(size) for n in range(count)}
    manifest = json.dumps({"paths": {}, "version": "1.1"}).encode()
    digests = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    record = ReleaseRecord("r1", "2026-01-01T00:00:00Z", digests, hashlib.sha256(manifest).hexdigest())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path, data in sorted(files.items()):
            archive.writestr(FILES_DIR + path, data)
        archive.writestr(MANIFEST_NAME, manifest)
        archive.writestr(RELEASE_NAME, record.to_json(count * size))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def data() -> bytes:
    return artifact_bytes(MEMBERS, MEMBER_BYTES)


def reads_for(data: bytes, changed: int) -> tuple[int, list[str], dict[str, bytes]]:
    """GETs of the artifact's members to read `changed` files spread evenly across it."""
    source = BytesRange(data)
    artifact = Artifact(SparseFile(source), Settings(live_bucket="live"), None)
    artifact.file.forget_all()
    paths = sorted(artifact.record.files)
    wanted = paths[len(paths) // changed // 2 :: len(paths) // changed][:changed]
    before = source.reads
    files = {path: body for span in artifact.spans(wanted) for path, body in artifact.read_span(span)}
    return source.reads - before, wanted, files


@pytest.mark.parametrize("changed", [100, 5_000])
def test_a_scattered_change_costs_one_get_per_group_not_one_per_run(data: bytes, changed: int) -> None:
    reads, wanted, files = reads_for(data, changed)

    assert sorted(files) == wanted  # every file read, each checked against release.json
    assert reads <= len(data) // GROUP_BYTES + 1  # 6 for 41 MB, whatever the spread


def test_members_farther_apart_than_the_gap_are_fetched_apart(data: bytes) -> None:
    source = BytesRange(data)
    artifact = Artifact(SparseFile(source), Settings(live_bucket="live"), None)
    paths = sorted(artifact.record.files)
    [first] = artifact.spans(paths[:1])
    far = next(n for n, path in enumerate(paths) if artifact.offset_of(path) - first.end > COALESCE_GAP)

    assert len(artifact.spans([paths[0], paths[far]])) == 2
    assert len(artifact.spans([paths[0], paths[far - 1]])) == 1


def test_no_get_holds_more_than_group_bytes_of_members(data: bytes) -> None:
    artifact = Artifact(SparseFile(BytesRange(data)), Settings(live_bucket="live"), None)
    spans = artifact.spans(sorted(artifact.record.files))

    assert len(spans) > 1
    assert all(span.end - span.start <= GROUP_BYTES for span in spans)


def test_the_first_read_is_sized_from_the_events_object_size(moto_s3: Any) -> None:
    size = 64 * 1024 * 1024
    moto_s3.put_object(Bucket="artifacts", Key="staging/big.zip", Body=bytes(size))

    sized = S3Range(moto_s3, "artifacts", "staging/big.zip", size=size)
    unsized = S3Range(moto_s3, "artifacts", "staging/big.zip")

    assert len(sized.first) == TAIL_BYTES + size // 64  # 1/64 of a 1 GB artifact: its 12.5 MB tail and more
    assert len(unsized.first) == TAIL_BYTES
    assert first_read(TAIL_BYTES, 10 * 1024**3) == MAX_TAIL_HINT  # one read never holds more
    assert first_read(TAIL_BYTES, 300) == 300


def test_the_handler_passes_each_records_size() -> None:
    event = {
        "Records": [
            {"s3": {"bucket": {"name": "artifacts"}, "object": {"key": "staging/a+b.zip", "size": 7}}}
        ]
    }

    assert object_sizes(event) == {("artifacts", "staging/a b.zip"): 7}
    assert object_sizes({"Records": [{"s3": {"object": {"key": "k", "size": 0}}}]}) == {}


def test_the_first_read_is_handed_over_unless_it_is_the_whole_artifact(moto_s3: Any) -> None:
    moto_s3.put_object(Bucket="artifacts", Key="staging/big.zip", Body=bytes(3 * TAIL_BYTES))
    moto_s3.put_object(Bucket="artifacts", Key="staging/small.zip", Body=b"0123456789")
    big = S3Range(moto_s3, "artifacts", "staging/big.zip")
    small = S3Range(moto_s3, "artifacts", "staging/small.zip")

    assert [len(part) for part in big.initial_fragments().values()] == [TAIL_BYTES]
    assert big.first == b""  # the caller's fragments hold the only copy, freed when it forgets them
    assert small.initial_fragments() == {0: b"0123456789"}
    assert small.read_range(2, 5) == b"234"  # served from the whole first read, no request
