"""How many upload processes, and what each gets: the pure parts of deploy/workers.py."""

from __future__ import annotations

import pickle

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from staticsync.config import Settings
from staticsync.deploy.workers import (
    MIN_FILES_PER_PROCESS,
    Failure,
    WorkerDied,
    partition,
    process_count,
    vcpus,
)
from staticsync.errors import ArtifactRejected, ConfigError, LiveChanged, TransientReadError


@pytest.mark.parametrize(
    ("memory", "cpus", "expected"),
    [
        ("1769", 2, 1),  # the default: one vCPU's worth, although Linux shows two
        ("2653", 2, 1),  # 1.5 vCPUs rounds down... (2653 / 1769 = 1.4997)
        ("2654", 2, 2),  # ...and from half a vCPU more, up
        ("3008", 2, 2),
        ("3538", 3, 2),
        ("5307", 3, 3),
        ("7076", 4, 4),
        ("8845", 5, 5),
        ("10240", 6, 6),  # 5.79 vCPUs of time on six CPUs
        ("10240", 4, 4),  # never more processes than CPUs to run them
        ("512", 2, 1),
    ],
)
def test_a_functions_vcpus_are_its_memory_over_1769_mb_at_most_its_cpus(
    memory: str, cpus: int, expected: int
) -> None:
    assert vcpus({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}, cpus) == expected


def test_outside_lambda_one_process_uploads_as_always() -> None:
    assert vcpus({}, 8) == 1


@pytest.mark.parametrize(
    ("setting", "files", "available", "expected"),
    [
        (0, 100_000, 6, 6),  # auto: the vCPUs
        (0, 100_000, 1, 1),  # one vCPU: in-process, no fork
        (3, 100_000, 6, 3),  # the setting wins over the vCPUs
        (6, 1, 6, 1),  # a one-file change never forks
        (6, 3 * MIN_FILES_PER_PROCESS, 6, 3),  # at least MIN_FILES_PER_PROCESS files a process
        (2, 2 * MIN_FILES_PER_PROCESS - 1, 6, 1),
        (0, 0, 6, 1),
    ],
)
def test_processes_are_the_setting_or_the_vcpus_with_enough_files_for_each(
    setting: int, files: int, available: int, expected: int
) -> None:
    assert process_count(setting, files, available) == expected


@given(st.lists(st.floats(min_value=0.1, max_value=1000), max_size=300), st.integers(1, 8))
def test_shares_cover_every_item_once_in_order_none_empty_each_near_its_fair_weight(
    weights: list[float], parts: int
) -> None:
    runs = partition(weights, parts)

    assert [i for run in runs for i in run] == list(range(len(weights)))
    assert len(runs) == min(parts, len(weights))
    assert all(len(run) > 0 for run in runs)
    fair = sum(weights) / max(1, len(runs))
    for run in runs:
        assert sum(weights[i] for i in run) <= fair + max(weights[i] for i in run) + 1e-6


def test_equal_items_are_shared_equally() -> None:
    assert partition([1.0] * 12, 4) == [range(0, 3), range(3, 6), range(6, 9), range(9, 12)]
    assert partition([1.0] * 13, 2) == [range(0, 7), range(7, 13)]


def test_a_heavy_item_gets_a_share_to_itself() -> None:
    assert partition([100.0, 1, 1, 1, 1], 2) == [range(0, 1), range(1, 5)]


def round_trip(error: BaseException) -> BaseException:
    """As a child sends its first failure and the parent raises it."""
    return pickle.loads(pickle.dumps(Failure.of(error))).exception()


def test_a_childs_rejection_is_raised_in_the_parent_with_its_code_and_member() -> None:
    again = round_trip(
        ArtifactRejected("immutable_name_conflict", "css/a.1.css holds other bytes", "css/a.1.css")
    )

    assert isinstance(again, ArtifactRejected)
    assert (again.code, again.member, str(again)) == (
        "immutable_name_conflict",
        "css/a.1.css",
        "css/a.1.css holds other bytes",
    )
    assert "raised in an upload worker process" in "".join(again.__notes__)


def test_a_childs_s3_error_keeps_its_code() -> None:
    response = {
        "Error": {"Code": "AccessDenied", "Message": "no"},
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    again = round_trip(ClientError(response, "PutObject"))  # type: ignore[arg-type]

    assert isinstance(again, ClientError)
    assert (again.response["Error"]["Code"], again.operation_name) == ("AccessDenied", "PutObject")


@pytest.mark.parametrize("error", [LiveChanged("moved"), TransientReadError("reset"), WorkerDied("gone")])
def test_other_failures_keep_their_type_and_message(error: BaseException) -> None:
    again = round_trip(error)
    assert (type(again), str(again)) == (type(error), str(error))


def test_a_failure_that_cannot_be_pickled_still_reaches_the_parent_as_text() -> None:
    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a} and {b}")

    again = round_trip(Odd(1, 2))
    assert isinstance(again, RuntimeError)
    assert "Odd: 1 and 2" in str(again)


@pytest.mark.parametrize(("raw", "expected"), [("", 0), ("auto", 0), ("AUTO", 0), ("1", 1), ("6", 6)])
def test_upload_processes_is_read_auto_by_default(raw: str, expected: int) -> None:
    assert Settings.from_env({"LIVE_BUCKET": "live", "UPLOAD_PROCESSES": raw}).upload_processes == expected


@pytest.mark.parametrize("raw", ["0", "65", "many"])
def test_a_wrong_upload_processes_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="UPLOAD_PROCESSES"):
        Settings.from_env({"LIVE_BUCKET": "live", "UPLOAD_PROCESSES": raw})
