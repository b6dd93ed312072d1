"""`--wait`: a cheap poll of the report object, telling this upload's report from an earlier one's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from build_tool.aws.reports import (
    BACKOFF,
    MAX_DELAY,
    RETRY_GRACE,
    Polling,
    ReportObject,
    Waiter,
    WaitError,
    WaitTimeout,
    delays,
    describe,
    polls_within,
    wait_for_report,
)
from staticsync.meter import RequestMeter

KEY = "reports/staging/r2.zip.json"


class FakeTime:
    """A clock that moves only when slept on, running scheduled writes (the function) as it passes them."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.at: list[tuple[float, Callable[[], None]]] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        for when, action in [(w, a) for w, a in self.at if w <= self.now]:
            self.at.remove((when, action))
            action()

    def polling(self, timeout: float = 60.0, retry_grace: float = RETRY_GRACE) -> Polling:
        return Polling(timeout, retry_grace, sleep=self.sleep, clock=self.clock)


def put_report(client: Any, etag: str, outcome: str, **fields: Any) -> None:
    document = {"artifact_etag": etag, "outcome": outcome, "release": "r2", **fields}
    client.put_object(Bucket="artifacts", Key=KEY, Body=json.dumps(document).encode())


def waiting(
    client: Any,
    time: FakeTime,
    etag: str = "new",
    timeout: float = 60.0,
    retry_grace: float = RETRY_GRACE,
    **kw: Any,
) -> dict[str, Any]:
    report = ReportObject(client, "artifacts", KEY)
    return wait_for_report(report, etag, time.polling(timeout, retry_grace), **kw)


def test_the_backoff_is_half_a_second_doubling_to_five() -> None:
    schedule = delays()
    assert [next(schedule) for _ in range(7)] == [*BACKOFF, MAX_DELAY, MAX_DELAY, MAX_DELAY]
    assert [polls_within(s) for s in (0.5, 4, 30, 60, 600)] == [1, 4, 9, 15, 123]


@pytest.mark.parametrize("outcome", ["deployed", "unchanged", "rejected"])
def test_the_report_on_this_upload_ends_the_wait(moto_s3: Any, outcome: str) -> None:
    time = FakeTime()
    time.at.append((3.0, lambda: put_report(moto_s3, "new", outcome)))
    assert waiting(moto_s3, time)["outcome"] == outcome
    assert time.now == 3.5  # polls at 0.5, 1.5, 3.5


def test_a_typical_wait_costs_four_gets(moto_s3: Any) -> None:
    meter = RequestMeter()
    meter.attach(moto_s3)
    time = FakeTime()
    time.at.append((4.0, lambda: put_report(moto_s3, "new", "deployed")))
    meter.reset()  # the scheduled PUT is counted too: one request that is the function's, not ours
    waiting(moto_s3, time)
    assert meter.by_operation() == {"GetObject": 4, "PutObject": 1}


def test_a_report_on_an_earlier_upload_of_the_same_key_is_not_ours(moto_s3: Any) -> None:
    put_report(moto_s3, "old", "deployed")
    waiter = Waiter(moto_s3, "artifacts", "staging/r2.zip", "reports/", 60.0)
    waiter.before_staging()
    assert waiter.after is not None
    time = FakeTime()
    time.at.append((10.0, lambda: put_report(moto_s3, "new", "rejected", reason="stale_artifact")))
    report = waiter.wait("new", time.polling())
    assert report["outcome"] == "rejected" and time.now == 12.5


def test_the_same_bytes_staged_again_wait_for_a_new_report(moto_s3: Any) -> None:
    put_report(moto_s3, "same", "deployed", seconds=1.0)
    waiter = Waiter(moto_s3, "artifacts", "staging/r2.zip", "reports/", 60.0)
    waiter.before_staging()
    time = FakeTime()
    time.at.append((7.0, lambda: put_report(moto_s3, "same", "unchanged", seconds=0.2)))
    assert waiter.wait("same", time.polling())["outcome"] == "unchanged"


def test_no_report_in_time_is_a_timeout(moto_s3: Any) -> None:
    time = FakeTime()
    with pytest.raises(WaitTimeout, match="--timeout"):
        waiting(moto_s3, time, timeout=20.0)
    assert time.now == 20.0


