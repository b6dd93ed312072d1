"""A deploy sharded over Step Functions, its steps run directly against SeaweedFS with the threshold
forced low: the plan step (sync function), each Map child (shard function) and the finish step, wired
by a small engine that does what the state machine does (the definition's own wiring is tested in
moto: tests/functional/test_sharded_machine.py). Crashes, failures for good, races, duplicate events,
retention between the shards, missing and forged markers."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from build_tool.aws.staging import stage
from build_tool.build.pack import Packed
from devtools.lambda_context import FakeContext
from devtools.seaweed import S3Server
from staticsync.bucket import LiveBucket, Run
from staticsync.config import Settings
from staticsync.errors import LiveChanged
from staticsync.model.contract import MANIFEST_NAME
from staticsync.operations.prune import prune_live
from staticsync.report import SyncReport
from staticsync.sharded import finish as finish_module
from staticsync.sharded import shards as shard_io
from staticsync.sharded.finish import finish_step
from staticsync.sharded.plan import ArtifactRef, plan_step
from staticsync.sharded.shard import run_shard
from staticsync.sharded.shards import ListRef, ShardsIncomplete, marker_key
from tests.artifacts import build, read_packed, stage_artifact
from tests.deploys import deploy_key
from tests.handler import fresh_handler
from tests.inprocess import ROOT, cli, pinned_site
from tests.sites import build_version, collected, commit, created_at, site

PAGES = 60  # about 250 files a version: 120 content-addressed names, in shards of 16
HEADERS = ("ContentType", "CacheControl", "ContentEncoding", "Metadata")
MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:static-deploy"


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Packed]:
    folder = tmp_path_factory.mktemp("sharded")
    versions = {v: build_version(folder, v, PAGES) for v in (1, 2, 3)}
    # v4 brings back v1's first stylesheet: its hashed name is v1's, stored with v1's date.
    tree = collected({**site(4, PAGES), "css/page0.css": site(1, PAGES)["css/page0.css"]})
    ancestry = tuple(commit(v) for v in range(3, 0, -1))
    # A small release from a shallow clone: nothing proves it older or newer than any other.
    race = build_version(folder, 5, release="race", shallow=True)
    return versions | {4: build(tree, folder / "v4.zip", "v4", created_at(4), commit(4), ancestry), 5: race}


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    name = request.node.name.replace("[", "-").rstrip("]")
    return Settings(
        live_bucket="live",
        artifacts_bucket="artifacts",
        live_prefix=f"sharded/{name}/",
        staging_prefix=f"staging/sharded/{name}/",
        state_machine_arn=MACHINE,
        shard_threshold_files=10,
        shard_files=16,
    )


@pytest.fixture
def client(s3_server: S3Server) -> Any:
    return s3_server.client()


# ---------------------------------------------------------------- the engine: what the state machine does


@dataclass
class Engine:
    """Plan, every shard (with the Map's retries), finish; back to plan when the finish says so.
    `between` runs once the shards are done, before the finish (a racing deploy, retention)."""

    client: Any
    settings: Settings
    child: Callable[[LiveBucket, dict[str, Any], Run], dict[str, Any]] = run_shard
    attempts: int = 3
    between: Callable[[], None] = lambda: None
    lists: list[ListRef] = field(default_factory=list)
    reports: list[SyncReport] = field(default_factory=list)

    @property
    def bucket(self) -> LiveBucket:
        return LiveBucket(self.client, self.settings)

    def run(self, artifact: ArtifactRef, rounds: int = 4) -> str:
        """The execution's end: "done", or "failed" when a child failed all its attempts."""
        for _ in range(rounds):
            planned = plan_step(self.bucket, artifact, self.new_run(artifact))
            if planned["next"] == "done":
                return "done"
            listed = ListRef.of(planned["list"])
            self.lists.append(listed)
            if not self.map(listed):
                return "failed"
            self.between()
            if finish_step(self.bucket, artifact, listed, self.new_run(artifact))["next"] == "done":
                return "done"
        raise AssertionError(f"still planning after {rounds} rounds")

    def map(self, listed: ListRef) -> bool:
        """The Distributed Map: items read from the list object, each child retried; False when one
        failed every attempt (ToleratedFailurePercentage 0)."""
        body = self.client.get_object(Bucket=listed.bucket, Key=listed.key)["Body"].read()
        for item in json.loads(body):
            event = {"index": item["index"], "digest": item["digest"], "list": listed.as_dict()}
            if not any(self.attempt(event) for _ in range(self.attempts)):
                return False
        return True

    def attempt(self, event: dict[str, Any]) -> bool:
        try:
            self.child(self.bucket, event, Run(SyncReport(event["list"]["key"])))
        except Exception:
            return False
        return True

    def new_run(self, artifact: ArtifactRef) -> Run:
        report = SyncReport(artifact.staged.uri)
        self.reports.append(report)
        return Run(report)


def staged_ref(client: Any, settings: Settings, packed: Packed) -> ArtifactRef:
    key = stage_artifact(client, packed, prefix=settings.staging_prefix)
    head = client.head_object(Bucket="artifacts", Key=key)
    return ArtifactRef("artifacts", key, head["ETag"].strip('"'), head["ContentLength"])


def inline(settings: Settings) -> Settings:
    return replace(settings, state_machine_arn="")


def live_release(client: Any, settings: Settings) -> str:
    head = client.head_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))
    return str(head["Metadata"]["release"])


