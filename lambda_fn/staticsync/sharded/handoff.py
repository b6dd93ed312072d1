"""The S3 event's side of a sharded deploy: whether a judged plan is too large for one invocation, and
starting the state machine on it, once per staged upload."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..bucket import Staged, error_code
from ..config import Settings
from ..deploy.execute import Executor
from ..model.plan import Intent, LiveState, Plan

# A report with this outcome is not published: CI waits for the finish step's (or the failure's).
HANDED_OFF = "handed_off"
ALREADY_EXISTS = "ExecutionAlreadyExists"
EXECUTION_PREFIX = "staticsync-"


def should_shard(settings: Settings, plan: Plan, intent: Intent) -> bool:
    """A forward deploy whose plan uploads at least SHARD_THRESHOLD_FILES, some of them content-addressed
    (what the shards upload), when a state machine is configured. Everything else (small deploys,
    rollbacks, no STATE_MACHINE_ARN) stays inline, exactly as before."""
    return (
        bool(settings.state_machine_arn)
        and intent.kind == "deploy"
        and bool(plan.immutable)
        and len(plan.uploads) >= settings.shard_threshold_files
    )


def execution_name(bucket: str, key: str, etag: str) -> str:
    """One name per staged upload (bucket, key, ETag): Step Functions refuses a second execution of a
    name, so a duplicate event, or the same event retried, starts nothing."""
    digest = hashlib.sha256(f"{bucket}\n{key}\n{etag.strip(chr(34))}".encode()).hexdigest()
    return f"{EXECUTION_PREFIX}{digest[:64]}"


def execution_input(staged: Staged, etag: str, settings: Settings) -> dict[str, Any]:
    artifact = {"bucket": staged.bucket, "key": staged.key, "etag": etag.strip('"'), "size": staged.size}
    return {"artifact": artifact, "max_concurrency": settings.shard_max_concurrency}


def start(client: Any, settings: Settings, name: str, document: dict[str, Any]) -> bool:
    """Start the execution; False when one of that name exists already (nothing started)."""
    try:
        client.start_execution(
            stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(document)
        )
    except ClientError as error:
        if error_code(error) == ALREADY_EXISTS:
            return False
        raise
    return True


@dataclass(frozen=True)
class HandOff:
    """The S3 event's carry (deploy.run.Carry): a plan too large for one invocation starts the state
    machine instead of running. Nothing is written to the live bucket here: the plan step judges again
    and claims, serialised with every other deploy and with retention."""

    stepfunctions: Any
    settings: Settings
    staged: Staged

    def __call__(self, executor: Executor, plan: Plan, live: LiveState, intent: Intent) -> bool:
        if not should_shard(self.settings, plan, intent):
            return False
        report, etag = executor.report, executor.report.artifact_etag or ""
        name = execution_name(self.staged.bucket, self.staged.key, etag)
        started = start(
            self.stepfunctions, self.settings, name, execution_input(self.staged, etag, self.settings)
        )
        report.outcome = HANDED_OFF
        report.detail = f"{len(plan.uploads)} files to upload: execution {name} " + (
            "started" if started else "exists already (a duplicate event): nothing started"
        )
        return True
