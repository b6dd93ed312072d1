"""Faults during a deploy, against SeaweedFS: the live site stays whole whatever fails, and a rerun
of the same artifact converges.

A crash at request k is simulated by failing request k and every later one (the process is gone):
either before request k reaches S3, or after (its effect lands, the answer is lost).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from build_tool.aws.staging import stage
from build_tool.build.pack import Packed
from devtools.seaweed import S3Server
from staticsync.check import Problem, check_live
from staticsync.config import Settings
from staticsync.errors import OutOfTime
from staticsync.model.contract import MANIFEST_NAME
from staticsync.report import SyncReport
from tests.artifacts import read_packed, stage_artifact
from tests.deploys import deploy_key
from tests.faults import KINDS, Faults
from tests.rollbacks import run_request, stage_request
from tests.sites import build_version

ROOT = Path(__file__).resolve().parents[2]
NO_RETRIES = {"total_max_attempts": 1}  # botocore's `max_attempts` counts retries, not attempts
STANDARD_RETRIES = {"mode": "standard", "max_attempts": 4}
CLIENTS = threading.Lock()


def whole(client: Any, settings: Settings, *, everything: bool = False) -> list[Problem]:
    """check_live, every problem counted (no file is sent as octet-stream for SeaweedFS to retype)."""
    return check_live(client, settings, everything=everything)


def live_release(client: Any, settings: Settings) -> str | None:
    try:
        head = client.head_object(Bucket=settings.live_bucket, Key=settings.live_key(MANIFEST_NAME))
    except client.exceptions.ClientError:
        return None
    return head["Metadata"].get("release")


def run(client: Any, settings: Settings, key: str) -> SyncReport:
    """What the handler does with the staged object at `key`: a .zip deploys, a .json is a rollback."""
    if key.endswith(".json"):
        return run_request(client, settings, key)
    return deploy_key(client, settings, key)


def new_client(s3_server: S3Server, **config: Any) -> Any:
    """A client; made under a lock, as boto3's default session is not safe to share between threads."""
    with CLIENTS:
        return s3_server.client(**config)


@dataclass(frozen=True)
class Scenario:
    """Deploy `new` with a crash at one request, after `old` (None: nothing) was made live."""

    old: str | None
    new: str
    old_release: str | None
    new_release: str
    concurrency: int = 1


def crash_then_rerun(
    s3_server: S3Server, scenario: Scenario, number: int, after: bool, prefix: str, everything: bool = True
) -> list[str]:
    """Everything that broke an invariant, as sentences; empty when the crash was harmless."""
    settings = Settings(live_bucket="live", live_prefix=prefix, upload_concurrency=scenario.concurrency)
    clean, crashing = new_client(s3_server), new_client(s3_server, retries=NO_RETRIES)
    where = f"{prefix}: crash at request {number} ({'after' if after else 'before'} sending)"
    if scenario.old is not None:
        assert run(clean, settings, scenario.old).outcome in ("deployed", "unchanged")
    Faults("reset", crash_at=number, after_sending=after).attach(crashing)
    try:
        report = run(crashing, settings, scenario.new)
        return [f"{where}: the deploy did not fail but ended {report.outcome}"]
    except Exception:  # noqa: BLE001 - any failure is what a crash looks like from inside
        pass
    return crashed_whole(clean, settings, scenario, where) + rerun_converges(
        clean, settings, scenario, where, everything
    )


def crashed_whole(client: Any, settings: Settings, scenario: Scenario, where: str) -> list[str]:
    """After the crash: the old release still live and whole (or the new one, if its cutover landed)."""
    broken = []
    live = live_release(client, settings)
    if live not in (scenario.old_release, scenario.new_release):
        broken.append(f"{where}: live release is {live}")
    problems = whole(client, settings)
    if problems and not (live is None and [p.code for p in problems] == ["no_live_manifest"]):
        broken.append(f"{where}: live site broken: {problems[:3]}")
    return broken


def rerun_converges(
    client: Any, settings: Settings, scenario: Scenario, where: str, everything: bool
) -> list[str]:
    """Running the same artifact again makes the new release live, every file of it in place."""
    report = run(client, settings, scenario.new)
    live = live_release(client, settings)
    if report.outcome not in ("deployed", "unchanged") or live != scenario.new_release:
        return [f"{where}: the rerun ended {report.outcome} with {live} live"]
    problems = whole(client, settings, everything=everything)
    return [f"{where}: after the rerun: {problems[:3]}"] if problems else []