def test_a_failed_attempt_waits_for_the_retry(moto_s3: Any) -> None:
    time, attempts = FakeTime(), []
    time.at.append((2.0, lambda: put_report(moto_s3, "new", "failed", reason="LiveChanged")))
    time.at.append((70.0, lambda: put_report(moto_s3, "new", "deployed")))
    report = waiting(moto_s3, time, timeout=600.0, on_failed_attempt=attempts.append)
    assert report["outcome"] == "deployed" and [a["reason"] for a in attempts] == ["LiveChanged"]


def test_a_failure_no_retry_replaced_is_the_outcome(moto_s3: Any) -> None:
    time = FakeTime()
    time.at.append((2.0, lambda: put_report(moto_s3, "new", "failed", reason="OutOfTime")))
    report = waiting(moto_s3, time, timeout=600.0, retry_grace=30.0)
    assert report["outcome"] == "failed" and 30.0 <= time.now <= 36.0


def test_an_unreadable_report_says_what_to_grant() -> None:
    from botocore.exceptions import ClientError

    class Denied:
        def get_object(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")

    with pytest.raises(WaitError, match="s3:GetObject"):
        waiting(Denied(), FakeTime())


def test_the_report_reads_as_one_line() -> None:
    line = describe(
        {"outcome": "rejected", "release": "r2", "reason": "stale_artifact", "detail": "built before"}
    )
    assert line.startswith("rejected: release r2") and line.endswith("stale_artifact: built before")


# ---------------------------------------------------------------- the CLI: flags and exit codes


def run_cli(monkeypatch: pytest.MonkeyPatch, outcome: str | Exception, *flags: str) -> tuple[int, str]:
    import io

    from build_tool import cli
    from build_tool.build.result import PackageResult
    from build_tool.commands import package as pipeline
    from build_tool.env import Environment

    def package(args: Any, env: Any) -> PackageResult:
        if isinstance(outcome, Exception):
            raise outcome
        assert args.wait and args.timeout == 30.0
        report = {"outcome": outcome, "release": "r2", "live_release_before": "r1"}
        return PackageResult(
            uri="s3://artifacts/staging/r2.zip",
            release="r2",
            created_at="2026-01-01T00:00:00Z",
            source_commit=None,
            files=3,
            bytes=9,
            zip_bytes=5,
            sha256="0" * 64,
            seconds=1.0,
            compressed=0,
            compressed_from_cache=0,
            timings={},
            base=None,
            inherited=0,
            compression_skipped=0,
            scratch="/tmp",
            report=report,
        )

    monkeypatch.setattr(pipeline, "package", package)
    env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
    argv = ["package", "--settings", "s", "--bucket", "artifacts", "--wait", "--timeout", "30", *flags]
    code = cli.main(argv, env)
    return code, env.stdout.getvalue() + env.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("outcome", "code"), [("deployed", 0), ("unchanged", 0), ("rejected", 7), ("failed", 8)]
)
def test_each_outcome_has_its_exit_code_and_its_line(
    monkeypatch: pytest.MonkeyPatch, outcome: str, code: int
) -> None:
    exit_code, output = run_cli(monkeypatch, outcome)
    assert exit_code == code
    assert f"{outcome}: release r2 (live before: r1" in output


def test_the_json_record_carries_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    exit_code, output = run_cli(monkeypatch, "rejected", "--json")
    assert exit_code == 7 and json.loads(output.splitlines()[0])["report"]["outcome"] == "rejected"


def test_no_report_in_time_exits_9_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    exit_code, output = run_cli(monkeypatch, WaitTimeout("no report on this upload"))
    assert exit_code == 9 and output == "build_tool: error: no report on this upload\n"


@pytest.mark.parametrize("flags", [["--output", "x.zip"], ["--timeout", "0"], ["--report-prefix", "reports"]])
def test_wait_flags_that_cannot_work_are_usage_errors(tmp_path: Any, flags: list[str]) -> None:
    from build_tool import cli
    from build_tool.commands import package as pipeline
    from build_tool.errors import UsageError

    args = cli.parser().parse_args(["package", "--settings", "s", "--bucket", "b", "--wait", *flags])
    args.project_dir = tmp_path
    if args.output is not None:
        args.output = tmp_path / "x.zip"
    with pytest.raises(UsageError, match="--wait"):
        pipeline.check(args)
