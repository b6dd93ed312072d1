"""Large members are read and uploaded in bounded pieces, and an opened artifact holds each path once."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from build_tool.build.pack import Packed
from staticsync.artifact import ranged as remote
from staticsync.artifact import stream
from staticsync.artifact.archive import Artifact
from staticsync.artifact.ranged import BytesRange, SparseFile
from staticsync.config import Settings
from staticsync.errors import ArtifactRejected
from staticsync.model.contract import FILES_DIR, RELEASE_NAME
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key

MiB = 1024 * 1024
SETTINGS = Settings(live_bucket="live")
VIDEO = random.Random(7).randbytes(12 * MiB)  # stored: already compressed
TEXT = b"".join(b"line %d of a long text file\n" % i for i in range(220_000))  # 6 MB, deflated
FILES = {"media/film.mp4": VIDEO, "docs/notes.txt": TEXT, "css/app.css": b"a { color: red; }\n"}


def open_packed(packed: Packed) -> Artifact:
    return Artifact(SparseFile(BytesRange(packed.path.read_bytes())), SETTINGS, None)


def test_a_member_larger_than_the_stream_size_is_uploaded_in_parts_never_read_whole(
    moto_s3: Any, make_artifact: Callable[..., Packed], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "STREAM_BYTES", MiB)
    reads: list[int] = []
    read_range = remote.S3Range.read_range

    def counted(self: remote.S3Range, start: int, end: int) -> bytes:
        reads.append(end - start)
        return read_range(self, start, end)

    monkeypatch.setattr(remote.S3Range, "read_range", counted)
    whole: list[str] = []
    read_file = Artifact.read_file
    monkeypatch.setattr(Artifact, "read_file", lambda self, path: whole.append(path) or read_file(self, path))
    key = stage_artifact(moto_s3, make_artifact(FILES, release="r1"))

    report = deploy_key(moto_s3, SETTINGS, key)

    assert report.outcome == "deployed"
    assert max(reads) < 2 * MiB  # pieces of 1 MiB, and the span of the small members (1.1 MB)
    assert not {"media/film.mp4", "docs/notes.txt"} & set(whole)
    for path, data in FILES.items():
        found = moto_s3.get_object(Bucket="live", Key=path)
        assert found["Body"].read() == data
        assert found["Metadata"]["sha256"]
    assert moto_s3.head_object(Bucket="live", Key="media/film.mp4")["ETag"].endswith('-2"')  # 8 + 4 MiB


def test_a_large_member_that_fails_its_check_is_never_completed(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    artifact = open_packed(make_artifact(FILES, release="r1"))
    artifact.record.files["media/film.mp4"] = "0" * 64  # what release.json would say of other bytes

    with pytest.raises(ArtifactRejected) as caught:
        stream.upload_member(moto_s3, SETTINGS, artifact, "media/film.mp4", {})

    assert caught.value.code == "checksum_mismatch"
    assert "Uploads" not in moto_s3.list_multipart_uploads(Bucket="live")  # aborted, not left behind
    assert "Contents" not in moto_s3.list_objects_v2(Bucket="live")


def test_a_deflated_member_inflates_in_pieces_no_larger_than_asked(
    make_artifact: Callable[..., Packed],
) -> None:
    packed = make_artifact(FILES, release="r1")
    assert (
        zipfile.ZipFile(packed.path).getinfo(FILES_DIR + "docs/notes.txt").compress_type
        == zipfile.ZIP_DEFLATED
    )
    artifact = open_packed(packed)

    pieces = list(stream.member_pieces(artifact, "docs/notes.txt", piece=4096))

    assert max(map(len, pieces)) <= 4096
    assert b"".join(pieces) == TEXT


def test_a_large_member_with_a_wrong_crc_is_rejected_after_its_last_piece(
    make_artifact: Callable[..., Packed],
) -> None:
    artifact = open_packed(make_artifact(FILES, release="r1"))
    artifact.directory.crcs[artifact.members["docs/notes.txt"]] ^= 0xFFFF

    with pytest.raises(ArtifactRejected) as caught:
        stream.check_member(artifact, "docs/notes.txt")
    assert caught.value.code == "corrupt_member"


def test_an_opened_artifact_holds_each_path_once_and_no_tail(make_artifact: Callable[..., Packed]) -> None:
    packed = make_artifact({f"css/f{i}.css": b"x%d" % i for i in range(50)}, release="r1")
    artifact = open_packed(packed)

    assert artifact.directory.names == []  # the directory's copy of the paths is dropped
    assert not artifact.file._fragments  # so is the tail
    paths = {id(path) for path in artifact.record.files}
    assert {id(path) for path in artifact.members} <= paths
    assert {id(path) for pair in artifact.manifest.items() for path in pair} <= paths
    assert artifact.release_bytes == zipfile.ZipFile(packed.path).read(RELEASE_NAME)
