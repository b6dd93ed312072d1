"""Compare the live bucket with the live release: pure verdicts over one LIST pass, the artifact and HEADs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import LiveStateError
from .contract import MANIFEST_NAME, ReleaseRecord, same_release
from .headers import ENCODINGS, HeaderPolicy
from .order import JournalEntry
from .plan import LiveState

HEADERS = ("ContentType", "CacheControl", "ContentEncoding")
# A single-part object's ETag is the MD5 of its bytes (SSE-S3 or none); multipart ETags end in -N.
# SSE-KMS ETags look the same but are not MD5s: a mismatch is confirmed with a HEAD (`needs_head`).
PLAIN_ETAG = re.compile(r'"?([0-9a-f]{32})"?')
KMS = ("aws:kms", "aws:kms:dsse")


@dataclass(frozen=True)
class Problem:
    """One way the live bucket differs from what its live release built."""

    key: str
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.key}: {self.code}: {self.detail}"


@dataclass(frozen=True)
class Listed:
    """What ListObjectsV2 says about one live object."""

    size: int
    etag: str


@dataclass(frozen=True)
class Comparison:
    """The live release's files judged against a listing, before any byte is read.

    `by_md5` maps a present file of the right size to the MD5 its ETag claims; `by_head` are the
    present files whose ETag is not an MD5 (multipart, or MD5 checks turned off): a HEAD decides.
    """

    missing: tuple[str, ...]
    wrong_size: tuple[str, ...]
    by_md5: dict[str, str]
    by_head: tuple[str, ...]


def live_problems(live: LiveState, settings: Settings) -> list[Problem]:
    """Why the live state cannot be verified at all (nothing live, no record), or []."""
    key = settings.live_key(MANIFEST_NAME)
    if live.manifest_bytes is None:
        return [Problem(key, "no_live_manifest", "nothing is live")]
    if live.release is None:
        return [Problem(key, "no_release", "no `release` metadata: staticsync did not write it")]
    if live.record is None:
        return [Problem(key, "missing_release_record", f"the live release {live.release} has no record")]
    return []


def unreadable(settings: Settings, error: LiveStateError) -> list[Problem]:
    return [Problem(settings.live_key(MANIFEST_NAME), "unreadable_live_state", str(error))]


def manifest_problems(live: LiveState, settings: Settings) -> list[Problem]:
    """The live manifest is the one its release built, and names only files of that release."""
    assert live.record is not None and live.manifest_bytes is not None
    problems = []
    if hashlib.sha256(live.manifest_bytes).hexdigest() != live.record.manifest_sha256:
        detail = f"the live staticfiles.json is not the one release {live.release} built"
        problems.append(Problem(settings.live_key(MANIFEST_NAME), "manifest_mismatch", detail))
    unknown = sorted(set(live.manifest.values()) - set(live.record.files))
    return problems + [
        Problem(settings.live_key(p), "not_in_record", f"not a file of {live.release}") for p in unknown
    ]


def is_deployer_key(path: str, settings: Settings) -> bool:
    """staticfiles.json and the history prefix belong to the deployer, not to any release."""
    return path == MANIFEST_NAME or path.startswith(settings.history_prefix)


def listed_paths(pages: Iterable[Mapping[str, Any]], settings: Settings) -> dict[str, Listed]:
    """The live objects of ListObjectsV2 pages, by path under the live prefix, deployer keys left out."""
    found: dict[str, Listed] = {}
    for page in pages:
        for item in page.get("Contents", []):
            path = item["Key"][len(settings.live_prefix) :]
            if not is_deployer_key(path, settings):
                found[path] = Listed(int(item["Size"]), str(item.get("ETag", "")))
    return found


def compare_listing(
    files: Mapping[str, str],
    sizes: Mapping[str, int] | None,
    listed: Mapping[str, Listed],
    *,
    etag_md5: bool = True,
) -> Comparison:
    """Judge every file of the release from the listing alone; `sizes` None: the artifact is unknown.

    A file `sizes` lacks (inherited by a delta artifact: no member to compare with) is judged by HEAD.
    """
    missing = tuple(sorted(p for p in files if p not in listed))
    present = sorted(p for p in files if p in listed)
    if sizes is None:
        return Comparison(missing, (), {}, ())
    wrong_size = tuple(p for p in present if p in sizes and listed[p].size != sizes[p])
    sized = set(wrong_size)
    rest = [p for p in present if p not in sized]
    md5s = (
        {p: m for p in rest if p in sizes and (m := plain_md5(listed[p].etag)) is not None}
        if etag_md5
        else {}
    )
    by_head = tuple(p for p in rest if p not in md5s)
    return Comparison(missing, wrong_size, md5s, by_head)


def plain_md5(etag: str) -> str | None:
    """The MD5 a single-part object's ETag is, or None (a multipart ETag ends in -N)."""
    match = PLAIN_ETAG.fullmatch(etag)
    return match[1] if match else None


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def hashed_paths(manifest: Mapping[str, str], files: Collection[str]) -> list[str]:
    """The hashed names the manifest refers to, with the .gz/.br siblings the release has."""
    values = set(manifest.values())
    siblings = {value + ext for value in values for ext in ENCODINGS if value + ext in files}
    return sorted(values | siblings)


