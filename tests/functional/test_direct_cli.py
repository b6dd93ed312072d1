"""The direct mode in-process: `build_tool deploy`'s mistakes, the conditional-writes probe against
botocore's Stubber, the local artifact source, `deploy_source` on moto, and `manage.py deploystatic
--direct` (tests/integration/test_direct.py runs it against real servers)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.stub import ANY, Stubber

from build_tool.aws import direct
from build_tool.aws.staging import upload_arguments
from build_tool.build.pack import Packed
from staticsync.artifact.archive import Artifact
from staticsync.artifact.local import LocalRange
from staticsync.artifact.ranged import SparseFile
from staticsync.bucket import LiveBucket, Run
from staticsync.config import Settings
from staticsync.deploy.run import deploy_source
from staticsync.live.journal import read_entry
from staticsync.meter import RequestMeter
from staticsync.model.contract import META_RELEASE_SHA256
from staticsync.report import SyncReport
from tests.functional.test_static_deploy import deploystatic, in_touchy
from tests.inprocess import PROJECTS
from tests.inprocess import cli as run

TOUCHY = PROJECTS / "touchy"
SETTINGS = Settings("live")
FILES = {"css/site.css": b"body { color: teal }\n" * 40, "robots.txt": b"User-agent: *\n"}


def deploy(*args: str) -> list[str]:
    return ["deploy", "--settings", "touchysettings", "--project-dir", str(TOUCHY), *args]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["deploy", "--live-bucket", "live"], 2, "no settings module"),
        (deploy(), 2, "--live-bucket is required"),
        (deploy("--live-bucket", "live", "--live-prefix", "static"), 2, "must end with '/'"),
        (deploy("--live-bucket", "live", "--history-prefix", ""), 2, "--history-prefix must not be empty"),
        (
            deploy("--live-bucket", "live", "--release", "r2", "--rollback", "r1"),
            2,
            "name different releases",
        ),
        (deploy("--live-bucket", "live", "--release", "../x"), 2, "--release '../x'"),
        (deploy("--live-bucket", "live", "--profile", "nope"), 6, "AWS profile 'nope' not found"),
        (deploy("--live-bucket", "live", "--bogus"), 2, "unrecognized arguments: --bogus"),
    ],
)
def test_user_mistakes_are_one_line_and_a_documented_code_before_the_collect(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    done = run(args, tmp_path)
    assert done.returncode == code, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert message in last and last.startswith(("build_tool: error: ", "build_tool deploy: error: "))
    assert "collecting" not in done.stderr and "Traceback" not in done.stderr


def test_a_bad_function_variable_in_the_environment_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    done = run(deploy("--live-bucket", "live"), tmp_path, UPLOAD_CONCURRENCY="0")
    assert done.returncode == 2 and "UPLOAD_CONCURRENCY=0" in done.stderr, done.stderr


def test_no_credentials_stop_the_deploy_at_the_probe_before_the_collect(tmp_path: Path) -> None:
    done = run(deploy("--live-bucket", "live", "--release", "r1"), tmp_path)
    assert done.returncode == 6, done.stderr
    assert "no AWS credentials" in done.stderr and "collecting" not in done.stderr


def test_help_names_the_direct_flags_and_the_exit_codes(tmp_path: Path) -> None:
    done = run(["deploy", "--help"], tmp_path)
    assert done.returncode == 0
    for flag in ("--endpoint-url", "--accept-unconditional-writes", "--rollback RELEASE", "--live-bucket"):
        assert flag in done.stdout
    assert "7    --wait, deploy: rejected" in done.stdout


# The probe, request by request.


def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def expect_probe(stubber: Stubber, answers: dict[str, str | None], delete: str | None = None) -> None:
    """The probe's four requests; an answer is an error code, or None for a 200."""
    stubber.add_response("put_object", {}, {"Bucket": "live", "Key": ANY, "Body": b""})
    for condition, value in direct.CONDITIONS.items():
        expected = {"Bucket": "live", "Key": ANY, "Body": b"", condition: value}
        code = answers[condition]
        if code is None:
            stubber.add_response("put_object", {}, expected)
        else:
            status = 501 if code == "NotImplemented" else 412 if code == "PreconditionFailed" else 404
            stubber.add_client_error("put_object", code, http_status_code=status, expected_params=expected)
    if delete:
        stubber.add_client_error("delete_object", delete, http_status_code=403)
    else:
        stubber.add_response("delete_object", {}, {"Bucket": "live", "Key": ANY})


