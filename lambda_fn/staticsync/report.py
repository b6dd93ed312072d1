"""The sync report: one record per deploy, for the log and for CloudWatch metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OUTCOMES = ("deployed", "unchanged", "rejected", "failed")


@dataclass
class SyncReport:
    """What one deploy did; filled in as it goes, so a failure still reports how far it got."""

    artifact: str
    release: str | None = None
    live_release_before: str | None = None
    outcome: str = "failed"
    reason: str | None = None
    member: str | None = None
    detail: str | None = None
    files_total: int = 0
    files_uploaded: int = 0
    files_unchanged: int = 0
    bytes_uploaded: int = 0
    s3_requests: int = 0
    requests_by_operation: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.outcome}: release {self.release} from {self.artifact}: "
            f"{self.files_uploaded} of {self.files_total} files uploaded "
            f"({self.bytes_uploaded} bytes), {self.files_unchanged} unchanged, "
            f"{self.s3_requests} S3 requests, {self.seconds:.2f} s"
        )

    def as_log(self) -> dict[str, Any]:
        return asdict(self)

    def add_metrics(self, metrics: Any) -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        metrics.add_metric("FilesUploaded", MetricUnit.Count, self.files_uploaded)
        metrics.add_metric("FilesUnchanged", MetricUnit.Count, self.files_unchanged)
        metrics.add_metric("BytesUploaded", MetricUnit.Bytes, self.bytes_uploaded)
        metrics.add_metric("S3Requests", MetricUnit.Count, self.s3_requests)
        metrics.add_metric("DeploySeconds", MetricUnit.Seconds, self.seconds)
        name = {
            "deployed": "DeploysSucceeded",
            "unchanged": "DeploysUnchanged",
            "rejected": "ArtifactsRejected",
        }.get(self.outcome, "DeploysFailed")
        metrics.add_metric(name, MetricUnit.Count, 1)