def assert_whole(client: Any, settings: Settings, packed: Packed) -> None:
    """The live manifest names the release, and every file of its record is there with its bytes."""
    assert live_release(client, settings) == packed.record.release
    for path, digest in packed.record.files.items():
        head = client.head_object(Bucket="live", Key=settings.live_key(path))
        assert head["Metadata"]["sha256"] == digest, path


def objects(client: Any, prefix: str) -> dict[str, tuple[bytes, dict[str, Any]]]:
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="live", Prefix=prefix):
        for item in page.get("Contents", []):
            response = client.get_object(Bucket="live", Key=item["Key"])
            headers = {name: response.get(name) for name in HEADERS}
            found[item["Key"].removeprefix(prefix)] = (response["Body"].read(), headers)
    return found


def first_deployed(client: Any, settings: Settings, packed: Packed) -> None:
    report = deploy_key(
        client, inline(settings), stage_artifact(client, packed, prefix=settings.staging_prefix)
    )
    assert report.outcome == "deployed", report.detail


# ---------------------------------------------------------------- going live


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project packed by `build_tool package` as release r1."""
    tmp = tmp_path_factory.mktemp("example")
    project = tmp / "example"
    shutil.copytree(ROOT / "example", project, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    args = ["package", "--settings", "exampleproject.settings", "--project-dir", str(project)]
    done = cli([*args, "--release", "r1", "--output", str(tmp / "r1.zip"), "--json"], tmp)
    assert done.returncode == 0, done.stderr
    return tmp / "r1.zip"


def test_a_sharded_deploy_of_the_example_project_ends_byte_for_byte_as_an_inline_one(
    client: Any, settings: Settings, example: Path
) -> None:
    stage(client, read_packed(example), "artifacts", "staging/r1.zip")
    head = client.head_object(Bucket="artifacts", Key="staging/r1.zip")
    artifact = ArtifactRef("artifacts", "staging/r1.zip", head["ETag"].strip('"'), head["ContentLength"])
    a, b = (replace(settings, live_prefix=f"{settings.live_prefix}{side}/") for side in ("a", "b"))
    assert deploy_key(client, inline(a), "staging/r1.zip").outcome == "deployed"
    engine = Engine(client, b)
    assert engine.run(artifact) == "done" and engine.reports[-1].outcome == "deployed"
    assert len(engine.lists) == 1 and engine.lists[0].shards > 2
    inline_objects, sharded_objects = objects(client, a.live_prefix), objects(client, b.live_prefix)
    extra = set(sharded_objects) - set(inline_objects)
    shards = {key for key in extra if key.startswith(".releases/r1/shards/")}  # the list, the markers
    assert shards and extra - shards == {".releases/r1/complete.json"}
    # The history record is the same bytes, its metadata marked sharded (written before the shards).
    assert sharded_objects[".releases/r1/history.jsonl"][1]["Metadata"].pop("sharded") == "true"
    assert {k: v for k, v in sharded_objects.items() if k not in extra} == inline_objects


def test_a_site_of_a_few_hundred_files_goes_live_whole_in_many_shards(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    first_deployed(client, settings, packed[1])
    engine = Engine(client, settings)
    assert engine.run(staged_ref(client, settings, packed[2])) == "done"
    assert engine.lists[0].shards >= 5
    assert engine.reports[0].outcome == "handed_off" and engine.reports[-1].outcome == "deployed"
    assert_whole(client, settings, packed[2])


def test_a_small_deploy_stays_inline_and_starts_no_execution(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    report = deploy_key(
        client,
        replace(settings, shard_threshold_files=100_000),
        stage_artifact(client, packed[1], prefix=settings.staging_prefix),
    )
    assert report.outcome == "deployed"
    assert_whole(client, settings, packed[1])


# ---------------------------------------------------------------- children that crash or fail


def test_a_child_that_crashes_before_its_marker_is_retried_and_the_deploy_converges(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    first_deployed(client, settings, packed[1])
    crashed: list[int] = []
    real = shard_io.write_marker

    def crash_once(client_: Any, settings_: Settings, ref: ListRef, shard: Any) -> None:
        if shard.index == 2 and not crashed:
            crashed.append(shard.index)
            raise ConnectionError("the invocation died after its uploads")
        real(client_, settings_, ref, shard)

    with mock.patch("staticsync.sharded.shard.write_marker", crash_once):
        assert Engine(client, settings).run(staged_ref(client, settings, packed[2])) == "done"
    assert crashed == [2]
    assert_whole(client, settings, packed[2])


def failing(index: int) -> Callable[[LiveBucket, dict[str, Any], Run], dict[str, Any]]:
    def child(bucket: LiveBucket, event: dict[str, Any], run: Run) -> dict[str, Any]:
        if event["index"] == index:
            raise RuntimeError("this child fails every attempt")
        return run_shard(bucket, event, run)

    return child


def test_a_child_failing_for_good_leaves_the_previous_release_whole_and_a_rerun_converges(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    first_deployed(client, settings, packed[1])
    artifact = staged_ref(client, settings, packed[2])
    assert Engine(client, settings, child=failing(1)).run(artifact) == "failed"
    assert_whole(client, settings, packed[1])
    # A rerun (a redrive, or a new execution by hand) resumes the same claim and the same list.
    rerun = Engine(client, settings)
    assert rerun.run(artifact) == "done" and rerun.reports[-1].outcome == "deployed"
    assert_whole(client, settings, packed[2])
    assert rerun.reports[-1].sequence == 2  # the place the first execution claimed, not one past it


# ---------------------------------------------------------------- races


def test_a_deploy_that_goes_live_while_the_shards_run_supersedes_the_sharded_one(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    first_deployed(client, settings, packed[1])
    engine = Engine(client, settings, between=lambda: first_deployed(client, settings, packed[5]))
    assert engine.run(staged_ref(client, settings, packed[2])) == "done"
    # The racing deploy stepped over v2's claim and cut over: v2 is older now (rule 4), not retried.
    assert (engine.reports[-1].outcome, engine.reports[-1].reason) == ("rejected", "superseded")
    assert_whole(client, settings, packed[5])


def test_a_deploy_that_claims_and_dies_while_the_shards_run_makes_the_finish_plan_again_above_it(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    """The racing deploy steps over v2's claim (place 2), claims place 3, overwrites its unhashed names
    and dies before its cutover. v2's finish must not cut over at a place it never claimed: it goes back
    to plan, which claims place 4 (stepping over 3, rewriting its dirty names) and lists its shards again."""
    first_deployed(client, settings, packed[1])
    from staticsync.deploy import execute

    def dies(*args: Any, **kwargs: Any) -> str:
        raise TimeoutError("the invocation died before its cutover")

    raced: list[bool] = []

    def race() -> None:
        if raced:
            return
        raced.append(True)
        key = stage_artifact(client, packed[5], prefix=settings.staging_prefix)
        with mock.patch.object(execute, "cut_over", dies), pytest.raises(TimeoutError):
            deploy_key(client, inline(settings), key)

    engine = Engine(client, settings, between=race)
    assert engine.run(staged_ref(client, settings, packed[2])) == "done"
    assert [r.outcome for r in engine.reports] == ["handed_off", "replan", "handed_off", "deployed"]
    assert engine.reports[-1].sequence == 4 and engine.lists[0].digest != engine.lists[1].digest
    entry = client.get_object(Bucket="live", Key=settings.live_key(".releases/journal/00000004.json"))
    assert json.loads(entry["Body"].read())["release"] == "v2"
    assert_whole(client, settings, packed[2])


def test_a_cutover_refused_by_its_condition_goes_back_to_plan_and_converges(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    first_deployed(client, settings, packed[1])
    lost: list[bool] = []
    from staticsync.deploy import execute

    real = execute.cut_over

    def lose_once(*args: Any, **kwargs: Any) -> str:
        if not lost:
            lost.append(True)
            raise LiveChanged("another cutover won the race")
        return real(*args, **kwargs)

    engine = Engine(client, settings)
    with mock.patch.object(execute, "cut_over", lose_once):
        assert engine.run(staged_ref(client, settings, packed[2])) == "done"
    assert lost and len(engine.lists) == 2  # planned twice: the same claim, the same list
    assert engine.lists[0] == engine.lists[1]
    assert [r.outcome for r in engine.reports] == ["handed_off", "replan", "handed_off", "deployed"]
    assert_whole(client, settings, packed[2])


def test_a_duplicate_event_starts_one_execution_and_publishes_no_report(
    s3_env: dict[str, str], empty_buckets: None, client: Any, packed: dict[int, Packed]
) -> None:
    key = stage_artifact(client, packed[2])
    head = client.head_object(Bucket="artifacts", Key=key)
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "artifacts"}, "object": {"key": key, "size": head["ContentLength"]}},
    }
    started: dict[str, str] = {}

    def start_execution(stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        if name in started:
            error = {"Error": {"Code": "ExecutionAlreadyExists", "Message": name}}
            raise ClientError(error, "StartExecution")  # type: ignore[arg-type]
        started[name] = input
        return {"executionArn": f"{stateMachineArn}:{name}"}

    env = {"STATE_MACHINE_ARN": MACHINE, "SHARD_THRESHOLD_FILES": "10", "SHARD_FILES": "16"}
    with fresh_handler(**env) as app:
        app.stepfunctions = mock.Mock(start_execution=start_execution)  # type: ignore[attr-defined]
        first = app.lambda_handler({"Records": [record]}, FakeContext())
        second = app.lambda_handler({"Records": [record, record]}, FakeContext())
    assert len(started) == 1
    [document] = [json.loads(value) for value in started.values()]
    assert document["artifact"] == {
        "bucket": "artifacts",
        "key": key,
        "etag": head["ETag"].strip('"'),
        "size": head["ContentLength"],
    }
    assert [r["outcome"] for r in first["deploys"] + second["deploys"]] == ["handed_off"] * 3
    assert "exists already" in second["deploys"][0]["detail"]
    listed = client.list_objects_v2(Bucket="artifacts", Prefix="reports/").get("KeyCount", 0)
    assert listed == 0  # CI waits for the finish step's report, not the hand-off's
    assert client.list_objects_v2(Bucket="live").get("KeyCount", 0) == 0  # nothing written to the live bucket


def test_the_state_machine_steps_reach_the_sync_function_through_its_handler(
    s3_env: dict[str, str], empty_buckets: None, client: Any, packed: dict[int, Packed]
) -> None:
    """The plan and finish payloads run in the sync function's handler; the finish's report is the one
    CI reads."""
    settings = Settings(
        live_bucket="live",
        artifacts_bucket="artifacts",
        state_machine_arn=MACHINE,
        shard_threshold_files=10,
        shard_files=16,
    )
    first_deployed(client, settings, packed[1])
    artifact = staged_ref(client, settings, packed[2])
    env = {"STATE_MACHINE_ARN": MACHINE, "SHARD_THRESHOLD_FILES": "10", "SHARD_FILES": "16"}
    with fresh_handler(**env) as app:
        payload = {"artifact": artifact.__dict__}
        planned = app.lambda_handler({"staticsync": "sharded-plan", **payload}, FakeContext())
        assert planned["next"] == "shards" and planned["outcome"] == "handed_off"
        Engine(client, settings).map(ListRef.of(planned["list"]))
        finished = app.lambda_handler(
            {"staticsync": "sharded-finish", "plan": planned, **payload}, FakeContext()
        )
    assert finished == {"next": "done", "outcome": "deployed"}
    report = json.loads(
        client.get_object(Bucket="artifacts", Key=f"reports/{artifact.key}.json")["Body"].read()
    )
    assert report["outcome"] == "deployed" and report["artifact_etag"] == artifact.etag
    assert_whole(client, settings, packed[2])


def test_an_upload_replaced_at_its_key_before_the_plan_step_ends_the_execution_with_no_claim(
    s3_env: dict[str, str], empty_buckets: None, client: Any, packed: dict[int, Packed]
) -> None:
    """The new upload has its own event (and execution); this one plans nothing and reports nothing."""
    settings = Settings(live_bucket="live", artifacts_bucket="artifacts")
    first_deployed(client, settings, packed[1])
    artifact = staged_ref(client, settings, packed[2])
    stage(client, packed[3], "artifacts", artifact.key)  # other bytes under the same key
    env = {"STATE_MACHINE_ARN": MACHINE, "SHARD_THRESHOLD_FILES": "10", "SHARD_FILES": "16"}
    with fresh_handler(**env) as app:
        planned = app.lambda_handler(
            {"staticsync": "sharded-plan", "artifact": artifact.__dict__}, FakeContext()
        )
    assert planned == {"next": "done", "list": None, "outcome": "replaced"}
    journal = client.list_objects_v2(Bucket="live", Prefix=".releases/journal/")
    assert [item["Key"] for item in journal["Contents"]] == [".releases/journal/00000001.json"]
    assert "Contents" not in client.list_objects_v2(Bucket="artifacts", Prefix="reports/")
    assert_whole(client, settings, packed[1])


# ---------------------------------------------------------------- retention between the shards


def test_retention_while_the_shards_run_keeps_an_old_hashed_file_the_release_ships_again(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    """v1's css/page0 hashed name comes back in v4. Its shard's IfNoneMatch upload is refused (the
    object exists), so it keeps v1's date; retention past the grace period would delete it as no
    kept release's, but v4's claim, written by the plan step before any shard, keeps it."""
    settings = replace(settings, retain_releases=1)
    for version in (1, 2):
        first_deployed(client, settings, packed[version])
    revived = [
        p for p in packed[4].record.files if p.startswith("css/page0.") and p in packed[1].record.files
    ]
    assert revived
    later = datetime.now(UTC) + timedelta(days=30)
    pruned: list[Any] = []
    engine = Engine(client, settings, between=lambda: pruned.append(prune_live(client, settings, now=later)))
    assert engine.run(staged_ref(client, settings, packed[4])) == "done"
    assert pruned and pruned[0].deleted > 0  # retention did run, and deleted v1's own files
    assert_whole(client, settings, packed[4])


# ---------------------------------------------------------------- the finish trusts markers, not the engine


@pytest.mark.parametrize("how", ["missing", "forged"])
def test_the_finish_refuses_the_cutover_unless_every_shard_has_its_marker(
    client: Any, settings: Settings, packed: dict[int, Packed], how: str
) -> None:
    first_deployed(client, settings, packed[1])
    artifact = staged_ref(client, settings, packed[2])
    bucket = LiveBucket(client, settings)
    planned = plan_step(bucket, artifact, Run(SyncReport(artifact.staged.uri)))
    listed = ListRef.of(planned["list"])
    Engine(client, settings).map(listed)
    key = marker_key(settings, listed.release, listed.digest, 3)
    client.delete_object(Bucket="live", Key=key)
    if how == "forged":  # a marker of another digest (written bypassing the deny policy)
        client.put_object(
            Bucket="live",
            Key=key,
            Body=json.dumps({"list": listed.digest, "index": 3, "digest": "0" * 64}).encode(),
        )
    with pytest.raises(ShardsIncomplete):
        finish_step(bucket, artifact, listed, Run(SyncReport(artifact.staged.uri)))
    assert_whole(client, settings, packed[1])


def test_a_child_refuses_an_item_whose_digest_is_not_in_the_list(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    first_deployed(client, settings, packed[1])
    artifact = staged_ref(client, settings, packed[2])
    bucket = LiveBucket(client, settings)
    planned = plan_step(bucket, artifact, Run(SyncReport(artifact.staged.uri)))
    for event in (
        {"index": 0, "digest": "0" * 64, "list": planned["list"]},
        {"index": 0, "digest": "x", "list": {**planned["list"], "digest": "0" * 64}},
        {
            "index": 0,
            "digest": "x",
            "list": {**planned["list"], "key": f"{settings.staging_prefix}list.json"},
        },
    ):
        with pytest.raises(shard_io.ShardRefused):
            run_shard(bucket, event, Run(SyncReport("shard")))
    assert (
        client.list_objects_v2(Bucket="live", Prefix=settings.live_key("css/page0.")).get("KeyCount", 0) > 0
    )
    assert_whole(client, settings, packed[1])


# ---------------------------------------------------------------- pinned apps (F13: the complete marker)


def hashed_of(packed: Packed) -> str:
    """The release's hashed name of css/page0.css."""
    [name] = [p for p in packed.record.files if re.fullmatch(r"css/page0\.[0-9a-f]{12}\.css", p)]
    return name