def head_problems(
    key: str, head: Mapping[str, Any], record: ReleaseRecord, path: str, expected: Mapping[str, str]
) -> list[Problem]:
    """A HEAD of a live file against the release: our sha256 metadata and the three headers."""
    problems = compare_headers(key, head, expected)
    want, actual = record.files.get(path), head.get("Metadata", {}).get("sha256")
    if want is not None and actual != want:
        detail = f"sha256 metadata {actual} is not {want} from release {record.release}"
        problems.append(Problem(key, "wrong_content", detail))
    return problems


def md5_confirmed_wrong(head: Mapping[str, Any], record: ReleaseRecord, path: str) -> bool:
    """After an MD5 mismatch: wrong unless the object is KMS-encrypted (its ETag is no MD5) and its
    sha256 metadata is the release's."""
    if head.get("ServerSideEncryption") not in KMS:
        return True
    return head.get("Metadata", {}).get("sha256") != record.files[path]


def compare_headers(key: str, response: Mapping[str, Any], expected: Mapping[str, str]) -> list[Problem]:
    return [
        Problem(key, "wrong_header", f"{name} is {response.get(name)!r}, expected {expected.get(name)!r}")
        for name in HEADERS
        if response.get(name) != expected.get(name)
    ]


def manifest_header_problems(
    settings: Settings, head: Mapping[str, Any], policy: HeaderPolicy
) -> list[Problem]:
    return compare_headers(settings.live_key(MANIFEST_NAME), head, policy.manifest_headers())


def unique(problems: Iterable[Problem]) -> list[Problem]:
    """One problem per key and code (a LIST and a HEAD may both see a file missing), in key order."""
    seen: dict[tuple[str, str], Problem] = {}
    for problem in problems:
        seen.setdefault((problem.key, problem.code), problem)
    return sorted(seen.values(), key=lambda p: (p.key, p.code))


REPAIRABLE = frozenset({"missing_file", "wrong_size", "wrong_content", "wrong_header"})
# A repairable problem on an unhashed name a journal claim above the live place lists as `mutable`: a
# deploy in flight wrote it (or will), or a dead one did and the next deploy rewrites it. Not restored.
IN_FLIGHT = "deploy_in_flight"


def claimed_keys(claims: Iterable[JournalEntry], settings: Settings) -> dict[str, str]:
    """The live keys the claims above the live place may overwrite, each with the claim that does."""
    return {
        settings.live_key(name): f"journal place {entry.sequence} (release {entry.release})"
        for entry in claims
        for name in entry.mutable
    }


def hold_claimed(problems: Iterable[Problem], claimed: Mapping[str, str]) -> list[Problem]:
    """Each repairable problem on a claimed key becomes `deploy_in_flight`: that deploy's to write."""
    return unique(
        Problem(p.key, IN_FLIGHT, f"{p.code} ({p.detail}); {claimed[p.key]} claims it and rewrites it")
        if p.code in REPAIRABLE and p.key in claimed
        else p
        for p in problems
    )


def to_restore(problems: Iterable[Problem], settings: Settings, files: Collection[str]) -> list[str]:
    """The release's files a repair rewrites: those missing or wrong in bytes or headers."""
    paths = {p.key[len(settings.live_prefix) :] for p in problems if p.code in REPAIRABLE}
    return sorted(path for path in paths if path in files)


@dataclass(frozen=True)
class Proof:
    """What an artifact must match to restore the live release: the live record (None when it is
    lost) and the SHA-256 of release.json its cutover wrote on the live manifest (`release-sha256`;
    None on a manifest cut over before it was recorded, or written by hand)."""

    release: str
    record: ReleaseRecord | None
    release_sha256: str | None

    def refusal(self, where: str, record: ReleaseRecord, release_sha256: str) -> str | None:
        """Why the artifact at `where` (its record, its release.json's SHA-256) may not restore the
        live release, or None. A lost record comes back only from the very release.json cut over;
        files from an artifact of the same release (a full build of a live delta too), each only
        with the bytes the live record lists (checked again before each PUT)."""
        if self.record is not None:
            if same_release(self.record, record):
                return None
            return f"{where} holds another build of release {self.release} than the live one"
        if self.release_sha256 is None:
            return f"release {self.release}'s record cannot be proven: {UNPROVEN}"
        if release_sha256 != self.release_sha256:
            return (
                f"{where}'s release.json is not the one release {self.release} was cut over with (its "
                "SHA-256 is not the live staticfiles.json's release-sha256): the staging prefix is CI's "
                "to write, so a lost record is restored only from the artifact that was deployed"
            )
        return None


UNPROVEN = (
    "the live staticfiles.json has no release-sha256 metadata (cut over before it was recorded, or "
    "written by hand), so no staged artifact can be proven to be the live release's"
)
