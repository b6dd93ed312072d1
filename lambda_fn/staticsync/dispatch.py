"""Give every record of an S3 event its turn: skip what is not ours, run the rest, raise failures last;
and run the sharded deploy's steps the state machine invokes the sync function with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .bucket import LiveBucket, Run
from .config import Settings
from .errors import ArtifactGone, SyncError
from .model.events import decode_key, record_kind, skip_reason
from .notify.cutover import Notifier
from .report import SyncReport
from .sharded.finish import finish_step
from .sharded.handoff import HANDED_OFF
from .sharded.plan import REPLACED, ArtifactRef, plan_step
from .sharded.shards import ListRef

# Outcomes that are not a deploy's last word (a sharded deploy's hand-off and plan step; an execution
# whose upload was replaced at its key): no report object, which CI would take for the outcome.
UNPUBLISHED = frozenset({HANDED_OFF, REPLACED, "replan"})

ARTIFACT_GONE = "artifact_gone"
# Runs one record: fills in the report (also when it raises).
Action = Callable[[str, str, SyncReport], Any]


class RecordsFailed(SyncError, RuntimeError):
    """Several records of one event failed; each was logged. Raised so Lambda retries the event."""


@dataclass(frozen=True)
class Record:
    """What one record of an S3 event names."""

    event_name: str
    bucket: str
    key: str  # decoded
    size: int | None = None  # the object's size in bytes, as the event says


def records(raw_event: Mapping[str, Any]) -> Iterator[Record]:
    """The records of an S3 event, every key URL-decoded (Powertools' data class decodes only the first)."""
    for record in raw_event.get("Records", []):
        s3 = record.get("s3", {})
        size = s3["object"].get("size")
        yield Record(
            record.get("eventName", ""),
            s3.get("bucket", {}).get("name", ""),
            decode_key(s3["object"]["key"]),
            size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None,
        )


def object_sizes(raw_event: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """The size of each (bucket, decoded key) the event names, where it says: it sizes the first read."""
    return {(r.bucket, r.key): r.size for r in records(raw_event) if r.size is not None}


def skipped(logger: Any, metrics: Any, extra: dict[str, Any]) -> None:
    """One log line and the RecordsSkipped metric (a wrong notification shows up as a count)."""
    from aws_lambda_powertools.metrics import MetricUnit

    logger.info("skipped", extra=extra)
    metrics.add_metric("RecordsSkipped", MetricUnit.Count, 1)


@dataclass(frozen=True)
class Outlets:
    """Where a record's outcome goes: the log, the metrics, and the report object CI waits on."""

    logger: Any
    metrics: Any
    publish: Callable[[SyncReport], Any]


def run_record(record: Any, action: Action, out: Outlets) -> tuple[SyncReport | None, Exception | None]:
    """Run one record's action: the report to return (None when the object is gone or the action
    raised) and the failure to raise once every record has had its turn (None when none)."""
    where = {"bucket": record.bucket, "key": record.key}
    report = SyncReport(artifact=f"s3://{record.bucket}/{record.key}")
    try:
        action(record.bucket, record.key, report)
    except ArtifactGone as error:
        skipped(out.logger, out.metrics, {**where, "reason": ARTIFACT_GONE, "detail": str(error)})
        return None, None
    except Exception as error:
        publish_quietly(out.publish, report)
        out.logger.exception("deploy failed", extra=report.as_log())
        report.add_metrics(out.metrics)
        return None, error
    return report, finished(report, out)


def finished(report: SyncReport, out: Outlets) -> Exception | None:
    """Publish, log and count a record's report; the publish failure to raise, if any. A deploy handed
    to the state machine is logged only: CI waits for its finish step's report."""
    if report.outcome in UNPUBLISHED:
        out.logger.info("deploy handed off", extra=report.as_log())
        return None
    failure: Exception | None = None
    try:
        out.publish(report)
    except Exception as error:
        out.logger.exception("report not written", extra=report.as_log())
        failure = error
    out.logger.info("deploy finished", extra=report.as_log())
    report.add_metrics(out.metrics)
    return failure


def handle_event(
    raw_event: Mapping[str, Any],
    settings: Settings,
    actions: Mapping[str, Action],
    logger: Any,
    metrics: Any,
    publish: Callable[[SyncReport], Any] = lambda report: None,
) -> dict[str, Any]:
    """Run the action of each record's kind, in order, publish each report, and return them.

    A failure (transient: it raises) is logged and the next record still runs; once all have had
    their turn the failure is raised (itself when there is one), so Lambda retries the event and the
    records that succeeded find their work done. `publish` (the report object CI waits on) raises
    when it cannot: the record has then failed too, and its retry publishes.
    """
    reports: list[dict[str, Any]] = []
    if "Records" not in raw_event:  # s3:TestEvent, sent when a notification is configured
        skipped(logger, metrics, {"reason": "not a record event", "event": dict(raw_event)})
        return {"deploys": reports}
    failures: list[tuple[str, Exception]] = []
    for record in records(raw_event):
        reason = skip_reason(record.event_name, record.bucket, record.key, settings)
        action = actions.get(record_kind(record.key) or "")
        if reason or action is None:
            where = {"bucket": record.bucket, "key": record.key}
            skipped(logger, metrics, {**where, "reason": reason or "no handler for this kind"})
            continue
        report, failure = run_record(record, action, Outlets(logger, metrics, publish))
        if failure is not None:
            failures.append((f"s3://{record.bucket}/{record.key}", failure))
        if report is not None:
            reports.append(report.as_log())
    raise_failures(failures)
    return {"deploys": reports}


def publish_quietly(publish: Callable[[SyncReport], Any], report: SyncReport) -> None:
    """Publish the report of a record that failed: its own error is the one to raise."""
    try:
        publish(report)
    except Exception as error:  # logged with the record's failure, which matters more
        report.warn(f"report not written: {type(error).__name__}: {error}")


def raise_failures(failures: list[tuple[str, Exception]]) -> None:
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        listed = "; ".join(f"{where}: {type(error).__name__}: {error}" for where, error in failures)
        message = f"{len(failures)} records failed, each logged as 'deploy failed': {listed}"
        raise RecordsFailed(message) from failures[0][1]


# The state machine's payloads to the sync function: {"staticsync": <step>, "artifact": ..., ...}.
STEP_KEY = "staticsync"
PLAN, FINISH, FAILED = "sharded-plan", "sharded-finish", "sharded-failed"


def machine_step(raw_event: Mapping[str, Any]) -> str | None:
    """The sharded deploy's step a state machine payload asks for, or None for any other event."""
    step = raw_event.get(STEP_KEY) if isinstance(raw_event, Mapping) else None
    return step if step in (PLAN, FINISH, FAILED) else None


def handle_step(
    raw_event: Mapping[str, Any], bucket: LiveBucket, run: Run, notifier: Notifier, out: Outlets
) -> dict[str, Any]:
    """Run one step of a sharded deploy; its report is published when it is the deploy's last word
    (the finish step's outcome, a rejection, a failure), and a failure is raised for the task's retry."""
    artifact = ArtifactRef.of(raw_event["artifact"])
    # The report names the upload it opens (the ETag CI waits for): the deploy fills it in from the
    # object it reads, so that an upload replaced at the key since the hand-off is seen as such.
    run.report.artifact = artifact.staged.uri
    step = machine_step(raw_event)
    try:
        if step == PLAN:
            result = plan_step(bucket, artifact, run, notifier)
        elif step == FINISH:
            result = finish_step(bucket, artifact, ListRef.of(raw_event["plan"]["list"]), run, notifier)
        else:
            result = {"next": "failed"}
            run.report.artifact_etag, run.report.reason = artifact.etag, "sharded_deploy_failed"
            run.report.detail = json.dumps(raw_event.get("error"))
    except Exception:
        publish_quietly(out.publish, run.report)
        out.logger.exception("deploy failed", extra=run.report.as_log())
        raise
    if failure := finished(run.report, out):
        raise failure
    return {**result, "outcome": run.report.outcome}
