"""The invariant checker (staticsync.check) on a real bucket: silent on a whole site, and one
problem with a stable code for each way a live site can be broken."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ClientError

from devtools.seaweed import S3Server
from staticsync.check import Exit, check_live, main
from staticsync.config import Settings
from staticsync.model.contract import MANIFEST_NAME
from tests.deploys import deploy_key
from tests.faults import fault_response
from tests.sites import stage_version

Break = Callable[[Any, Settings, dict[str, str]], None]


@pytest.fixture(scope="module")
def v1(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    return stage_version(s3_server.client(), tmp_path_factory.mktemp("check"), 1)


def deployed(s3_server: S3Server, v1: str, prefix: str) -> tuple[Any, Settings, dict[str, str]]:
    """Version 1 live under `prefix`: the client, the settings and the live manifest's paths."""
    client, settings = s3_server.client(), Settings(live_bucket="live", live_prefix=prefix)
    deploy_key(client, settings, v1)
    body = client.get_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))["Body"].read()
    return client, settings, json.loads(body)["paths"]


def rewrite(key_of: Callable[[dict[str, str]], str], **changes: Any) -> Break:
    """Copy a live object onto itself with other headers or metadata."""

    def change(client: Any, settings: Settings, paths: dict[str, str]) -> None:
        key = settings.live_key(key_of(paths))
        head = client.head_object(Bucket="live", Key=key)
        current = {
            "ContentType": head["ContentType"],
            "CacheControl": head.get("CacheControl", ""),
            "Metadata": head["Metadata"],
            **({"ContentEncoding": head["ContentEncoding"]} if head.get("ContentEncoding") else {}),
        }
        client.copy_object(
            Bucket="live",
            Key=key,
            CopySource={"Bucket": "live", "Key": key},
            MetadataDirective="REPLACE",
            **{name: value for name, value in (current | changes).items() if value is not None},
        )

    return change


def delete(key_of: Callable[[dict[str, str]], str]) -> Break:
    return lambda client, settings, paths: client.delete_object(
        Bucket="live", Key=settings.live_key(key_of(paths))
    )


def delete_history(client: Any, settings: Settings, paths: dict[str, str]) -> None:
    prefix = settings.live_prefix + settings.history_prefix
    for item in client.list_objects_v2(Bucket="live", Prefix=prefix)["Contents"]:
        client.delete_object(Bucket="live", Key=item["Key"])


def put_manifest(body: bytes, metadata: dict[str, str]) -> Break:
    headers = {"ContentType": "application/json; charset=utf-8", "CacheControl": "no-cache"}
    return lambda client, settings, paths: client.put_object(
        Bucket="live", Key=settings.live_key(MANIFEST_NAME), Body=body, Metadata=metadata, **headers
    )


def css(paths: dict[str, str]) -> str:
    return paths["css/base.css"]


BREAKS: dict[str, tuple[Break, str]] = {
    "a hashed file deleted": (delete(css), "missing_file"),
    "a sibling deleted": (delete(lambda p: css(p) + ".gz"), "missing_file"),
    "a hashed file with other bytes": (rewrite(css, Metadata={"sha256": "0" * 64}), "wrong_content"),
    "a wrong Content-Type": (rewrite(css, ContentType="text/plain"), "wrong_header"),
    "a wrong Cache-Control": (rewrite(css, CacheControl="no-store"), "wrong_header"),
    "a sibling without Content-Encoding": (
        rewrite(lambda p: css(p) + ".gz", ContentEncoding=None),
        "wrong_header",
    ),
    "the release record lost": (delete_history, "missing_release_record"),
    "a manifest from another release": (
        put_manifest(b'{"paths": {}, "version": "1.1"}', {"release": "v1"}),
        "manifest_mismatch",
    ),
    "a manifest that is not JSON": (put_manifest(b"{", {"release": "v1"}), "unreadable_live_state"),
    "a manifest staticsync did not write": (
        put_manifest(b'{"paths": {}, "version": "1.1"}', {}),
        "no_release",
    ),
    "no manifest": (delete(lambda p: MANIFEST_NAME), "no_live_manifest"),
}


def test_a_whole_live_site_has_no_problems_and_the_command_exits_zero(
    s3_server: S3Server, v1: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client, settings, _ = deployed(s3_server, v1, "check/whole/")

    assert check_live(client, settings, everything=True) == []
    assert main(["--bucket", "live", "--prefix", "check/whole/", "--all"], client=client) == Exit.OK
    assert capsys.readouterr().err.strip() == "s3://live/check/whole/: whole"


@pytest.mark.parametrize(("damage", "code"), BREAKS.values(), ids=BREAKS.keys())
def test_each_way_of_breaking_the_live_site_is_one_problem_with_its_code(
    s3_server: S3Server, v1: str, capsys: pytest.CaptureFixture[str], damage: Break, code: str
) -> None:
    prefix = f"check/{code}-{abs(hash(damage)) % 10_000}/"
    client, settings, paths = deployed(s3_server, v1, prefix)
    damage(client, settings, paths)

    problems = check_live(client, settings)
    status = main(["--bucket", "live", "--prefix", prefix, "--json"], client=client)

    assert [problem.code for problem in problems] == [code]
    assert status == Exit.PROBLEMS
    assert [item["code"] for item in json.loads(capsys.readouterr().out)] == [code]


def test_unhashed_files_are_checked_only_when_asked_for(s3_server: S3Server, v1: str) -> None:
    client, settings, _ = deployed(s3_server, v1, "check/unhashed/")
    rewrite(lambda p: "robots.txt", Metadata={"sha256": "0" * 64})(client, settings, {})

    assert check_live(client, settings) == []
    assert [p.code for p in check_live(client, settings, everything=True)] == ["wrong_content"]


def test_names_a_deploy_that_stopped_before_its_cutover_overwrote_are_reported_as_left_to_it(
    s3_server: S3Server, v1: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, settings, _ = deployed(s3_server, v1, "check/in-flight/")
    v2 = stage_version(client, tmp_path, 2)
    crashing = s3_server.client(retries={"total_max_attempts": 1})
    manifest = f"/live/{settings.live_key(MANIFEST_NAME)}"

    def no_cutover(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        return fault_response("500", request) if urlsplit(request.url).path == manifest else None

    crashing.meta.events.register("before-send.s3.PutObject", no_cutover)
    with pytest.raises(ClientError, match="InternalError"):
        deploy_key(crashing, settings, v2)
    status = main(["--bucket", "live", "--prefix", "check/in-flight/", "--all", "--json"], client=client)

    output = capsys.readouterr()
    assert status == Exit.PROBLEMS
    assert {item["code"] for item in json.loads(output.out)} == {"deploy_in_flight"}
    assert "left to a deploy in flight (run again after its cutover)" in output.err


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["--bucket", "live", "--prefix", "/no"], Exit.USAGE),
        (["--bucket", "no-such-bucket"], Exit.ERROR),
    ],
)
def test_the_command_says_what_is_wrong_on_one_line(
    s3_server: S3Server, capsys: pytest.CaptureFixture[str], argv: list[str], status: Exit
) -> None:
    assert main(argv, client=s3_server.client()) == status
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("check: error: ")


def test_the_command_runs_as_a_module(s3_server: S3Server, v1: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    deployed(s3_server, v1, "check/module/")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "staticsync.check", "--bucket", "live", "--prefix", "check/module/"],
        env=s3_server.env() | {"PYTHONPATH": str(root / "lambda_fn")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr.strip() == "s3://live/check/module/: whole"
