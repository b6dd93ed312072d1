"""Hostile and broken artifacts, through the Lambda's real path (moto): each is rejected with a stable
reason naming the offending member, tagged so it is not processed again, not raised (so Lambda does
not retry it), and the live bucket, where an older release is live, is not touched."""

from __future__ import annotations

import hashlib
import io
import json
import os
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from staticsync.artifact.archive import Artifact
from staticsync.artifact.members import check_key_length
from staticsync.artifact.ranged import S3Range, SparseFile
from staticsync.check import check_live
from staticsync.config import Settings
from staticsync.errors import ArtifactGone, ArtifactRejected, TransientReadError
from staticsync.meter import RequestMeter
from staticsync.model.contract import (
    FILES_DIR,
    MANIFEST_NAME,
    META_RELEASE_SHA256,
    META_TAIL_BYTES,
    RELEASE_NAME,
    dumps,
)
from staticsync.model.names import unsafe_path_reason
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.conftest import load_event
from tests.deploys import deploy_key
from tests.handler import fresh_handler
from tests.sites import build_version, collected, created_at, site

KEY = "staging/hostile.zip"
META_ROLLBACK = "rollback"  # the staged object's flag of old, which rollback requests replaced
GiB = 1024**3
V2 = collected(site(2))
APP = json.loads(V2[MANIFEST_NAME])["paths"]["js/app.js"]  # a file v2 has and v1 lacks: uploaded
FORGED = APP.replace(APP.split(".")[-2], "0123456789ab")  # the same file under a made-up hash
V1_APP = json.loads(collected(site(1))[MANIFEST_NAME])["paths"]["js/app.js"]  # live, immutable
FIRST = FILES_DIR + min(path for path in V2 if path != MANIFEST_NAME)
LONG = FILES_DIR + "é" * 511 + ".css"  # 515 characters, 1,026 bytes of UTF-8 under static/


@dataclass
class Draft:
    """A valid artifact's parts (release v2 of tests.sites), for one case to spoil before packing."""

    files: dict[str, bytes]
    manifest: dict[str, Any]
    record: dict[str, Any] = field(default_factory=dict)
    extra: list[tuple[zipfile.ZipInfo | str, bytes]] = field(default_factory=list)
    skip: set[str] = field(default_factory=set)
    release_sha256: str | None = None  # None: the real one's

    @classmethod
    def valid(cls) -> Draft:
        tree = dict(V2)
        manifest = json.loads(tree.pop(MANIFEST_NAME))
        return cls(tree, manifest)

    def manifest_bytes(self) -> bytes:
        return json.dumps(self.manifest).encode()

    def release_bytes(self) -> bytes:
        record = {
            "format": 1,
            "release": "hostile",
            "created_at": created_at(2),
            "source_commit": None,
            "tool": "tests",
            "storage": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
            "manifest_sha256": hashlib.sha256(self.manifest_bytes()).hexdigest(),
            "file_count": len(self.files),
            "total_bytes": sum(map(len, self.files.values())),
            "files": {path: hashlib.sha256(data).hexdigest() for path, data in self.files.items()},
        }
        return dumps(record | self.record)

    def members(self) -> list[tuple[zipfile.ZipInfo | str, bytes]]:
        members: list[tuple[zipfile.ZipInfo | str, bytes]] = [
            (FILES_DIR + path, data) for path, data in sorted(self.files.items())
        ]
        members += [(MANIFEST_NAME, self.manifest_bytes()), (RELEASE_NAME, self.release_bytes())]
        members += self.extra
        return [(info, data) for info, data in members if _name(info) not in self.skip]

    def metadata(self) -> dict[str, str]:
        real = hashlib.sha256(self.release_bytes()).hexdigest()
        metadata = {META_RELEASE_SHA256: self.release_sha256 or real, META_TAIL_BYTES: "0"}
        return metadata


def _name(info: zipfile.ZipInfo | str) -> str:
    return info.filename if isinstance(info, zipfile.ZipInfo) else info


