"""The deploy state machine's definition (statemachine/deploy.asl.json) executed for its wiring in moto:
the S3 event hands a large plan to the machine, which runs Plan and Finish in the sync function's
handler and the Map's children in the shard function's, all in-process against moto's S3.

What moto does not do, and so what this does not test: moto's Map takes a child that failed (after its
retries) for a success, which is why the finish step reads every marker (the last test shows it
refusing); it parses ToleratedFailurePercentage only as a decimal (the test gives it 0.0) and ignores
it, and ignores MaxConcurrencyPath; it throttles no Lambda (the retry on
Lambda.TooManyRequestsException is not exercised); its children are not separate executions; its
ItemReader reads the list from moto's S3 without the role's policy. The steps themselves, with
crashes and races, are tested against SeaweedFS (tests/integration/test_sharded.py).
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest

from build_tool.build.pack import Packed
from devtools.lambda_context import FakeContext
from tests.artifacts import stage_artifact
from tests.sites import build_version

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@pytest.fixture(scope="module")
def v1(tmp_path_factory: pytest.TempPathFactory) -> Packed:
    return build_version(tmp_path_factory.mktemp("machine"), 1, pages=40)


@pytest.fixture
def aws() -> Iterator[Any]:
    """moto with state machines executed, buckets artifacts and live, and the AWS_ environment."""
    from moto import mock_aws

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            import boto3

            s3 = boto3.client("s3", region_name=REGION)
            for bucket in ("artifacts", "live"):
                s3.create_bucket(Bucket=bucket)
            yield boto3
    finally:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(saved)


def imported(name: str) -> ModuleType:
    sys.modules.pop(name, None)
    module = importlib.import_module(name)
    module.metrics.clear_metrics()
    return module


@pytest.fixture
def machine(aws: Any) -> Iterator[dict[str, Any]]:
    """Both functions created in moto and run in-process; the state machine created from the definition."""
    lambdas, sfn = aws.client("lambda", region_name=REGION), aws.client("stepfunctions", region_name=REGION)
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    role = aws.client("iam", region_name=REGION).create_role(
        RoleName="deploy", AssumeRolePolicyDocument=json.dumps(trust)
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "")
    arns = {
        name: lambdas.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role["Role"]["Arn"],
            Handler="app.lambda_handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
        for name in ("sync", "shard")
    }
    definition = (ROOT / "statemachine" / "deploy.asl.json").read_text()
    # moto's parser takes only a decimal here (AWS takes any number 0-100), and ignores it anyway.
    definition = definition.replace('"ToleratedFailurePercentage": 0,', '"ToleratedFailurePercentage": 0.0,')
    definition = definition.replace("${SyncFunctionArn}", arns["sync"]).replace(
        "${ShardFunctionArn}", arns["shard"]
    )
    arn = sfn.create_state_machine(
        name="deploy", definition=definition, roleArn=role["Role"]["Arn"], type="STANDARD"
    )["stateMachineArn"]
    env = {"LIVE_BUCKET": "live", "POWERTOOLS_METRICS_NAMESPACE": "Test", "STATE_MACHINE_ARN": arn}
    env |= {"SHARD_THRESHOLD_FILES": "10", "SHARD_FILES": "8", "ARTIFACTS_BUCKET": "artifacts"}
    with mock.patch.dict(os.environ, env):
        handlers = {"sync": imported("app"), "shard": imported("shard_app")}
        calls: list[tuple[str, dict[str, Any]]] = []
        wiring = {
            "handlers": handlers,
            "calls": calls,
            "arn": arn,
            "sfn": sfn,
            "s3": aws.client("s3", region_name=REGION),
        }

        def invoke(function: Any, event: Any = None) -> tuple[str, bool, str]:
            name = function.function_name
            calls.append((name, event))
            try:
                result = (
                    wiring.get("child", handlers[name].lambda_handler)
                    if name == "shard"
                    else handlers[name].lambda_handler
                )
                return json.dumps(result(event, FakeContext())), False, ""
            except Exception as error:  # as Lambda reports an unhandled error
                return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}), True, ""

        with mock.patch("moto.awslambda.models.LambdaFunction._invoke_lambda", invoke):
            yield wiring
        for name in ("app", "shard_app"):
            sys.modules.pop(name, None)


def s3_event(key: str, size: int) -> dict[str, Any]:
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "artifacts"}, "object": {"key": key, "size": size}},
    }
    return {"Records": [record]}


def run_to_end(machine: dict[str, Any], packed: Packed) -> dict[str, Any]:
    """Stage `packed`, deliver its S3 event twice to the sync function's handler, and wait for the one
    execution it started."""
    s3 = machine["s3"]
    key = stage_artifact(s3, packed)
    event = s3_event(key, s3.head_object(Bucket="artifacts", Key=key)["ContentLength"])
    for _ in range(2):  # a duplicate event
        result = machine["handlers"]["sync"].lambda_handler(event, FakeContext())
        assert [r["outcome"] for r in result["deploys"]] == ["handed_off"]
    [execution] = machine["sfn"].list_executions(stateMachineArn=machine["arn"])["executions"]
    deadline = time.monotonic() + 300  # moto's retries back off for real: generous on a busy machine
    while time.monotonic() < deadline:
        described = machine["sfn"].describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError("the execution did not end within 300 s")


def report(machine: dict[str, Any], packed: Packed) -> dict[str, Any]:
    body = machine["s3"].get_object(
        Bucket="artifacts", Key=f"reports/staging/{packed.record.release}.zip.json"
    )["Body"]
    return dict(json.loads(body.read()))


def steps(machine: dict[str, Any]) -> list[str]:
    return [
        event.get("staticsync", "shard") if name == "sync" else "shard" for name, event in machine["calls"]
    ]


def test_the_machine_plans_runs_every_shard_and_finishes_in_the_sync_function(
    machine: dict[str, Any], v1: Packed
) -> None:
    described = run_to_end(machine, v1)
    assert described["status"] == "SUCCEEDED", described
    order = steps(machine)
    shards = order.count("shard")
    assert order == ["sharded-plan", *["shard"] * shards, "sharded-finish"] and shards > 3
    # Every child got its item's index and digest and the plan step's list, and nothing else.
    children = [event for name, event in machine["calls"] if name == "shard"]
    assert sorted(c["index"] for c in children) == list(range(shards))
    assert all(set(c) == {"index", "digest", "list"} for c in children)
    assert report(machine, v1)["outcome"] == "deployed"
    live = machine["s3"].head_object(Bucket="live", Key="staticfiles.json")
    assert live["Metadata"]["release"] == v1.record.release


def test_a_child_the_engine_counts_as_done_without_its_marker_gets_no_cutover(
    machine: dict[str, Any], v1: Packed
) -> None:
    """moto's Map takes a failed child for a success; the finish step reads the markers and refuses."""
    real = machine["handlers"]["shard"].lambda_handler

    def child(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event["index"] == 1:
            raise RuntimeError("this child fails every attempt")
        return dict(real(event, context))

    machine["child"] = child
    described = run_to_end(machine, v1)
    assert described["status"] == "FAILED"
    # moto retried the child, then let the Map succeed; the finish step refused and the failure was reported.
    order = steps(machine)
    assert order[0] == "sharded-plan" and order[-2:] == ["sharded-finish", "sharded-failed"]
    failed = report(machine, v1)
    assert failed["outcome"] == "failed" and "ShardsIncomplete" in failed["detail"]
    assert "Contents" not in machine["s3"].list_objects_v2(Bucket="live", Prefix="staticfiles.json")
