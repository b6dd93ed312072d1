"""The sharded deploy's pure parts: when to shard, the execution's name, the shard list and its digests."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from staticsync.config import Settings
from staticsync.model.plan import Intent, Plan
from staticsync.sharded.handoff import execution_name, should_shard
from staticsync.sharded.shards import Shard, ShardList, ShardRefused, cut

ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:static-deploy-deploy"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
BIG = Plan("r2", immutable=tuple(f"a.{i:012x}.css" for i in range(30)), mutable=("a.css",))


def settings(**changes: Any) -> Settings:
    return replace(Settings("live", state_machine_arn=ARN, shard_threshold_files=10), **changes)


@pytest.mark.parametrize(
    ("config", "plan", "kind", "sharded"),
    [
        (settings(), BIG, "deploy", True),
        (settings(state_machine_arn=""), BIG, "deploy", False),  # no state machine: inline, as before
        (settings(shard_threshold_files=32), BIG, "deploy", False),  # 31 uploads
        (settings(), BIG, "rollback", False),  # rollbacks stay inline
        (
            settings(),
            Plan("r2", mutable=tuple(f"f{i}" for i in range(30))),
            "deploy",
            False,
        ),  # nothing to shard
    ],
)
def test_only_a_large_forward_deploy_with_a_state_machine_is_sharded(
    config: Settings, plan: Plan, kind: str, sharded: bool
) -> None:
    assert should_shard(config, plan, Intent("s3://artifacts/staging/r2.zip", NOW, kind)) is sharded


def test_the_execution_name_is_one_per_staged_upload_and_valid_for_step_functions() -> None:
    name = execution_name("artifacts", "staging/r2.zip", '"abc"')
    assert name == execution_name("artifacts", "staging/r2.zip", "abc")  # quoted or not, the same upload
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    others = {
        execution_name("artifacts", "staging/r2.zip", "abd"),
        execution_name("artifacts", "staging/r3.zip", "abc"),
        execution_name("other", "staging/r2.zip", "abc"),
    }
    assert name not in others and len(others) == 3


def shard(index: int, paths: tuple[str, ...]) -> Shard:
    return Shard(index, "r2", "s3://artifacts/staging/r2.zip", "etag", "0" * 64, 2, "1 etag1", paths)


def test_shards_are_runs_of_adjacent_members_of_at_most_the_shard_size() -> None:
    assert cut(["a", "b", "c", "d", "e"], 2) == [("a", "b"), ("c", "d"), ("e",)]
    assert cut([], 2) == []


def test_a_shard_list_reads_back_as_written_and_refuses_an_item_changed_since() -> None:
    listing = ShardList((shard(0, ("a", "b")), shard(1, ("c",))))
    assert ShardList.parse(listing.to_json()) == listing
    items = json.loads(listing.to_json())
    items[1]["paths"].append("robots.txt")  # one more file, its digest unchanged
    with pytest.raises(ShardRefused):
        ShardList.parse(json.dumps(items).encode())
    with pytest.raises(ShardRefused):
        ShardList.parse(json.dumps(list(reversed(json.loads(listing.to_json())))).encode())