def history_of(client: Any, settings: Settings, release: str, name: str) -> dict[str, Any] | None:
    try:
        return client.head_object(Bucket="live", Key=settings.history_key(release, name))
    except ClientError:
        return None


def test_an_app_pinned_to_a_sharded_release_starts_only_once_the_finish_step_marked_it_complete(
    client: Any, settings: Settings, packed: dict[int, Packed], s3_env: dict[str, str]
) -> None:
    """The plan step writes v2's record before any shard uploads a file; a pinned app that starts on
    the record alone renders names that 404 for as long as the shards run (models/README.md, F13)."""
    first_deployed(client, settings, packed[1])
    hashed = hashed_of(packed[2])
    seen: list[str] = []

    def app_starts_before_finish() -> None:
        history = history_of(client, settings, "v2", "history.jsonl")
        assert history is not None and history["Metadata"]["sharded"] == "true"
        seen.append(pinned_site("v2", settings.live_prefix, "css/page0.css", s3_env))

    engine = Engine(client, settings, between=app_starts_before_finish)
    assert engine.run(staged_ref(client, settings, packed[2])) == "done"
    assert seen[0].startswith("ImproperlyConfigured: release v2 is still being deployed in shards: ")
    assert settings.history_key("v2", "complete.json") in seen[0]
    marker = client.get_object(Bucket="live", Key=settings.history_key("v2", "complete.json"))
    assert json.loads(marker["Body"].read()) == {"list": engine.lists[0].digest, "release": "v2"}
    assert pinned_site("v2", settings.live_prefix, "css/page0.css", s3_env) == f"/static/{hashed}"