@pytest.mark.parametrize(
    ("answers", "verdicts"),
    [
        ({"IfNoneMatch": "PreconditionFailed", "IfMatch": "PreconditionFailed"}, ("honoured", "honoured")),
        ({"IfNoneMatch": "PreconditionFailed", "IfMatch": "NoSuchKey"}, ("honoured", "honoured")),
        ({"IfNoneMatch": None, "IfMatch": None}, ("ignored", "ignored")),
        ({"IfNoneMatch": "PreconditionFailed", "IfMatch": None}, ("honoured", "ignored")),
        ({"IfNoneMatch": "NotImplemented", "IfMatch": "NotImplemented"}, ("not supported", "not supported")),
    ],
)
def test_the_probe_says_what_the_store_did_with_each_condition_in_four_requests(
    answers: dict[str, str | None], verdicts: tuple[str, str]
) -> None:
    client, stubber = stubbed()
    expect_probe(stubber, answers)
    with stubber:
        found = direct.probe(client, SETTINGS)
    stubber.assert_no_pending_responses()
    assert (found.answers["IfNoneMatch"], found.answers["IfMatch"]) == verdicts
    assert found.key.startswith(".releases/probes/") and not found.left_behind


def test_a_denied_probe_is_the_aws_error_and_a_denied_delete_leaves_the_probe_behind() -> None:
    client, stubber = stubbed()
    stubber.add_client_error("put_object", "AccessDenied", http_status_code=403)
    with stubber, pytest.raises(direct.LiveWriteError, match="denied .*s3:PutObject"):
        direct.probe(client, SETTINGS)
    client, stubber = stubbed()
    expect_probe(
        stubber, {"IfNoneMatch": "PreconditionFailed", "IfMatch": "PreconditionFailed"}, "AccessDenied"
    )
    with stubber:
        assert direct.probe(client, SETTINGS).left_behind


def test_an_unexpected_answer_to_a_condition_is_an_error_not_a_verdict() -> None:
    client, stubber = stubbed()
    stubber.add_response("put_object", {})
    stubber.add_client_error("put_object", "InternalError", http_status_code=500)
    stubber.add_response("delete_object", {})
    with stubber, pytest.raises(direct.LiveWriteError, match="probing conditional writes"):
        direct.probe(client, SETTINGS)
    stubber.assert_no_pending_responses()  # the probe key was still deleted


