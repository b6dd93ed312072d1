"""Scheduled entry point: verify the live bucket against the live release, and repair it."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from staticsync.config import Settings
from staticsync.meter import RequestMeter, metered_s3_client
from staticsync.operations.repair import Depth, RepairRefused, VerifyReport, verify_live

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
    # A name a deploy in flight claims is that deploy's to write: counted apart, so that an alarm on
    # LiveProblems does not fire whenever the schedule meets a deploy.
    held = len(report.held)
    metrics.add_metric(name="LiveProblems", unit=MetricUnit.Count, value=len(report.problems) - held)
    metrics.add_metric(name="LiveFilesHeldForDeploy", unit=MetricUnit.Count, value=held)
    metrics.add_metric(name="LiveFilesRestored", unit=MetricUnit.Count, value=len(report.restored))
    return {"outcome": outcome(report), "report": report.as_log()}


def outcome(report: VerifyReport) -> str:
    if report.restored:
        return "repaired"
    if len(report.held) == len(report.problems):
        return "deploy_in_flight" if report.held else "whole"
    return "problems"
