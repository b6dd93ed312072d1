"""The policies in iam/ allow every S3 call the commands make, and nothing they do not make.

Each command runs in-process (tests/inprocess.py: a forked child) against moto, with a botocore hook on
every client it creates recording each call's operation, bucket and key. The function runs as it would
on AWS, on the S3 event of what a command staged, but with the handler's own client, which records
nothing: what is recorded is what the CI role or the operator calls. Every recorded call must be allowed
(an Allow statement's action and resource match it, no Deny does) and every action and resource of every
Allow statement must be used by some call.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import boto3
import botocore.session
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from build_tool.aws import staging
from tests.artifacts import build, collected_tree
from tests.conftest import FakeContext, load_event
from tests.handler import fresh_handler
from tests.inprocess import PROJECTS, forked
from tests.inprocess import cli as run_cli

ROOT = Path(__file__).resolve().parents[2]
PLACES = {"ArtifactsBucketName": "artifacts", "StagingPrefix": "staging/", "LiveBucketName": "live"}
PLACES["LivePrefix"] = "static/"
LIVE = ["--live-bucket", "live", "--live-prefix", "static/"]
MOTO = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

# The IAM action each S3 operation needs (Service Authorization Reference; HEAD is authorised as GET,
# the multipart steps as the PutObject they make up).
ACTIONS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
    "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
}


class Call(NamedTuple):
    operation: str
    bucket: str
    key: str | None  # None: a call on the bucket

    @property
    def action(self) -> str:
        assert self.operation in ACTIONS, f"map {self.operation} to its IAM action in ACTIONS"
        return ACTIONS[self.operation]

    @property
    def resource(self) -> str:
        return f"arn:aws:s3:::{self.bucket}" + (f"/{self.key}" if self.key is not None else "")


CALLS: list[Call] = []


def record(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    if model.name in ("PutObject", "CompleteMultipartUpload"):
        context["staged_key"] = params["Key"]  # for run_the_function, after the call
    if model.name == "DeleteObjects":
        CALLS.extend(Call(model.name, params["Bucket"], o["Key"]) for o in params["Delete"]["Objects"])
    else:
        CALLS.append(Call(model.name, params["Bucket"], params.get("Key")))


def record_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client created from here on (in a forked command, its own) records its calls."""
    create = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create(self, *args, **kwargs)
        if client.meta.service_model.service_name == "s3":
            client.meta.events.register("before-parameter-build.s3", record)
            client.meta.events.register("after-call.s3", run_the_function)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)


APP: list[ModuleType] = []  # the handler module, for run_the_function


def run_the_function(context: dict[str, Any], http_response: Any, **_: Any) -> None:
    """After a command staged an artifact or a request, the function runs on its S3 event (with its own
    client), as S3 would invoke it: so a --wait finds the report."""
    key = context.get("staged_key") or ""
    if http_response.status_code == 200 and key.startswith("staging/") and key.endswith((".zip", ".json")):
        invoke(APP[0], key)


def invoke(app: ModuleType, key: str) -> dict[str, Any]:
    size = app.s3.head_object(Bucket="artifacts", Key=key)["ContentLength"]
    event = load_event("artifact_put.json")
    event["Records"][0]["s3"]["object"].update(key=key, size=size)
    [report] = app.lambda_handler(event, FakeContext())["deploys"]
    return dict(report)


