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
from staticsync.dispatch import handle_event
from staticsync.events import ARTIFACT, ROLLBACK_REQUEST
from staticsync.meter import RequestMeter
from staticsync.report import SyncReport
from staticsync.rollback import handle_request
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
    def deploy_artifact(bucket: str, key: str, report: SyncReport) -> None:
        deploy(s3, settings, bucket, key, report, meter, seconds_left(context))

    def roll_back(bucket: str, key: str, report: SyncReport) -> None:
        handle_request(s3, settings, bucket, key, report, meter, seconds_left(context))

    actions = {ARTIFACT: deploy_artifact, ROLLBACK_REQUEST: roll_back}
    return handle_event(event.raw_event, settings, actions, logger, metrics)


def seconds_left(context: LambdaContext) -> Any:
    return lambda: context.get_remaining_time_in_millis() / 1000