def crashes(numbers: Iterable[int]) -> list[tuple[int, bool]]:
    return list(itertools.product(numbers, (False, True)))


def crash_each(s3_server: S3Server, scenario: Scenario, cases: list[tuple[int, bool]], tag: str) -> list[str]:
    """crash_then_rerun for each (request number, after sending), each under its own prefix."""

    def one(case: tuple[int, bool]) -> list[str]:
        number, after = case
        return crash_then_rerun(s3_server, scenario, number, after, f"crash/{tag}/{number}-{int(after)}/")

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [line for lines in pool.map(one, cases) for line in lines]


def requests_of(s3_server: S3Server, scenario: Scenario, prefix: str) -> int:
    """How many requests the deploy makes when nothing fails."""
    settings = Settings(live_bucket="live", live_prefix=prefix, upload_concurrency=scenario.concurrency)
    client = s3_server.client()
    if scenario.old is not None:
        run(client, settings, scenario.old)
    faults = Faults()
    faults.attach(client)
    assert run(client, settings, scenario.new).outcome == "deployed"
    return faults.sent


@pytest.fixture(scope="module")
def small(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Versions 1 and 2 of a 20-file site, staged; keys by release."""
    folder = tmp_path_factory.mktemp("small")
    client = s3_server.client()
    return {
        f"v{v}": stage_artifact(client, build_version(folder, v), prefix="staging/faults/") for v in (1, 2)
    }


def package_example(project: Path, out: Path, release: str, epoch: int) -> Packed:
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}
    args = ["--settings", "exampleproject.settings", "--project-dir", str(project), "--release", release]
    command = [sys.executable, "-m", "build_tool", "package", *args, "--output", str(out)]
    subprocess.run(command, check=True, env=env, cwd=ROOT, capture_output=True, timeout=180)
    return read_packed(out)


@pytest.fixture(scope="module")
def example(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example project (ex1), and ex2 with one stylesheet edited, staged."""
    work = tmp_path_factory.mktemp("example")
    project = work / "example"
    shutil.copytree(ROOT / "example", project, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    ex1 = package_example(project, work / "ex1.zip", "ex1", 1767225600)
    base = project / "shop" / "static" / "shop" / "css" / "base.css"
    base.write_text(base.read_text() + "\n.edited { color: rebeccapurple; }\n")
    ex2 = package_example(project, work / "ex2.zip", "ex2", 1767312000)
    client = s3_server.client()
    keys = {"ex1": "staging/faults/ex1.zip", "ex2": "staging/faults/ex2.zip"}
    stage(client, ex1, "artifacts", keys["ex1"])
    stage(client, ex2, "artifacts", keys["ex2"])
    return keys


@pytest.mark.parametrize("old", [None, "v1"], ids=["first deploy", "upgrade"])
def test_a_crash_at_every_request_of_a_deploy_leaves_the_site_whole_and_a_rerun_converges(
    s3_server: S3Server, small: dict[str, str], old: str | None
) -> None:
    scenario = Scenario(small[old] if old else None, small["v2"], old, "v2")
    total = requests_of(s3_server, scenario, f"crash/count-{old}/")
    assert total >= 20

    broken = crash_each(s3_server, scenario, crashes(range(1, total + 1)), f"small-{old}")

    assert broken == [], "\n".join(broken)


def test_a_crash_amid_parallel_uploads_of_the_example_project_leaves_the_site_whole(
    s3_server: S3Server, example: dict[str, str]
) -> None:
    scenario = Scenario(None, example["ex1"], None, "ex1", concurrency=32)
    total = requests_of(s3_server, scenario, "crash/example-count/")
    assert total > 500

    broken = crash_each(s3_server, scenario, [(total // 2, False)], "example-first")

    assert broken == [], "\n".join(broken)


def test_a_crash_at_sampled_requests_of_an_example_rollback_request_leaves_the_site_whole(
    s3_server: S3Server, example: dict[str, str]
) -> None:
    # One live prefix with ex1 then ex2 deployed: each round goes back to ex1 by one request (a few
    # files), then forward to ex2 by another, crashing that one at request k, then replays it. Every
    # file of the release is checked after the last replay (532 HEADs), the rest after each.
    prefix = "crash/example-rollback/"
    settings = Settings(live_bucket="live", live_prefix=prefix)
    client = new_client(s3_server)
    for key in (example["ex1"], example["ex2"]):
        run(client, settings, key)

    def round_trip(name: str) -> Scenario:
        back = stage_request(client, f"{name}-back", "ex1", "ex2", example["ex1"], "staging/faults/")
        forth = stage_request(client, f"{name}-forth", "ex2", "ex1", example["ex2"], "staging/faults/")
        return Scenario(back, forth, "ex1", "ex2", concurrency=32)

    total = requests_of(s3_server, round_trip("count"), prefix)
    cases = crashes(sorted({1, 2, total // 2, total - 1, total}))

    broken = [
        line
        for number, after in cases
        for line in crash_then_rerun(
            s3_server,
            round_trip(f"{number}-{int(after)}"),
            number,
            after,
            prefix,
            everything=(number, after) == cases[-1],
        )
    ]

    assert broken == [], "\n".join(broken)


@pytest.mark.parametrize("kind", KINDS)
def test_a_transient_s3_fault_is_retried_by_botocore_and_the_deploy_succeeds(
    s3_server: S3Server, small: dict[str, str], kind: str
) -> None:
    settings = Settings(live_bucket="live", live_prefix=f"retry/{kind}/", upload_concurrency=4)
    run(s3_server.client(), settings, small["v1"])
    client = s3_server.client(retries=STANDARD_RETRIES)
    faults = Faults(kind, at=frozenset({1, 4, 9, 14}))
    faults.attach(client)

    report = run(client, settings, small["v2"])

    assert report.outcome == "deployed"
    assert len(faults.failed) == 4
    assert whole(client, settings, everything=True) == []


@pytest.mark.parametrize("kind", KINDS)
def test_without_retries_the_same_fault_fails_the_deploy_before_the_cutover(
    s3_server: S3Server, small: dict[str, str], kind: str
) -> None:
    settings = Settings(live_bucket="live", live_prefix=f"no-retry/{kind}/", upload_concurrency=4)
    clean = s3_server.client()
    run(clean, settings, small["v1"])
    client = s3_server.client(retries=NO_RETRIES)
    Faults(kind, at=frozenset({9})).attach(client)
    report = SyncReport("v2")

    with pytest.raises(Exception):  # noqa: B017 - the S3 or network error itself
        deploy_key(client, settings, small["v2"], report)

    assert report.outcome == "failed"
    assert live_release(clean, settings) == "v1"
    assert whole(clean, settings) == []


def test_a_release_that_was_live_is_refused_unless_a_rollback_request_names_it(
    s3_server: S3Server, small: dict[str, str]
) -> None:
    settings = Settings(live_bucket="live", live_prefix="rollback/")
    client = s3_server.client()
    run(client, settings, small["v1"])
    run(client, settings, small["v2"])
    request = stage_request(client, "faults-back", "v1", "v2", small["v1"], "staging/faults/")

    refused = run(client, settings, small["v1"])
    rolled_back = run(client, settings, request)

    assert (refused.outcome, refused.reason) == ("rejected", "rollback_required")
    assert "build_tool rollback v1" in (refused.detail or "")
    assert rolled_back.outcome == "deployed"
    assert live_release(client, settings) == "v1"
    assert whole(client, settings, everything=True) == []


@pytest.mark.parametrize(
    ("seconds_left", "stopped_before"),
    [
        ([5.0], "uploading"),
        ([900.0, 5.0], "claiming the release's place"),
        ([900.0, 900.0, 5.0], "the cutover"),
    ],
)
def test_an_invocation_about_to_time_out_stops_before_the_cutover_and_says_so(
    s3_server: S3Server, small: dict[str, str], seconds_left: list[float], stopped_before: str
) -> None:
    settings = Settings(live_bucket="live", live_prefix=f"timeout/{len(seconds_left)}/")
    client = s3_server.client()
    run(client, settings, small["v1"])
    clock = iter(seconds_left)
    report = SyncReport("v2")

    with pytest.raises(OutOfTime, match=f"stopping before {stopped_before};"):
        deploy_key(client, settings, small["v2"], report, remaining_seconds=lambda: next(clock))

    assert (report.outcome, report.reason) == ("failed", "OutOfTime")
    assert live_release(client, settings) == "v1"
    assert whole(client, settings) == []
    assert run(client, settings, small["v2"]).outcome == "deployed"
    assert whole(client, settings, everything=True) == []
