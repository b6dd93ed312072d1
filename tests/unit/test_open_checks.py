"""Opening an artifact checks every entry all at once (table.all_clear, names.all_safe) and keys the
members by the record's order (table.packed_in_order): nothing passes all at once that the checks one
by one refuse, each refusal keeps its code, and the open holds no Python object a member beyond the
record's own."""

from __future__ import annotations

import hashlib
import io
import json
import random
import stat
import tracemalloc
import warnings
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from staticsync.artifact import zipdir
from staticsync.artifact.archive import Artifact
from staticsync.artifact.members import check_each
from staticsync.artifact.ranged import BytesRange, SparseFile
from staticsync.artifact.table import all_clear, check_entries, keyed_members, packed_in_order
from staticsync.artifact.zipdir import Directory, read_directory
from staticsync.config import Settings
from staticsync.errors import ArtifactRejected
from staticsync.model.contract import FILES_DIR, MANIFEST_NAME, RELEASE_NAME, ReleaseRecord
from staticsync.model.names import all_safe, hashed_name, unsafe_path_reason

SETTINGS = Settings(live_bucket="live", live_prefix="site/")
TAIL = [MANIFEST_NAME, RELEASE_NAME]


def directory_of(names: list[str], data: bytes = b"body", mode: int = 0o100644, **info: int) -> Directory:
    """The central directory of a zip holding `names` (each with `data`), as the Lambda reads it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name": the tables under test have them
        for name in names:
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr, entry.compress_type = mode << 16, zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    raw = bytearray(buffer.getvalue())
    directory = read_directory(lambda start, end: bytes(raw[start:end]), len(raw))
    for column, value in info.items():  # flags or methods, rewritten in the table as a zip could say
        getattr(directory, column)[0] = value
    return directory


def code_one_by_one(directory: Directory) -> str | None:
    try:
        check_each(directory, SETTINGS)
    except ArtifactRejected as error:
        return error.code
    return None


def test_a_well_formed_table_passes_all_at_once() -> None:
    names = [f"{FILES_DIR}données/画像/f{i}.css" for i in range(50)] + [
        f"{FILES_DIR}a{i}.js" for i in range(50)
    ]
    directory = directory_of([*names, *TAIL])
    assert all_clear(directory, SETTINGS)
    check_entries(directory, SETTINGS)


LONG = "x" * (1024 - len("site/") + 1)


@pytest.mark.parametrize(
    ("names", "code"),
    [
        ([f"{FILES_DIR}../x.css"], "unsafe_path"),
        ([f"{FILES_DIR}a/./x.css"], "unsafe_path"),
        ([f"{FILES_DIR}a//x.css"], "unsafe_path"),
        ([f"{FILES_DIR}a\\x.css"], "unsafe_path"),
        ([f"/{FILES_DIR}x.css"], "unsafe_path"),
        (["C:/x.css"], "unsafe_path"),
        ([f"{FILES_DIR}C:/x.css"], "unsafe_path"),
        ([f"{FILES_DIR}a\x85.css"], "unsafe_path"),
        ([f"{FILES_DIR}e\u0301.css"], "unsafe_path"),  # not NFC
        ([f"{FILES_DIR}dir/"], "unsafe_path"),
        # A newline would split one name into two safe lines if the names were not counted.
        ([f"{FILES_DIR}a.css\n{FILES_DIR}b.css"], "unsafe_path"),
        ([f"{FILES_DIR}a.css", f"{FILES_DIR}a.css"], "duplicate_member"),
        ([RELEASE_NAME, RELEASE_NAME], "duplicate_member"),
        (["elsewhere/x.css"], "unexpected_member"),
        ([f"{FILES_DIR}{LONG}"], "key_too_long"),
    ],
)
def test_an_unsafe_table_fails_all_at_once_and_one_by_one_with_its_code(names: list[str], code: str) -> None:
    directory = directory_of([f"{FILES_DIR}ok.css", *names, *TAIL])
    assert not all_clear(directory, SETTINGS)
    with pytest.raises(ArtifactRejected) as raised:
        check_entries(directory, SETTINGS)
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"mode": stat.S_IFLNK | 0o777}, "not_a_file"),
        ({"flags": 0x1}, "unsupported_member"),  # encrypted
        ({"methods": 12}, "unsupported_member"),  # bzip2
        ({"data": b"\0" * 2_000_000}, "compression_ratio"),
    ],
)
def test_an_entry_the_contract_refuses_fails_all_at_once_and_one_by_one(change: dict, code: str) -> None:
    directory = directory_of([f"{FILES_DIR}x.css", *TAIL], **change)
    assert not all_clear(directory, SETTINGS)
    with pytest.raises(ArtifactRejected) as raised:
        check_entries(directory, SETTINGS)
    assert raised.value.code == code


def test_a_member_over_the_size_limit_fails_all_at_once() -> None:
    directory = directory_of([f"{FILES_DIR}x.css", *TAIL], data=b"x" * 100)
    small = Settings(live_bucket="live", max_member_bytes=99)
    assert not all_clear(directory, small)
    with pytest.raises(ArtifactRejected, match="MAX_MEMBER_BYTES"):
        check_entries(directory, small)


PIECES = [
    "static/",
    "/",
    ".",
    "..",
    "a",
    "C:",
    "é",
    "e\u0301",
    "\\",
    "\x85",
    "\x7f",
    "画",
    "\n",
    ":",
    "release.json",
]
NAMES = st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join)
SAFE = st.sampled_from(
    [f"{FILES_DIR}a.css", f"{FILES_DIR}é/画.js", f"{FILES_DIR}.a/..b", RELEASE_NAME, MANIFEST_NAME]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(NAMES, SAFE, SAFE), min_size=1, max_size=5))
def test_all_at_once_passes_exactly_what_one_by_one_passes(names: list[str]) -> None:
    directory = directory_of(names)
    # zipfile flags every non-ASCII name as UTF-8: the fast path always has a verdict here.
    assert all_clear(directory, SETTINGS) == (code_one_by_one(directory) is None)


@settings(max_examples=1000)
@given(st.lists(NAMES.filter(lambda name: "\n" not in name), max_size=6))
def test_all_safe_answers_as_unsafe_path_reason_on_each_line(paths: list[str]) -> None:
    assert all_safe("".join(f"{path}\n" for path in paths)) == all(
        unsafe_path_reason(p) is None for p in paths
    )


@pytest.mark.parametrize(
    "names",
    [
        [f"{FILES_DIR}a.css", f"{FILES_DIR}b.css", *TAIL],  # the build tool's order
        [f"{FILES_DIR}b.css", f"{FILES_DIR}a.css", *TAIL],  # another order
        [f"{FILES_DIR}a.css", *TAIL, f"{FILES_DIR}b.css"],  # a file after the tail
        [f"{FILES_DIR}a.css", *TAIL],  # a delta: b.css inherited
        [f"{FILES_DIR}a.css", f"{FILES_DIR}b.css", f"{FILES_DIR}c.css", *TAIL],  # c.css not listed
    ],
)
def test_keying_members_in_the_records_order_agrees_with_keying_them_one_by_one(names: list[str]) -> None:
    files = {"a.css": "0" * 64, "b.css": "1" * 64}
    fast = keyed_members(directory_of(names), files)
    directory = directory_of(names)
    directory.names.uniform = lambda: False  # type: ignore[method-assign]  # the general path
    assert fast == keyed_members(directory, files)
    in_order = names[:2] == [f"{FILES_DIR}a.css", f"{FILES_DIR}b.css"] and FILES_DIR not in "".join(names[2:])
    assert (packed_in_order(directory_of(names), files) is not None) == in_order


def test_a_record_path_holding_a_newline_is_not_taken_for_two_members() -> None:
    names = [f"{FILES_DIR}a.css", f"{FILES_DIR}b.css", *TAIL]
    assert packed_in_order(directory_of(names), {f"a.css\n{FILES_DIR}b.css": "0" * 64}) is None


def test_checking_20000_names_holds_no_string_a_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # One by one, every name was decoded and kept in a set (about 150 bytes a name here); all at once,
    # the names are decoded a piece at a time and compared in order, so the checks' peak is a piece's.
    monkeypatch.setattr(zipdir, "TEXT_PIECE", 16 * 1024)
    names = [f"{FILES_DIR}app{i % 7}/données{i % 11}/f{i:06}.css" for i in range(20_000)]
    directory = directory_of(sorted(names) + TAIL)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        check_entries(directory, SETTINGS)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(names), f"{peak / len(names):.0f} bytes a name at the checks' peak"


def synthetic(sources: int) -> tuple[bytes, str]:
    """A zip as build_tool packs it: `sources` files under folders with non-ASCII names, each with its
    hashed copy; and its release.json's SHA-256."""
    rng = random.Random(sources)
    tree: dict[str, bytes] = {}
    manifest: dict[str, str] = {}
    for index in range(sources):
        name = f"app{index % 7}/données{index % 11}/画像{index % 13}/f{index:06}.css"
        data = rng.randbytes(64).hex().encode()
        manifest[name] = hashed_name(name, data)
        tree[name] = tree[manifest[name]] = data
    manifest_bytes = json.dumps({"paths": manifest, "version": "1.1"}).encode()
    digests = {path: hashlib.sha256(data).hexdigest() for path, data in tree.items()}
    record = ReleaseRecord("r1", "2026-01-01T00:00:00Z", digests, hashlib.sha256(manifest_bytes).hexdigest())
    release_bytes = record.to_json(sum(map(len, tree.values())))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(tree):
            archive.writestr(FILES_DIR + path, tree[path])
        archive.writestr(MANIFEST_NAME, manifest_bytes)
        archive.writestr(RELEASE_NAME, release_bytes)
    return buffer.getvalue(), hashlib.sha256(release_bytes).hexdigest()


# Per file, what the open may hold at its peak: the record (a path of about 45 characters and its
# digest, as strings, and their dict entry: about 380 bytes), the manifest's bytes and table, the member
# table. The checks one by one, a set of every name and its copies, took the peak to about 670.
PEAK_BYTES_PER_FILE = 760


def test_opening_an_artifact_of_20000_files_holds_no_python_object_a_member_beyond_the_record() -> None:
    data, release_sha256 = synthetic(10_000)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        artifact = Artifact(SparseFile(BytesRange(data)), SETTINGS, release_sha256)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    files = len(artifact.record.files)
    assert files == 20_000
    assert peak / files < PEAK_BYTES_PER_FILE, f"{peak / files:.0f} bytes a file at the open's peak"
