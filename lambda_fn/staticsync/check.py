"""Verify a live bucket: the live manifest, its release record, and every file the manifest names.

`python -m staticsync.check --bucket B [--prefix P]` exits 0 when the live site is whole, 1 with one
line per problem otherwise. The Cache-Control values it expects come from the same variables as the
Lambda's (CACHE_CONTROL_HASHED, ...), so run it with the function's configuration.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import Settings
from .contract import MANIFEST_NAME, ReleaseRecord
from .errors import ConfigError, LiveStateError
from .headers import ENCODINGS, HeaderPolicy
from .live import read_live
from .plan import LiveState

HEADERS = ("ContentType", "CacheControl", "ContentEncoding")
MISSING = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class Problem:
    """One way the live bucket differs from what its live release built."""

    key: str
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.key}: {self.code}: {self.detail}"


def check_live(client: Any, settings: Settings, *, everything: bool = False) -> list[Problem]:
    """Every problem with what the live site serves; an empty list when it is whole.

    The live staticfiles.json must parse and name (metadata `release`) a release whose record is
    kept and matches it; every hashed name it refers to, and each .gz/.br sibling the record lists,
    must exist with the SHA-256 and headers that release gives it. With `everything`, every other
    file of the release too: unhashed names are overwritten by whichever deploy writes them last.
    """
    key = settings.live_key(MANIFEST_NAME)
    try:
        live = read_live(client, settings)
    except LiveStateError as error:
        return [Problem(key, "unreadable_live_state", str(error))]
    if live.manifest_bytes is None:
        return [Problem(key, "no_live_manifest", "nothing is live")]
    if live.release is None:
        return [Problem(key, "no_release", "no `release` metadata: staticsync did not write it")]
    if live.record is None:
        return [Problem(key, "missing_release_record", f"the live release {live.release} has no record")]
    record = live.record
    policy = HeaderPolicy.for_release(settings, record.files, live.manifest)
    problems = _check_manifest(client, settings, live, policy)
    paths = expected_paths(live.manifest, record, everything)
    unknown = [path for path in paths if path not in record.files]
    problems += [
        Problem(settings.live_key(p), "not_in_record", f"not a file of {live.release}") for p in unknown
    ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        found = pool.map(lambda path: _check_file(client, settings, policy, record, path), paths)
        return problems + [problem for some in found for problem in some]


def expected_paths(manifest: dict[str, str], record: ReleaseRecord, everything: bool) -> list[str]:
    """The hashed names the manifest refers to, with their siblings (or every file of the release)."""
    if everything:
        return sorted(set(record.files) | set(manifest.values()))
    values = set(manifest.values())
    siblings = {value + ext for value in values for ext in ENCODINGS if value + ext in record.files}
    return sorted(values | siblings)


def _check_manifest(client: Any, settings: Settings, live: LiveState, policy: HeaderPolicy) -> list[Problem]:
    """The live manifest is the one its release built, served with the manifest's headers."""
    key = settings.live_key(MANIFEST_NAME)
    assert live.record is not None and live.manifest_bytes is not None
    problems = []
    if hashlib.sha256(live.manifest_bytes).hexdigest() != live.record.manifest_sha256:
        detail = f"the live staticfiles.json is not the one release {live.release} built"
        problems.append(Problem(key, "manifest_mismatch", detail))
    head = client.head_object(Bucket=settings.live_bucket, Key=key)
    return problems + _compare_headers(key, head, policy.manifest_headers())


def _check_file(
    client: Any, settings: Settings, policy: HeaderPolicy, record: ReleaseRecord, path: str
) -> list[Problem]:
    key = settings.live_key(path)
    try:
        head = client.head_object(Bucket=settings.live_bucket, Key=key)
    except ClientError as error:
        code = _code(error)
        if code in MISSING:
            return [Problem(key, "missing_file", f"release {record.release} needs it")]
        return [Problem(key, "unreadable", f"HEAD failed with {code}")]
    expected, actual = record.files.get(path), head.get("Metadata", {}).get("sha256")
    problems = _compare_headers(key, head, policy.headers(path))
    if expected is not None and actual != expected:
        detail = f"sha256 metadata {actual} is not {expected} from release {record.release}"
        problems.append(Problem(key, "wrong_content", detail))
    return problems


def _compare_headers(key: str, response: dict[str, Any], expected: dict[str, str]) -> list[Problem]:
    return [
        Problem(key, "wrong_header", f"{name} is {response.get(name)!r}, expected {expected.get(name)!r}")
        for name in HEADERS
        if response.get(name) != expected.get(name)
    ]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class Exit(IntEnum):
    """What `python -m staticsync.check` exits with."""

    OK = 0
    PROBLEMS = 1  # the live site is not whole: one line per problem on stdout
    USAGE = 2  # wrong flags or configuration
    ERROR = 3  # S3 could not be read (credentials, bucket, network)


def main(argv: list[str] | None = None, client: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m staticsync.check", description=__doc__.split("\n")[0])
    parser.add_argument("--bucket", required=True, help="the live bucket")
    parser.add_argument("--prefix", default="", help="the live prefix, ending in '/' (default: none)")
    parser.add_argument("--history-prefix", default=".releases/", help="default: .releases/")
    parser.add_argument("--all", dest="everything", action="store_true", help="check unhashed files too")
    parser.add_argument("--json", action="store_true", help="print the problems as a JSON list")
    args = parser.parse_args(argv)
    env = {**os.environ, "LIVE_BUCKET": args.bucket, "LIVE_PREFIX": args.prefix}
    try:
        settings = Settings.from_env(env | {"HISTORY_PREFIX": args.history_prefix})
    except ConfigError as error:
        print(f"check: error: {error}", file=sys.stderr)
        return Exit.USAGE
    try:
        problems = check_live(client or _client(), settings, everything=args.everything)
    except (BotoCoreError, ClientError) as error:
        print(f"check: error: cannot read s3://{args.bucket}/{args.prefix}: {error}", file=sys.stderr)
        return Exit.ERROR
    if args.json:
        print(json.dumps([asdict(problem) for problem in problems], indent=1))
    else:
        print(*problems, sep="\n", end="\n" if problems else "")
    where = f"s3://{args.bucket}/{args.prefix}"
    print(f"{where}: {len(problems)} problems" if problems else f"{where}: whole", file=sys.stderr)
    return Exit.PROBLEMS if problems else Exit.OK


def _client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))


if __name__ == "__main__":
    sys.exit(main())
