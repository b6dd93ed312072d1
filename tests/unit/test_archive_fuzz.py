"""Fuzz the archive reader: damaged copies of a valid artifact (bit flips, truncations, splices,
overwritten central-directory bytes) are read the way a deploy reads them, and nothing but
ArtifactRejected ever comes out; whatever is accepted under the build tool's checksum is intact."""

from __future__ import annotations

import hashlib
import io
import json
import random
import zipfile
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from build_tool.build.pack import Packed
from staticsync.artifact.archive import Artifact
from staticsync.artifact.ranged import SparseFile
from staticsync.config import Settings
from staticsync.errors import ArtifactRejected
from staticsync.model.contract import MANIFEST_NAME, RELEASE_NAME
from tests.sites import build_version

SEED = 20261127
INPUTS = 10_000  # damaged artifacts; each is read twice (with and without the recorded checksum)
DOCUMENT_INPUTS = 2_000  # artifacts whose release.json or staticfiles.json is mangled
SETTINGS = Settings(live_bucket="live")


class RangeRefused(AssertionError):
    """A read S3 would refuse (416) or answer with the whole object (a reversed range)."""


class StrictRange:
    """Bytes in memory served like S3 ranged GETs: a range starting at or past the end is refused."""

    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)

    def read_range(self, start: int, end: int) -> bytes:
        if not 0 <= start < end or start >= self.size:
            raise RangeRefused(f"bytes={start}-{end - 1} of {self.size}")
        return self.data[start:end]


def flip_bits(data: bytearray, rng: random.Random) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return data


def truncate(data: bytearray, rng: random.Random) -> bytearray:
    return data[: rng.randrange(len(data))]


def splice(data: bytearray, rng: random.Random) -> bytearray:
    start, end = sorted(rng.sample(range(len(data)), 2))
    at = rng.randrange(len(data))
    return data[:at] + data[start:end] + data[at:]


def overwrite_directory(data: bytearray, rng: random.Random) -> bytearray:
    """A random byte in the central directory or the records just before it: where the structure is."""
    directory = max(data.rfind(b"PK\x01\x02") - 2000, 0)
    data[rng.randrange(directory, len(data))] = rng.randrange(256)
    return data


MUTATIONS: list[Callable[[bytearray, random.Random], bytearray]] = [
    flip_bits,
    truncate,
    splice,
    overwrite_directory,
]


def read_as_a_deploy_does(data: bytes, expected_release_sha256: str | None) -> dict[str, bytes]:
    """Open, validate, and read every file through coalesced ranges, as an upload would."""
    artifact = Artifact(SparseFile(StrictRange(data)), SETTINGS, expected_release_sha256)
    files: dict[str, bytes] = {}
    for span in artifact.spans(sorted(artifact.record.files)):
        files.update(artifact.read_span(span))
    return files


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> Packed:
    return build_version(tmp_path_factory.mktemp("fuzz"), 2)


def test_the_valid_artifact_reads_back_whole(valid: Packed) -> None:
    files = read_as_a_deploy_does(valid.path.read_bytes(), valid.release_sha256)
    assert sorted(files) == sorted(valid.record.files)


def test_damaged_artifacts_raise_nothing_but_artifact_rejected(valid: Packed) -> None:
    original = valid.path.read_bytes()
    pristine = read_as_a_deploy_does(original, valid.release_sha256)
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    for number in range(INPUTS):
        mutate = rng.choice(MUTATIONS)
        data = bytes(mutate(bytearray(original), rng))
        for expected in (None, valid.release_sha256):
            try:
                files = read_as_a_deploy_does(data, expected)
            except ArtifactRejected as error:
                outcomes[error.code] += 1
                continue
            except Exception as error:
                pytest.fail(f"input {number} ({mutate.__name__}, seed {SEED}) raised {error!r}")
            outcomes["accepted"] += 1
            if expected is not None:  # the chain of checksums held: every byte is the original's
                assert files == pristine, f"input {number} ({mutate.__name__}) was accepted but changed"

    print(f"{INPUTS} inputs, {sum(outcomes.values())} reads: {dict(outcomes.most_common())}")
    assert outcomes["accepted"] < INPUTS  # the mutations do break things
    assert len(outcomes) > 8  # and they reach many different checks


ODD_VALUES = [None, 0, -1, 10**30, 1.5, True, "", "x" * 300, "../..", [], {}, ["a"], {"a": 1}, "\u0000"]


def mangle(document: object, rng: random.Random) -> object:
    """Replace one value somewhere in a JSON document by a value of another shape."""
    if isinstance(document, dict) and document and rng.random() < 0.7:
        key = rng.choice(sorted(document))
        return {**document, key: mangle(document[key], rng)}
    if isinstance(document, list) and document and rng.random() < 0.7:
        at = rng.randrange(len(document))
        return [*document[:at], mangle(document[at], rng), *document[at + 1 :]]
    return rng.choice(ODD_VALUES)


def rezip(original: bytes, replaced: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info, replaced.get(info.filename) or source.read(info))
    return buffer.getvalue()


def mangled_artifact(original: bytes, documents: dict[str, Any], rng: random.Random) -> tuple[str, bytes]:
    """The artifact with one document mangled; a mangled manifest gets a record that vouches for it."""
    name = rng.choice(sorted(documents))
    mangled = json.dumps(mangle(documents[name], rng)).encode()
    if name == RELEASE_NAME:
        return name, rezip(original, {RELEASE_NAME: mangled})
    record = {**documents[RELEASE_NAME], "manifest_sha256": hashlib.sha256(mangled).hexdigest()}
    return name, rezip(original, {MANIFEST_NAME: mangled, RELEASE_NAME: json.dumps(record).encode()})


def test_mangled_release_records_and_manifests_raise_nothing_but_artifact_rejected(valid: Packed) -> None:
    original = valid.path.read_bytes()
    with zipfile.ZipFile(valid.path) as archive:
        documents = {name: json.loads(archive.read(name)) for name in (RELEASE_NAME, MANIFEST_NAME)}
    rng = random.Random(SEED)
    outcomes: Counter[str] = Counter()
    for number in range(DOCUMENT_INPUTS):
        name, data = mangled_artifact(original, documents, rng)
        try:
            read_as_a_deploy_does(data, None)
            outcomes["accepted"] += 1
        except ArtifactRejected as error:
            outcomes[error.code] += 1
        except Exception as error:
            pytest.fail(f"document input {number} (mangled {name}, seed {SEED}) raised {error!r}")

    print(f"{DOCUMENT_INPUTS} mangled documents: {dict(outcomes.most_common())}")
    assert len(outcomes) > 4