def test_an_app_pinned_to_an_inline_release_needs_no_complete_marker(
    client: Any, settings: Settings, packed: dict[int, Packed], s3_env: dict[str, str]
) -> None:
    first_deployed(client, settings, packed[1])
    history = history_of(client, settings, "v1", "history.jsonl")
    assert history is not None and "sharded" not in history["Metadata"]
    assert history_of(client, settings, "v1", "complete.json") is None
    hashed = hashed_of(packed[1])
    assert pinned_site("v1", settings.live_prefix, "css/page0.css", s3_env) == f"/static/{hashed}"


def test_a_replan_that_became_small_runs_inline_and_still_marks_the_sharded_record_complete(
    client: Any, settings: Settings, packed: dict[int, Packed], s3_env: dict[str, str]
) -> None:
    """v2's first plan step wrote its record marked sharded; a deploy claiming above it sends the
    finish back to plan, which (the threshold raised meanwhile) runs inline: the marker is written
    there, or a pinned app would refuse v2 for good."""
    first_deployed(client, settings, packed[1])
    engine = Engine(client, settings)

    def claim_above_and_raise_the_threshold() -> None:
        from staticsync.deploy import execute

        key = stage_artifact(client, packed[5], prefix=settings.staging_prefix)
        with mock.patch.object(execute, "cut_over", dies), pytest.raises(TimeoutError):
            deploy_key(client, inline(settings), key)
        engine.settings = replace(settings, shard_threshold_files=100_000)

    engine.between = claim_above_and_raise_the_threshold
    assert engine.run(staged_ref(client, settings, packed[2])) == "done"
    assert [r.outcome for r in engine.reports] == ["handed_off", "replan", "deployed"]
    assert_whole(client, settings, packed[2])
    hashed = hashed_of(packed[2])
    assert pinned_site("v2", settings.live_prefix, "css/page0.css", s3_env) == f"/static/{hashed}"