@contextmanager
def moto_buckets() -> Iterator[Any]:
    """An in-process S3 with buckets artifacts and live (as conftest's moto_s3, for a whole module)."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            patch.delenv(key)
        for key, value in MOTO.items():
            patch.setenv(key, value)
        with mock_aws():
            client = boto3.client("s3")
            for bucket in ("artifacts", "live"):
                client.create_bucket(Bucket=bucket)
            yield client


def deploy_two_releases(app: ModuleType, client: Any, folder: Path) -> None:
    """Releases r1 then r2, deployed by the function: r2 live, r1 a rollback target."""
    for number in (1, 2):
        files = {"css/site.css": f"body {{ order: {number}; }}\n".encode(), "robots.txt": b"ok\n"}
        packed = build(collected_tree(files), folder / f"r{number}.zip", release=f"r{number}")
        staging.stage(client, packed, "artifacts", f"staging/r{number}.zip")
        assert invoke(app, f"staging/r{number}.zip")["outcome"] == "deployed"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, set[Call]]]:
    """The calls of CI's commands and of the operator's, each run once against the same live site."""
    folder = tmp_path_factory.mktemp("iam")
    with moto_buckets() as client, fresh_handler(LIVE_PREFIX="static/", ARTIFACTS_BUCKET="artifacts") as app:
        app.logger.registered_handler.setStream(io.StringIO())
        deploy_two_releases(app, client, folder)
        APP[:] = [app]
        try:
            with pytest.MonkeyPatch.context() as patch:
                record_every_client(patch)
                # Each command runs in a fork of this process: none changes the site the next one sees.
                yield {"ci": ci_calls(folder, patch), "operator": operator_calls(client)}
        finally:
            APP.clear()


def calls_of(argv: list[str], tmp_path: Path, code: int) -> set[Call]:
    """Run `build_tool <argv>` against the live site; the S3 calls it made."""
    project = PROJECTS / "touchy"
    done = run_cli(argv, tmp_path, cwd=project, inspect=lambda: list(CALLS), **MOTO)
    assert done.returncode == code, done.stderr
    return set(done.value)


def check_calls(argv: list[str], code: int) -> set[Call]:
    """Run `python -m staticsync.check <argv>`; the S3 calls it made."""
    from staticsync import check

    def work() -> tuple[int, list[Call]]:
        import contextlib

        with contextlib.redirect_stdout(io.StringIO()):
            return check.main(argv), list(CALLS)

    returned, calls = forked(work)
    assert returned == code
    return set(calls)


PACKAGE = ["package", "--settings", "touchysettings", "--project-dir", str(PROJECTS / "touchy")]


def ci_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[Call]:
    """What CI's commands call: package (a delta, waited for; a large one, multipart; one whose upload
    fails and is aborted), plan, status, rollback (waited for), prune (dry run, and a request waited for)."""
    calls = calls_of([*PACKAGE, "--bucket", "artifacts", "--release", "r3", *LIVE, "--wait"], tmp_path, 0)
    calls |= calls_of(["plan", "--settings", "touchysettings", *LIVE, "--release", "r4"], tmp_path, 2)
    calls |= calls_of(["status", *LIVE, "--artifacts-bucket", "artifacts"], tmp_path, 0)
    calls |= calls_of(["rollback", "--bucket", "artifacts", *LIVE, "--wait"], tmp_path, 0)
    calls |= calls_of(["prune", "--dry-run", "--bucket", "artifacts", *LIVE], tmp_path, 0)
    calls |= calls_of(["prune", "--bucket", "artifacts", *LIVE, "--wait"], tmp_path, 0)
    monkeypatch.setattr(staging, "SINGLE_PUT_BYTES", 0)  # managed transfer ...
    monkeypatch.setattr(staging, "MULTIPART_BYTES", 1)  # ... in parts
    calls |= calls_of([*PACKAGE, "--bucket", "artifacts", "--release", "r5", "--wait"], tmp_path, 0)
    return calls | failed_upload_calls(tmp_path, monkeypatch)


def failed_upload_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[Call]:
    """A multipart upload whose part fails: the transfer aborts it (s3:AbortMultipartUpload)."""

    def fail_parts(model: Any, **_: Any) -> None:
        if model.name == "UploadPart":
            raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

    create = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create(self, *args, **kwargs)
        client.meta.events.register("before-call.s3", fail_parts)
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    calls = calls_of([*PACKAGE, "--bucket", "artifacts", "--release", "r6"], tmp_path, 6)
    assert Call("AbortMultipartUpload", "artifacts", "staging/r6.zip") in calls
    return calls


def operator_calls(moto_s3: Any) -> set[Call]:
    """What an operator's check and repair call, on a live bucket that lost a file."""
    live_css = "static/css/site.css"  # the live release's (r2's) unhashed copy
    moto_s3.delete_object(Bucket="live", Key=live_css)
    place = ["--bucket", "live", "--prefix", "static/", "--artifacts-bucket", "artifacts"]
    calls = check_calls([*place, "--deep"], 1)
    repaired = check_calls([*place, "--repair"], 0)
    assert Call("PutObject", "live", live_css) in repaired
    return calls | repaired


