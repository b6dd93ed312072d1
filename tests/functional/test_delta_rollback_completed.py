"""A delta completed by its base chain (staticsync.operations.chain and .completed), in moto: the full
artifact of its release, read by ranges of the retained artifacts, every byte checked against its record."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from build_tool.aws.staging import stage
from staticsync.artifact.archive import Artifact
from staticsync.artifact.ranged import SparseFile
from staticsync.config import Settings
from staticsync.errors import ArtifactRejected
from staticsync.model.contract import FILES_DIR, META_RELEASE_SHA256, RELEASE_NAME
from staticsync.operations.chain import NotRetained, completed, open_holder
from tests.artifacts import build, read_packed, stage_artifact
from tests.deltas import chain
from tests.sites import SHARED, build_version, collected, commit, created_at, site

SETTINGS = Settings(live_bucket="live", artifacts_bucket="artifacts")


@pytest.fixture
def packed(tmp_path: Path) -> dict[int, Any]:
    """v1 full, v2 a delta of v1, v3 a delta of v2."""
    return chain(tmp_path, range(2, 4))


def stage_all(client: Any, packed: dict[int, Any]) -> None:
    for version in packed.values():
        stage_artifact(client, version)


def complete_v3(client: Any) -> Any:
    delta = open_holder(client, SETTINGS, "artifacts", "staging/v3.zip")
    return completed(client, SETTINGS, "artifacts", delta, "s3://artifacts/staging/v3.zip")


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_delta_of_a_delta_of_a_full_build_completes_to_exactly_the_full_build_of_its_release(
    moto_s3: Any, packed: dict[int, Any], tmp_path: Path
) -> None:
    stage_all(moto_s3, packed)
    (tmp_path / "v3-full").mkdir()
    full = build_version(tmp_path / "v3-full", 3)
    source = complete_v3(moto_s3)

    artifact = Artifact(
        SparseFile(source, source.initial_fragments()), SETTINGS, source.metadata[META_RELEASE_SHA256]
    )

    expected = members(full.path)
    assert artifact.release_bytes == expected[RELEASE_NAME]  # the record a full build writes, byte for byte
    assert source.metadata[META_RELEASE_SHA256] == full.release_sha256
    assert artifact.record.base is None and not artifact.inherited
    files = {path: artifact.read_file(path) for path in artifact.record.files}
    assert files == {
        name[len(FILES_DIR) :]: data for name, data in expected.items() if name.startswith(FILES_DIR)
    }
    # The shared files come from v1's artifact through v2's inheritance; v3's own from v3's.
    assert source.inherited == dict.fromkeys(source.inherited, "s3://artifacts/staging/v1.zip")
    assert "css/base.css" in source.inherited and "js/app.js" not in source.inherited
    assert zipfile.ZipFile(packed[3].path).namelist() != list(expected)  # v3's own zip is a delta


def test_a_base_artifact_staged_again_with_other_bytes_under_the_same_record_is_refused_on_read(
    moto_s3: Any, packed: dict[int, Any], tmp_path: Path
) -> None:
    stage_all(moto_s3, packed)
    other = b"body { display: none }\n".ljust(len(SHARED["css/base.css"]))  # same size, other bytes
    tampered = tamper(packed[1].path, tmp_path / "v1-tampered.zip", "css/base.css", other)
    stage(moto_s3, read_packed(tampered), "artifacts", "staging/v1.zip")  # its own release.json kept
    source = complete_v3(moto_s3)

    with pytest.raises(ArtifactRejected) as caught:
        source.check_inherited(SETTINGS)

    assert (caught.value.code, caught.value.member) == ("checksum_mismatch", "css/base.css")


def test_a_base_artifact_of_another_build_under_the_base_s_key_is_refused_before_any_read(
    moto_s3: Any, packed: dict[int, Any], tmp_path: Path
) -> None:
    stage_all(moto_s3, packed)
    tree = collected({**site(1), "css/base.css": b"p { color: red }\n"})  # another build named v1
    stage_artifact(moto_s3, build(tree, tmp_path / "other-v1.zip", "v1", created_at(1), commit(1)))

    with pytest.raises(NotRetained, match="lists other bytes for it than v3's record"):
        complete_v3(moto_s3)


def test_a_base_artifact_that_is_gone_ends_the_chain_with_a_clear_refusal(
    moto_s3: Any, packed: dict[int, Any]
) -> None:
    stage_all(moto_s3, packed)
    moto_s3.delete_object(Bucket="artifacts", Key="staging/v1.zip")

    with pytest.raises(
        NotRetained, match=r"inherits files from v1, whose artifact s3://artifacts/staging/v1.zip is gone"
    ):
        complete_v3(moto_s3)


def tamper(source: Path, out: Path, path: str, data: bytes) -> Path:
    """`source` with the member `path` replaced by `data`, everything else (release.json too) as it was."""
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(out, "w") as after:
        for info in before.infolist():
            body = data if info.filename == FILES_DIR + path else before.read(info)
            after.writestr(info, body)
    assert hashlib.sha256(members(out)[RELEASE_NAME]).hexdigest() == read_packed(source).release_sha256
    return out