# ---------------------------------------------------------------- late cutovers during the finish (F12)


def dies(*args: Any, **kwargs: Any) -> str:
    raise TimeoutError("the invocation died before its cutover")


@dataclass
class InFlight:
    """An inline deploy that claims, writes its unhashed names and sends its cutover, then dies: the
    cutover PUT lands later, when `land` is called (its IfMatch judged then)."""

    sent: list[tuple[Any, ...]] = field(default_factory=list)

    def deploy(self, client: Any, settings: Settings, packed: Packed) -> None:
        from staticsync.deploy import execute

        def send(*args: Any) -> str:
            self.sent.append(args)
            raise TimeoutError("the invocation died with its cutover in flight")

        key = stage_artifact(client, packed, prefix=settings.staging_prefix)
        with mock.patch.object(execute, "cut_over", send), pytest.raises(TimeoutError):
            deploy_key(client, inline(settings), key)

    def land(self) -> None:
        from staticsync.live.state import cut_over

        while self.sent:
            cut_over(*self.sent.pop())


def claims_above_live(client: Any, settings: Settings) -> list[dict[str, Any]]:
    head = client.head_object(Bucket="live", Key=settings.live_key(MANIFEST_NAME))
    live = int(head["Metadata"]["sequence"])
    listed = client.list_objects_v2(Bucket="live", Prefix=settings.live_key(".releases/journal/"))
    entries = [
        json.loads(client.get_object(Bucket="live", Key=i["Key"])["Body"].read()) for i in listed["Contents"]
    ]
    return [entry for entry in entries if entry["sequence"] > live]