class EmptyBody:
    """The raw body of an answer made up in a before-send hook."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""


def test_accepted_unhonoured_conditions_are_not_sent() -> None:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sent: list[dict[str, bytes]] = []

    def answer(request: Any, **_: Any) -> Any:
        sent.append(dict(request.headers))
        return AWSResponse(request.url, 200, HTTPHeaders(), EmptyBody())

    client.meta.events.register("before-send.s3.PutObject", answer)
    direct.strip_conditions(client, ("IfMatch",))
    client.put_object(Bucket="live", Key="k", Body=b"x", IfMatch='"e"')
    client.put_object(Bucket="live", Key="k", Body=b"x", IfNoneMatch="*")
    assert "If-Match" not in sent[0] and sent[1]["If-None-Match"] == b"*"


# The local source and deploy_source.


def test_a_local_artifact_reads_as_a_staged_one(make_artifact: Callable[..., Packed]) -> None:
    packed = make_artifact(FILES, release="r1")
    with LocalRange(packed.path, upload_arguments(packed)["Metadata"]) as source:
        assert (source.uri, source.tag_count, source.size) == (f"direct:{packed.path.name}", 0, packed.size)
        assert source.etag == f'"{packed.sha256}"'
        assert source.read_range(0, 4) == packed.path.read_bytes()[:4]
        (start, tail), *_ = source.initial_fragments().items()
        assert start + len(tail) == packed.size and tail == packed.path.read_bytes()[start:]
        artifact = Artifact(SparseFile(source, source.initial_fragments()), SETTINGS, packed.release_sha256)
        assert artifact.record.release == "r1"
    unnamed = LocalRange(packed.path, {})  # no digest given: the zip's own, read
    assert unnamed.etag == f'"{hashlib.sha256(packed.path.read_bytes()).hexdigest()}"'
    unnamed.close()


def test_a_local_artifact_cut_short_while_deploying_is_an_error(make_artifact: Callable[..., Packed]) -> None:
    packed = make_artifact(FILES, release="r1")
    with LocalRange(packed.path, {}) as source:
        os.truncate(packed.path, 10)
        with pytest.raises(OSError, match="changed while it was deployed"):
            source.read_range(0, 100)


def direct_run(client: Any, source: LocalRange, settings: Settings = SETTINGS) -> SyncReport:
    meter = RequestMeter()
    meter.attach(client)
    return deploy_source(LiveBucket(client, settings), source, Run(SyncReport(artifact=source.uri), meter))


def test_deploy_source_deploys_a_local_artifact_and_names_it_in_the_journal(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    packed = make_artifact(FILES, release="r1")
    with LocalRange(packed.path, upload_arguments(packed)["Metadata"]) as source:
        report = direct_run(moto_s3, source)
    assert (report.outcome, report.release, report.artifact) == ("deployed", "r1", source.uri)
    entry = read_entry(moto_s3, SETTINGS, 1)
    assert entry is not None and entry.artifact == source.uri == f"direct:{packed.path.name}"


def test_a_rejected_local_artifact_is_reported_and_nothing_is_tagged(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    packed = make_artifact(FILES, release="r1")
    with LocalRange(packed.path, {META_RELEASE_SHA256: "0" * 64}) as source:
        report = direct_run(moto_s3, source)
    assert (report.outcome, report.reason) == ("rejected", "checksum_mismatch")
    assert not {"PutObject", "PutObjectTagging", "GetObjectTagging"} & set(report.requests_by_operation)


# manage.py deploystatic --direct.


def with_static_deploy(extra: dict[str, Any], work: Callable[[], Any]) -> Callable[[], Any]:
    def child() -> Any:
        from django.conf import settings

        settings.STATIC_DEPLOY = {**settings.STATIC_DEPLOY, **extra}
        return work()

    return child


def test_deploystatic_direct_needs_a_live_bucket_and_takes_the_sites_from_static_deploy() -> None:
    code, _, stderr = in_touchy("touchysettings_deploy", lambda: deploystatic("--direct"))
    assert code == 2 and "--live-bucket is required" in stderr, stderr
    # STATIC_DEPLOY's live_bucket (the pinned storage's) is the target: with no credentials, the probe
    # is the first request, before the collect.
    site = with_static_deploy({"live_bucket": "live"}, lambda: deploystatic("--direct"))
    code, _, stderr = in_touchy("touchysettings_deploy", site)
    assert code == 6 and "no AWS credentials" in stderr and "collecting" not in stderr, stderr
    code, _, stderr = in_touchy("touchysettings_deploy", lambda: deploystatic("--direct", "--rollback"))
    assert code == 2 and "build_tool deploy --rollback" in stderr, stderr


def test_deploystatic_direct_deploys_into_the_live_bucket_and_writes_the_pin_file(tmp_path: Path) -> None:
    def child() -> tuple[int, str, str]:
        from moto import mock_aws

        os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
        with mock_aws():
            boto3.client("s3").create_bucket(Bucket="live")
            args = ["--direct", "--live-bucket", "live", "--live-prefix", "static/", "--json"]
            return deploystatic(*args, "--pin-file", str(tmp_path / "release.jsonl"))

    code, stdout, stderr = in_touchy("touchysettings_deploy", child)
    assert code == 0, stderr
    report = json.loads(stdout)
    assert (report["outcome"], report["release"], report["artifact"]) == (
        "deployed",
        "touchy1",
        "direct:touchy1.zip",
    )
    assert all(key.startswith("static/") for key in report["keys_uploaded"])
    assert json.loads((tmp_path / "release.jsonl").read_text().splitlines()[0])["release"] == "touchy1"
