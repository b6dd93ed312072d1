"""Lambda entry point: act on each staged artifact or request an S3 event names (logic: staticsync)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from staticsync.bucket import LiveBucket, Run, Staged
from staticsync.config import Settings
from staticsync.deploy.run import deploy, inline
from staticsync.dispatch import Outlets, handle_event, handle_step, machine_step, object_sizes
from staticsync.meter import RequestMeter, metered_s3_client
from staticsync.model.events import ARTIFACT, PIN_REQUEST, PRUNE_REQUEST, ROLLBACK_REQUEST
from staticsync.notify.cutover import Notifier
from staticsync.notify.keyvaluestore import SiblingStore
from staticsync.notify.report_object import write_report
from staticsync.operations.prune import PruneReport, is_scheduled, prune_after_cutover, prune_live
from staticsync.operations.requests import handle_pin_request, handle_prune_request
from staticsync.operations.rollback import handle_request
from staticsync.report import SyncReport
from staticsync.sharded.handoff import HandOff

logger = Logger()
# The template sets POWERTOOLS_METRICS_NAMESPACE; a default keeps a bare run (tests, local) working.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "StaticDeploy"))
settings = Settings.from_env()
meter = RequestMeter()
s3 = metered_s3_client(meter, settings.upload_concurrency)
live = LiveBucket(s3, settings)
# A deploy too large for one invocation goes to the state machine (staticsync/sharded/), when one is set.
stepfunctions = boto3.client("stepfunctions") if settings.state_machine_arn else None
notifier = Notifier(
    cloudfront=boto3.client("cloudfront") if settings.cloudfront_distribution_id else None,
    events=boto3.client("events") if settings.event_bus_name else None,
    siblings=SiblingStore(boto3.client("cloudfront-keyvaluestore"), settings.cdn_sibling_index_arn)
    if settings.cdn_sibling_index_arn
    else None,
)


def traced(handler: Callable[..., Any]) -> Callable[..., Any]:
    """X-Ray tracing, imported only when it is on: aws_xray_sdk costs a cold start about 0.15 s."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("true", "1"):
        return handler
    from aws_lambda_powertools import Tracer

    return Tracer().capture_lambda_handler(handler)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_scheduled(event):
        return pruned(prune_live(s3, settings))
    left, sizes = seconds_left(context), object_sizes(event)
    if machine_step(event):  # the sharded deploy's plan, finish or failure, from the state machine
        run = Run(SyncReport(artifact=""), meter, left)
        return handle_step(event, live, run, notifier, Outlets(logger, metrics, publish))

    def deploy_artifact(bucket: str, key: str, report: SyncReport) -> None:
        staged = Staged(bucket, key, sizes.get((bucket, key)))
        carry = HandOff(stepfunctions, settings, staged) if stepfunctions else inline
        deploy(live, staged, Run(report, meter, left), notifier=notifier, carry=carry)

    def roll_back(bucket: str, key: str, report: SyncReport) -> None:
        handle_request(live, Staged(bucket, key), Run(report, meter, left), notifier)

    def prune(bucket: str, key: str, report: SyncReport) -> None:
        pruned(handle_prune_request(s3, settings, bucket, key, report))

    def pin(bucket: str, key: str, report: SyncReport) -> None:
        handle_pin_request(s3, settings, bucket, key, report)

    actions = {ARTIFACT: deploy_artifact, ROLLBACK_REQUEST: roll_back, PRUNE_REQUEST: prune, PIN_REQUEST: pin}
    result = handle_event(event, settings, actions, logger, metrics, publish=publish)
    # Retention runs once the reports CI waits for are written, and only after a cutover.
    went_live = [SyncReport(**report) for report in result["deploys"] if report["outcome"] == "deployed"]
    if went_live and (after := prune_after_cutover(s3, settings, went_live[-1], left)) is not None:
        pruned(after)
    return result


def pruned(report: PruneReport) -> dict[str, Any]:
    logger.info("prune finished", extra=report.as_log())
    return report.as_log()


def publish(report: SyncReport) -> None:
    write_report(s3, settings, report)


def seconds_left(context: LambdaContext) -> Callable[[], float]:
    return lambda: context.get_remaining_time_in_millis() / 1000