def test_a_late_cutover_from_above_landing_after_the_finish_read_its_plan_writes_no_unhashed_name(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    """M21: while the shards run, the race release steps over v2's claim (place 2), claims place 3,
    writes its unhashed names and sends its cutover; it lands after the finish step read the live
    manifest (the ETag it planned against, still). The finish must not write v2's unhashed names:
    its claim is no longer the topmost, so it goes back to plan (which finds v2 superseded), and the
    live race release keeps its own bytes, with no claim above it for the next deploy to repair."""
    first_deployed(client, settings, packed[1])
    flight = InFlight()
    engine = Engine(client, settings, between=lambda: flight.deploy(client, settings, packed[5]))
    real = finish_module.read_list

    def lands_after_the_read(*args: Any) -> Any:
        flight.land()
        return real(*args)

    with mock.patch.object(finish_module, "read_list", lands_after_the_read):
        assert engine.run(staged_ref(client, settings, packed[2])) == "done"
    assert [(r.outcome, r.reason) for r in engine.reports] == [
        ("handed_off", None),
        ("replan", None),
        ("rejected", "superseded"),
    ]
    assert_whole(client, settings, packed[5])
    assert claims_above_live(client, settings) == []
    assert history_of(client, settings, "v2", "complete.json") is None


def test_a_late_cutover_from_below_landing_before_the_finish_cutover_leaves_a_claim_that_repairs_it(
    client: Any, settings: Settings, packed: dict[int, Packed]
) -> None:
    """The race release claims place 2 and sends its cutover before v2's plan; v2 steps over it,
    claims place 3, and its finish writes v2's unhashed names. The race's cutover lands just before
    v2's: v2's gets a 412. The live race release shows v2's bytes under its unhashed names for that
    moment (as under any deploy that dies after its unhashed writes, F1), but v2's claim is above the
    live place and lists every one of them: the plan step finds v2 in flight (not superseded: no
    cutover stepped over its claim), claims place 4 above its own, and rewrites them all."""
    first_deployed(client, settings, packed[1])
    flight = InFlight()
    flight.deploy(client, settings, packed[5])
    from staticsync.deploy import execute

    real, moment = execute.cut_over, []

    def lands_first(*args: Any, **kwargs: Any) -> str:
        if not flight.sent:
            return real(*args, **kwargs)
        flight.land()
        with pytest.raises(LiveChanged):
            real(*args, **kwargs)
        wrong = [
            path
            for path, digest in packed[5].record.files.items()
            if client.head_object(Bucket="live", Key=settings.live_key(path))["Metadata"]["sha256"] != digest
        ]
        moment.append((live_release(client, settings), claims_above_live(client, settings), wrong))
        raise LiveChanged("the late cutover won")

    engine = Engine(client, settings)
    with mock.patch.object(execute, "cut_over", lands_first):
        assert engine.run(staged_ref(client, settings, packed[2])) == "done"
    [(live, [above], wrong)] = moment
    assert (live, above["release"], above["sequence"]) == ("race", "v2", 3)
    assert wrong and set(wrong) <= set(above["mutable"])
    assert [r.outcome for r in engine.reports] == ["handed_off", "replan", "handed_off", "deployed"]
    assert engine.reports[-1].sequence == 4
    assert_whole(client, settings, packed[2])


@pytest.mark.parametrize("found", ["an earlier plan's", "foreign"])
def test_the_finish_goes_on_over_a_complete_marker_of_the_release_and_refuses_any_other(
    client: Any, settings: Settings, packed: dict[int, Packed], found: str
) -> None:
    """A retry finds its own marker; a plan of the same release before it (its shards verified, then its
    cutover lost) wrote the same fact with another list's digest. Anything else at that key (written
    bypassing the deny policy) stops the deploy before any unhashed name."""
    first_deployed(client, settings, packed[1])
    body = {"list": "0" * 64, "release": "v2" if found == "an earlier plan's" else "v9"}
    key = settings.history_key("v2", "complete.json")
    client.put_object(Bucket="live", Key=key, Body=json.dumps(body, sort_keys=True).encode())
    artifact = staged_ref(client, settings, packed[2])
    if found == "foreign":
        with pytest.raises(shard_io.ShardRefused, match="is not v2's complete marker"):
            Engine(client, settings).run(artifact)
        assert_whole(client, settings, packed[1])
    else:
        assert Engine(client, settings).run(artifact) == "done"
        assert_whole(client, settings, packed[2])