def pack(
    members: list[tuple[zipfile.ZipInfo | str, bytes]],
    spoil: Callable[[zipfile.ZipFile], None] = lambda _: None,
) -> bytes:
    """Zip `members` in order (deflated unless a ZipInfo says otherwise); `spoil` runs before the
    central directory is written, so it can make the directory lie about a member."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        for info, data in members:
            archive.writestr(info, data)
        spoil(archive)
    return buffer.getvalue()


def entry(name: str, mode: int = 0o100644, compress_type: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr, info.compress_type, info.create_system = mode << 16, compress_type, 3
    return info


# Each case turns a valid draft into (zip bytes, object metadata).
Make = Callable[[Draft], tuple[bytes, dict[str, str]]]


def members_case(change: Callable[[Draft], None]) -> Make:
    def make(draft: Draft) -> tuple[bytes, dict[str, str]]:
        change(draft)
        return pack(draft.members()), draft.metadata()

    return make


def bytes_case(change: Callable[[bytes], bytes]) -> Make:
    def make(draft: Draft) -> tuple[bytes, dict[str, str]]:
        return change(pack(draft.members())), draft.metadata()

    return make


def spoiled_case(spoil: Callable[[zipfile.ZipFile, Draft], None]) -> Make:
    def make(draft: Draft) -> tuple[bytes, dict[str, str]]:
        return pack(draft.members(), lambda archive: spoil(archive, draft)), draft.metadata()

    return make


def add(name: str | zipfile.ZipInfo, data: bytes = b"x") -> Callable[[Draft], None]:
    return lambda draft: draft.extra.append((name, data))


def set_key(path: tuple[str, ...], value: Any) -> Callable[[Draft], None]:
    def change(draft: Draft) -> None:
        target = draft.manifest if path[0] == "manifest" else draft.record
        target[path[1]] = value

    return change


def ship(path: str, data: bytes) -> Callable[[Draft], None]:
    """An extra file in the release (recorded, so only the path is wrong)."""

    def change(draft: Draft) -> None:
        draft.files[path] = data

    return change


def overwrite_live_hashed_name(draft: Draft) -> None:
    """v1's hashed app.js, with v2's bytes, as a file no manifest lists: it would look unhashed."""
    draft.files[V1_APP] = b"console.log('not what the immutable URL served');\n"


def wrong_content(draft: Draft) -> None:
    path = APP
    draft.record["files"] = {p: hashlib.sha256(d).hexdigest() for p, d in draft.files.items()}
    draft.files[path] = draft.files[path] + b"/* tampered */"


def wrong_hashed_name(draft: Draft) -> None:
    """The name claims one MD5, the bytes have another; the record agrees with the bytes."""
    draft.files[FORGED] = draft.files.pop(APP)
    draft.manifest["paths"]["js/app.js"] = FORGED


def wrong_crc(archive: zipfile.ZipFile, draft: Draft) -> None:
    archive.getinfo(FILES_DIR + APP).CRC ^= 0xFFFF


def huge_member(archive: zipfile.ZipFile, draft: Draft) -> None:
    archive.getinfo(FILES_DIR + "robots.txt").file_size = 6 * GiB  # written as a zip64 size


def shared_offset(archive: zipfile.ZipFile, draft: Draft) -> None:
    """Two entries whose bytes are the same local member: the overlapping-files zip bomb."""
    infos = archive.infolist()
    infos[1].header_offset = infos[0].header_offset


def offset_past_directory(archive: zipfile.ZipFile, draft: Draft) -> None:
    """A member said to start beyond the central directory: a range S3 would refuse."""
    archive.getinfo(FILES_DIR + APP).header_offset = 10**9


def truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def garble_directory(data: bytes) -> bytes:
    at = data.rfind(b"PK\x01\x02")
    return data[:at] + b"garbage!" + data[at + 8 :]


def nfd_twin(draft: Draft) -> None:
    draft.files["css/café.css"] = b"a{}"
    draft.extra.append((FILES_DIR + unicodedata.normalize("NFD", "css/café.css"), b"b{}"))


@dataclass(frozen=True)
class Case:
    make: Make
    code: str
    member: str | None
    env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, Case] = {
    # Member paths that escape, or cannot be keys
    "dot-dot segment": Case(members_case(add("static/../evil.js")), "unsafe_path", "static/../evil.js"),
    "absolute path": Case(members_case(add("/etc/cron.d/evil")), "unsafe_path", "/etc/cron.d/evil"),
    "backslash": Case(members_case(add("static\\..\\evil.js")), "unsafe_path", "static\\..\\evil.js"),
    "drive letter": Case(members_case(add("C:/evil.js")), "unsafe_path", "C:/evil.js"),
    "control character": Case(members_case(add("static/a\x07.js")), "unsafe_path", "static/a\x07.js"),
    "C1 control character": Case(members_case(add("static/a\x85.js")), "unsafe_path", "static/a\x85.js"),
    "drive letter under static/": Case(
        members_case(add("static/C:/x.css")), "unsafe_path", "static/C:/x.css"
    ),
    # 515 characters but 1,026 bytes: S3 counts the bytes of the UTF-8 key.
    "live key over 1,024 bytes": Case(members_case(add(LONG)), "key_too_long", LONG),
    "directory entry": Case(members_case(add("static/css/")), "unsafe_path", "static/css/"),
    "outside static/": Case(members_case(add("evil.js")), "unexpected_member", "evil.js"),
    "symlink member": Case(
        members_case(add(entry("static/link.css", mode=0o120777), b"/etc/passwd")),
        "not_a_file",
        "static/link.css",
    ),
    "duplicate name": Case(members_case(add("static/robots.txt")), "duplicate_member", "static/robots.txt"),
    "duplicate after NFC": Case(
        members_case(nfd_twin), "unsafe_path", FILES_DIR + unicodedata.normalize("NFD", "css/café.css")
    ),
    "encrypted member": Case(
        spoiled_case(lambda archive, _: setattr(archive.infolist()[0], "flag_bits", 0x1)),
        "unsupported_member",
        FIRST,
    ),
    "bzip2 member": Case(
        members_case(add(entry("static/x.js", compress_type=zipfile.ZIP_BZIP2), b"x" * 100)),
        "unsupported_member",
        "static/x.js",
    ),
    # Zip bombs and sizes
    "compression ratio (default cap)": Case(
        members_case(add("static/zeros.txt", bytes(8 * 1024 * 1024))), "compression_ratio", "static/zeros.txt"
    ),
    "too many members": Case(members_case(lambda d: None), "too_many_members", None, {"MAX_MEMBERS": "10"}),
    "too many bytes": Case(members_case(lambda d: None), "too_large", None, {"MAX_TOTAL_BYTES": "1000"}),
    "member over S3's 5 GiB": Case(spoiled_case(huge_member), "member_too_large", "static/robots.txt"),
    "overlapping members": Case(spoiled_case(shared_offset), "overlapping_members", None),
    "member past the central directory": Case(
        spoiled_case(offset_past_directory), "bad_layout", FILES_DIR + APP
    ),
    # Damaged archives
    "truncated": Case(bytes_case(truncate), "not_a_zip", None),
    "garbled central directory": Case(bytes_case(garble_directory), "not_a_zip", None),
    "CRC mismatch": Case(spoiled_case(wrong_crc), "corrupt_member", FILES_DIR + APP),
    "not a zip": Case(bytes_case(lambda _: b"<html>not a zip</html>" * 100), "not_a_zip", None),
    "empty object": Case(bytes_case(lambda _: b""), "empty_artifact", None),
    "zip without entries": Case(bytes_case(lambda _: pack([])), "empty_artifact", None),
    # The manifest
    "no staticfiles.json": Case(
        members_case(lambda d: d.skip.add(MANIFEST_NAME)), "missing_member", MANIFEST_NAME
    ),
    "staticfiles.json not JSON": Case(
        members_case(lambda d: setattr(d, "manifest_bytes", lambda: b"{not json")),
        "bad_manifest",
        MANIFEST_NAME,
    ),
    "paths not an object": Case(
        members_case(set_key(("manifest", "paths"), [])), "bad_manifest", MANIFEST_NAME
    ),
    "manifest version 2.0": Case(
        members_case(set_key(("manifest", "version"), "2.0")), "unsupported_manifest_version", MANIFEST_NAME
    ),
    "manifest names a missing file": Case(
        members_case(lambda d: d.manifest["paths"].update({"gone.css": "gone.0123456789ab.css"})),
        "manifest_missing_file",
        "gone.0123456789ab.css",
    ),
    # The release record and checksums
    "no release.json": Case(members_case(lambda d: d.skip.add(RELEASE_NAME)), "missing_member", RELEASE_NAME),
    "release format 2": Case(
        members_case(set_key(("record", "format"), 2)), "unsupported_format", RELEASE_NAME
    ),
    "unsafe release id": Case(
        members_case(set_key(("record", "release"), "../x")), "bad_release_record", None
    ),
    "total_bytes not the members' size": Case(
        members_case(lambda d: d.record.update(total_bytes=sum(map(len, d.files.values())) + 1)),
        "record_mismatch",
        RELEASE_NAME,
    ),
    "total_bytes not a number": Case(
        members_case(set_key(("record", "total_bytes"), "12")), "bad_release_record", RELEASE_NAME
    ),
    "record lists a file the zip lacks": Case(
        members_case(lambda d: d.skip.add("static/robots.txt")), "record_mismatch", "robots.txt"
    ),
    "manifest does not match the record": Case(
        members_case(set_key(("record", "manifest_sha256"), "0" * 64)), "checksum_mismatch", MANIFEST_NAME
    ),
    "file bytes differ from the record": Case(members_case(wrong_content), "checksum_mismatch", APP),
    "hashed name not the content's MD5": Case(
        members_case(wrong_hashed_name),
        "hashed_name_mismatch",
        APP.replace(APP.split(".")[-2], "0123456789ab"),
    ),
    "artifact checksum not the build tool's": Case(
        members_case(lambda d: setattr(d, "release_sha256", "f" * 64)), "checksum_mismatch", RELEASE_NAME
    ),
    "no checksum metadata": Case(lambda d: (pack(d.members()), {}), "missing_checksum", None),
    "the live release's id, other contents": Case(
        members_case(set_key(("record", "release"), "v1")), "release_id_reused", None
    ),
    # The deployer's own keys, and the live release's content-addressed names
    "a file named like the live manifest": Case(
        members_case(ship("staticfiles.json", b'{"paths": {}, "version": "1.1"}')),
        "reserved_path",
        "staticfiles.json",
    ),
    "a file over a release record": Case(
        members_case(ship(".releases/v1/history.jsonl", b"{}\n")),
        "reserved_path",
        ".releases/v1/history.jsonl",
    ),
    "a live hashed name with other bytes, left out of the manifest": Case(
        members_case(overwrite_live_hashed_name), "immutable_name_conflict", V1_APP
    ),
    # Order: a clock far ahead, an ancestor of the live commit
    "built in the future": Case(
        members_case(set_key(("record", "created_at"), "2099-01-01T00:00:00Z")), "future_timestamp", None
    ),
    "an ancestor of the live commit": Case(
        members_case(set_key(("record", "source_commit"), "a" * 40)), "stale_artifact", None
    ),
}


@pytest.fixture
def live_v1(moto_s3: Any, tmp_path: Any) -> Iterator[dict[str, tuple[str, dict[str, str]]]]:
    """Release v1 of tests.sites live; yields a snapshot of the live bucket (ETag and metadata)."""
    key = stage_artifact(moto_s3, build_version(tmp_path, 1, ancestry=("a" * 40,)))
    assert run(moto_s3, Settings(live_bucket="live"), key).outcome == "deployed"
    yield snapshot(moto_s3)


def snapshot(client: Any) -> dict[str, tuple[str, dict[str, str]]]:
    keys = [item["Key"] for item in client.list_objects_v2(Bucket="live").get("Contents", [])]
    heads = {key: client.head_object(Bucket="live", Key=key) for key in keys}
    return {key: (head["ETag"], head["Metadata"]) for key, head in heads.items()}


def run(client: Any, settings: Settings, key: str) -> SyncReport:
    return deploy_key(client, settings, key)


def stage_bytes(client: Any, data: bytes, metadata: dict[str, str]) -> None:
    client.put_object(Bucket="artifacts", Key=KEY, Body=data, Metadata=metadata)


def tags(client: Any, key: str = KEY) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket="artifacts", Key=key)["TagSet"]}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_hostile_artifact_is_rejected_with_its_reason_tagged_and_the_live_site_untouched(
    moto_s3: Any, live_v1: dict[str, tuple[str, dict[str, str]]], case: Case
) -> None:
    settings = Settings.from_env({"LIVE_BUCKET": "live", **case.env})
    stage_bytes(moto_s3, *case.make(Draft.valid()))

    report = run(moto_s3, settings, KEY)  # does not raise: Lambda must not retry it

    assert (report.outcome, report.reason, report.member) == ("rejected", case.code, case.member)
    assert report.detail
    assert snapshot(moto_s3) == live_v1
    assert check_live(moto_s3, settings) == []
    etag = moto_s3.head_object(Bucket="artifacts", Key=KEY)["ETag"].strip('"')
    assert tags(moto_s3) == {
        "staticsync": "rejected",
        "staticsync-reason": case.code,
        "staticsync-etag": etag,
    }


def test_the_valid_draft_deploys_so_every_case_fails_for_its_own_reason(
    moto_s3: Any, live_v1: dict[str, tuple[str, dict[str, str]]]
) -> None:
    stage_bytes(moto_s3, pack(Draft.valid().members()), Draft.valid().metadata())

    assert run(moto_s3, Settings(live_bucket="live"), KEY).outcome == "deployed"


def test_the_old_rollback_metadata_no_longer_lets_a_release_that_was_live_back_in(
    moto_s3: Any, live_v1: dict[str, tuple[str, dict[str, str]]], tmp_path: Any
) -> None:
    """`rollback=true` on the staged object was a standing order; a rollback is now a request."""
    settings = Settings(live_bucket="live")
    assert run(moto_s3, settings, stage_artifact(moto_s3, build_version(tmp_path, 2))).outcome == "deployed"
    v1 = build_version(tmp_path, 1, ancestry=("a" * 40,))
    metadata = {META_RELEASE_SHA256: v1.release_sha256, META_TAIL_BYTES: "0", META_ROLLBACK: "true"}
    stage_bytes(moto_s3, v1.path.read_bytes(), metadata)

    report = run(moto_s3, settings, KEY)

    assert (report.outcome, report.reason) == ("rejected", "rollback_required")


def test_redelivering_a_rejected_artifact_costs_its_first_read_and_tags_and_no_new_verdict(
    moto_s3: Any,
) -> None:
    stage_bytes(moto_s3, b"not a zip", {META_RELEASE_SHA256: "0" * 64})
    run(moto_s3, Settings(live_bucket="live"), KEY)
    meter = RequestMeter()
    meter.attach(moto_s3)

    again = deploy_key(moto_s3, Settings(live_bucket="live"), KEY, meter=meter)

    assert (again.outcome, again.reason) == ("rejected", "already_rejected")
    assert "not_a_zip" in (again.detail or "")
    # The artifact's first read and its tags (the event's size is unknown here, so the live state
    # would be read after the artifact's checks, and is not).
    assert again.requests_by_operation == {"GetObject": 1, "GetObjectTagging": 1}
    assert tags(moto_s3)["staticsync-reason"] == "not_a_zip"


def test_a_corrected_artifact_staged_under_a_rejected_key_is_deployed(moto_s3: Any, tmp_path: Any) -> None:
    stage_bytes(moto_s3, b"not a zip", {META_RELEASE_SHA256: "0" * 64})
    run(moto_s3, Settings(live_bucket="live"), KEY)
    good = build_version(tmp_path, 1)
    metadata = {META_RELEASE_SHA256: good.release_sha256, META_TAIL_BYTES: str(good.tail_bytes)}
    # Tags survive on purpose here: the rejection names the ETag of the bytes it judged.
    moto_s3.put_object(Bucket="artifacts", Key=KEY, Body=good.path.read_bytes(), Metadata=metadata)
    moto_s3.put_object_tagging(
        Bucket="artifacts",
        Key=KEY,
        Tagging={
            "TagSet": [
                {"Key": "staticsync", "Value": "rejected"},
                {"Key": "staticsync-etag", "Value": "stale-etag"},
            ]
        },
    )

    assert run(moto_s3, Settings(live_bucket="live"), KEY).outcome == "deployed"


@pytest.fixture
def app(moto_s3: Any) -> Iterator[ModuleType]:
    """The handler module, imported fresh; its log records go to `app.log_stream`."""
    with fresh_handler() as module:
        module.log_stream = io.StringIO()  # type: ignore[attr-defined]
        module.logger.registered_handler.setStream(module.log_stream)
        yield module


def records(app: ModuleType, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = app.log_stream.getvalue().splitlines() + capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_the_handler_reports_a_rejection_in_one_record_and_a_metric_and_does_not_raise(
    app: ModuleType, moto_s3: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = Draft.valid()
    draft.extra.append(("static/../evil.js", b"x"))
    moto_s3.put_object(
        Bucket="artifacts", Key="staging/2f1c9e7.zip", Body=pack(draft.members()), Metadata=draft.metadata()
    )

    result = app.lambda_handler(load_event("artifact_put.json"), lambda_context)

    [report] = result["deploys"]
    assert (report["outcome"], report["reason"], report["member"]) == (
        "rejected",
        "unsafe_path",
        "static/../evil.js",
    )
    logged = records(app, capsys)
    [record] = [r for r in logged if r.get("message") == "deploy finished"]
    assert (record["reason"], record["member"]) == ("unsafe_path", "static/../evil.js")
    [metrics] = [r for r in logged if "_aws" in r]
    assert metrics["ArtifactsRejected"] == [1.0]
    assert moto_s3.list_objects_v2(Bucket="live").get("KeyCount", 0) == 0


def test_the_handler_raises_a_transient_s3_error_so_lambda_retries_the_event(
    app: ModuleType, moto_s3: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def slow_down(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "GetObject")

    app.s3.meta.events.register("before-call.s3.GetObject", slow_down)

    with pytest.raises(TransientReadError, match="SlowDown") as raised:
        app.lambda_handler(load_event("artifact_put.json"), lambda_context)

    assert isinstance(raised.value.__cause__, ClientError)
    [failure] = [r for r in records(app, capsys) if r.get("message") == "deploy failed"]
    assert (failure["outcome"], failure["reason"]) == ("failed", "TransientReadError")


def test_the_handlers_client_retries_in_botocores_standard_mode(app: ModuleType) -> None:
    retries = app.s3.meta.config.retries
    assert retries["mode"] in ("standard", "adaptive")
    assert retries["total_max_attempts"] > 1


# ---------------------------------------------------------------- reads that fail are not verdicts


def stalled_reads(client: Any, error: Exception) -> list[str]:
    """Every ranged read after the first (they carry If-Match) raises `error`; returns the keys hit."""
    hit: list[str] = []

    def stall(params: dict[str, Any], **_: Any) -> None:
        if params.get("IfMatch"):
            hit.append(params["Key"])
            raise error

    client.meta.events.register("provide-client-params.s3.GetObject", stall)
    return hit


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url="https://s3"),  # an OSError, as zipfile's own errors
        ConnectionClosedError(endpoint_url="https://s3"),
        ClientError(
            {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}},  # type: ignore[typeddict-item]
            "GetObject",
        ),
    ],
    ids=["read timeout", "connection closed", "500"],
)
def test_a_failed_read_of_the_artifact_raises_as_transient_and_is_never_a_corrupt_archive(
    moto_s3: Any, error: Exception
) -> None:
    draft = Draft.valid()
    stage_bytes(moto_s3, pack(draft.members()), draft.metadata())
    # A tail of 64 bytes: the central directory and the documents are read by later ranged GETs,
    # inside zipfile, where an OSError would read as a damaged archive.
    source = S3Range(moto_s3, "artifacts", KEY, tail=64)
    hit = stalled_reads(moto_s3, error)

    with pytest.raises(TransientReadError):
        Artifact(SparseFile(source, source.initial_fragments()), Settings(live_bucket="live"), None)

    assert hit == [KEY]


def test_a_stalled_read_during_a_deploy_fails_it_without_tagging_the_artifact(
    moto_s3: Any, live_v1: dict[str, tuple[str, dict[str, str]]]
) -> None:
    draft = Draft.valid()
    draft.manifest["hash"] = os.urandom(1536 * 1024).hex()  # the tail GET (1 MiB) misses the manifest
    stage_bytes(moto_s3, pack(draft.members()), draft.metadata())
    hit = stalled_reads(moto_s3, ReadTimeoutError(endpoint_url="https://s3"))
    report = SyncReport(KEY)

    with pytest.raises(TransientReadError):
        deploy_key(moto_s3, Settings(live_bucket="live"), KEY, report)

    assert hit and report.outcome == "failed"
    assert tags(moto_s3) == {}
    assert snapshot(moto_s3) == live_v1


def test_an_artifact_deleted_before_its_event_is_handled_is_gone_not_rejected(moto_s3: Any) -> None:
    report = SyncReport(KEY)

    with pytest.raises(ArtifactGone):
        deploy_key(moto_s3, Settings(live_bucket="live"), KEY, report)

    assert report.outcome != "rejected"


@pytest.mark.parametrize(
    ("prefix", "path", "too_long"),
    [
        ("", "é" * 510 + ".css", False),  # 1,024 bytes: S3's maximum
        ("s/", "é" * 510 + ".css", True),  # the live prefix counts
        ("", "a" * 1025, True),
        ("", "é" * 513, True),  # 513 characters, 1,026 bytes: bytes count, not characters
    ],
)
def test_a_live_key_over_s3s_1024_bytes_is_refused_before_any_write(
    prefix: str, path: str, too_long: bool
) -> None:
    settings = Settings(live_bucket="live", live_prefix=prefix)
    if too_long:
        with pytest.raises(ArtifactRejected, match="1024") as raised:
            check_key_length(FILES_DIR + path, settings)
        assert raised.value.code == "key_too_long"
    else:
        check_key_length(FILES_DIR + path, settings)


@pytest.mark.parametrize(
    "path",
    ["static/a\x85b.css", "static/\x9f.js", "static/C:/x.css", "static/c:x.css", "static/a\x00.css"],
)
def test_c1_controls_and_drive_letters_under_static_are_unsafe(path: str) -> None:
    assert unsafe_path_reason(path) is not None
    assert unsafe_path_reason(path.removeprefix(FILES_DIR)) is not None  # the build tool checks this one


@pytest.mark.parametrize("path", ["static/css/é.css", "static/css/a:b.css", "static/\xa0nbsp.txt"])
def test_ordinary_names_stay_safe(path: str) -> None:
    assert unsafe_path_reason(path) is None
