"""Scheduled entry point: verify the live bucket against the live release, and repair it."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from staticsync.config import Settings
from staticsync.meter import RequestMeter, metered_s3_client
from staticsync.operations.repair import Depth, RepairRefused, verify_live

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "StaticDeploy"))
settings = Settings.from_env()
meter = RequestMeter()
s3 = metered_s3_client(meter, settings.upload_concurrency)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One LIST-depth pass in repair mode. A refusal is logged and counted, not raised: a retry
    cannot bring back an expired artifact, and the next scheduled run tries again."""
    try:
        report = verify_live(s3, settings, depth=Depth.LIST, repair=True, meter=meter)
    except RepairRefused as error:
        logger.error("verify refused", extra={"detail": str(error), "s3_requests": meter.total})
        metrics.add_metric(name="VerifyRefused", unit=MetricUnit.Count, value=1)
        return {"outcome": "refused", "detail": str(error)}
    logger.info("verify finished", extra=report.as_log())
    metrics.add_metric(name="LiveProblems", unit=MetricUnit.Count, value=len(report.problems))
    metrics.add_metric(name="LiveFilesRestored", unit=MetricUnit.Count, value=len(report.restored))
    return {"outcome": "repaired" if report.restored else "whole" if not report.problems else "problems"} | {
        "report": report.as_log()
    }
