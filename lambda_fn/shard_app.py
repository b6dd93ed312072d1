"""Shard function entry point: one child of a sharded deploy's Distributed Map (logic: staticsync.sharded)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from staticsync.bucket import LiveBucket, Run
from staticsync.config import Settings
from staticsync.meter import RequestMeter, metered_s3_client
from staticsync.report import SyncReport
from staticsync.sharded.shard import run_shard

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "StaticDeploy"))
settings = Settings.from_env()
meter = RequestMeter()
s3 = metered_s3_client(meter, settings.upload_concurrency)
live = LiveBucket(s3, settings)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Upload one shard and write its done-marker; any failure is logged and raised, so the Map's
    retry (and, past it, the execution's failure) sees it."""
    meter.reset()
    report = SyncReport(artifact=str(event.get("list", {}).get("key", "")))
    run = Run(report, meter, lambda: context.get_remaining_time_in_millis() / 1000)
    try:
        result = run_shard(live, event, run)
    except Exception:
        logger.exception("shard failed", extra=run.finish().as_log())
        raise
    logger.info("shard finished", extra={**run.finish().as_log(), **result})
    metrics.add_metric(name="ShardFilesUploaded", unit=MetricUnit.Count, value=run.report.files_uploaded)
    return result
