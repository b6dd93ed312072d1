"""Lambda entry point: deploy every staged artifact an S3 event names (logic lives in staticsync)."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from staticsync.config import Settings
from staticsync.events import decode_key, skip_reason
from staticsync.meter import RequestMeter
from staticsync.report import SyncReport
from staticsync.sync import deploy

logger = Logger()
tracer = Tracer()
# The template sets POWERTOOLS_METRICS_NAMESPACE; a default keeps a bare run (tests, local) working.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "StaticDeploy"))
settings = Settings.from_env()
meter = RequestMeter()
s3 = meter.attach(
    boto3.client(
        "s3",
        config=Config(
            max_pool_connections=settings.upload_concurrency + 4,
            retries={"mode": "standard", "max_attempts": 5},
        ),
    )
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    reports: list[dict[str, Any]] = []
    if "Records" not in event.raw_event:  # s3:TestEvent, sent when a notification is configured
        logger.info("skipped", extra={"reason": "not a record event", "event": event.raw_event})
        return {"deploys": reports}
    for record in event.records:
        bucket, key = record.s3.bucket.name, decode_key(record.s3.get_object.key)
        reason = skip_reason(record.event_name, key, settings)
        if reason:
            logger.info("skipped", extra={"bucket": bucket, "key": key, "reason": reason})
            continue
        report = SyncReport(artifact=f"s3://{bucket}/{key}")
        try:
            deploy(s3, settings, bucket, key, report, meter, seconds_left(context))
        except Exception:
            logger.exception("deploy failed", extra=report.as_log())
            report.add_metrics(metrics)
            raise
        logger.info("deploy finished", extra=report.as_log())
        report.add_metrics(metrics)
        reports.append(report.as_log())
    return {"deploys": reports}


def seconds_left(context: LambdaContext) -> Any:
    return lambda: context.get_remaining_time_in_millis() / 1000