def policy(name: str) -> list[dict[str, Any]]:
    text = (ROOT / "iam" / name).read_text()
    for place, value in PLACES.items():
        text = text.replace("${" + place + "}", value)
    assert "${" not in text, f"iam/{name} has a placeholder the test does not know"
    return [statement_of(s) for s in json.loads(text)["Statement"]]


def statement_of(statement: dict[str, Any]) -> dict[str, Any]:
    listed = {
        k: [v] if isinstance(v, str) else v for k, v in statement.items() if k in ("Action", "Resource")
    }
    return {**statement, **listed}


def matches(statement: dict[str, Any], call: Call) -> bool:
    resource = any(fnmatch.fnmatchcase(call.resource, pattern) for pattern in statement["Resource"])
    return call.action in statement["Action"] and resource


def denied(statements: list[dict[str, Any]], calls: set[Call]) -> list[Call]:
    """The calls no Allow statement allows, or a Deny statement denies."""
    allows = [s for s in statements if s["Effect"] == "Allow"]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    return sorted(
        c for c in calls if not any(matches(s, c) for s in allows) or any(matches(s, c) for s in denies)
    )


def needs(call: Call, action: str, pattern: str) -> bool:
    """Whether `call` needs `action` on `pattern`. S3 answers a missing key 403 instead of 404 unless
    the caller may list the bucket, so a read of a bucket's objects also needs s3:ListBucket on it."""
    if action == "s3:ListBucket" and call.action == "s3:GetObject":
        return fnmatch.fnmatchcase(f"arn:aws:s3:::{call.bucket}", pattern)
    return call.action == action and fnmatch.fnmatchcase(call.resource, pattern)


def unused(statements: list[dict[str, Any]], calls: set[Call]) -> list[tuple[str, str, str]]:
    """Each (statement, action, resource) of an Allow that no call needs."""
    return [
        (s.get("Sid", "?"), action, pattern)
        for s in statements
        if s["Effect"] == "Allow"
        for action in s["Action"]
        for pattern in s["Resource"]
        if not any(needs(c, action, pattern) for c in calls)
    ]


@pytest.fixture
def ci(recorded: dict[str, set[Call]]) -> set[Call]:
    return recorded["ci"]


def test_the_ci_role_allows_every_call_of_package_plan_status_rollback_and_prune(ci: set[Call]) -> None:
    assert denied(policy("ci-role-policy.json"), ci) == []


def test_the_ci_role_grants_nothing_those_commands_do_not_call(ci: set[Call]) -> None:
    assert unused(policy("ci-role-policy.json"), ci) == []


def test_the_ci_role_never_writes_the_live_bucket(ci: set[Call]) -> None:
    assert not [c for c in ci if c.bucket == "live" and c.action != "s3:GetObject" and c.key is not None]


@pytest.fixture
def operator(recorded: dict[str, set[Call]]) -> set[Call]:
    return recorded["operator"]


def test_the_operator_policy_allows_every_call_of_check_and_repair(operator: set[Call]) -> None:
    assert denied(policy("operator-policy.json"), operator) == []


def test_the_operator_policy_grants_nothing_check_and_repair_do_not_call(operator: set[Call]) -> None:
    assert unused(policy("operator-policy.json"), operator) == []


@pytest.mark.parametrize("key", ["static/staticfiles.json", "static/.releases/r2/history.jsonl"])
def test_the_operator_can_never_write_the_deployers_own_keys(key: str) -> None:
    assert denied(policy("operator-policy.json"), {Call("PutObject", "live", key)}) == [
        Call("PutObject", "live", key)
    ]


def test_the_policies_are_valid_iam_documents() -> None:
    for name in ("ci-role-policy.json", "operator-policy.json"):
        document = json.loads((ROOT / "iam" / name).read_text())
        assert document["Version"] == "2012-10-17"
        sids = [s["Sid"] for s in document["Statement"]]
        assert len(set(sids)) == len(sids) and all(s.isalnum() for s in sids)
        assert all(set(s) <= {"Sid", "Effect", "Action", "Resource"} for s in document["Statement"])
