"""The sync report: one record per deploy, for the log, the report object CI waits on, and metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

OUTCOMES = ("deployed", "unchanged", "rejected", "failed")
# Keys listed by name in a report; past this only the count grows (a log record stays far below
# CloudWatch's 256 KB per event, and a waiter's GET stays small).
MAX_LISTED_KEYS = 1000


@dataclass
class SyncReport:
    """What one deploy did; filled in as it goes, so a failure still reports how far it got.

    The same document is the `deploy finished` log record and the report object (`as_log()`), so
    CloudWatch and CI read the same fields. `artifact_etag` names the upload the report is about:
    a waiter tells a report on an earlier upload of the same key from the one it waits for.
    """

    artifact: str
    artifact_etag: str | None = None
    kind: str = "deploy"  # or "rollback"
    release: str | None = None
    commit: str | None = None
    live_release_before: str | None = None
    live_release_after: str | None = None
    sequence: int | None = None
    outcome: str = "failed"
    reason: str | None = None
    member: str | None = None
    detail: str | None = None
    files_total: int = 0
    files_uploaded: int = 0
    files_unchanged: int = 0
    bytes_uploaded: int = 0
    keys_uploaded: list[str] = field(default_factory=list)  # the first MAX_LISTED_KEYS; files_uploaded counts
    manifest_etag: str | None = None
    s3_requests: int = 0
    requests_by_operation: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    invalidation_ids: list[str] = field(default_factory=list)
    invalidation_paths: list[str] = field(default_factory=list)  # the first MAX_LISTED_KEYS
    invalidation_paths_count: int = 0
    event_id: str | None = None
    report: str | None = None  # s3://bucket/key of the report object
    warnings: list[str] = field(default_factory=list)
    finished_at: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.outcome}: release {self.release} from {self.artifact}: "
            f"{self.files_uploaded} of {self.files_total} files uploaded "
            f"({self.bytes_uploaded} bytes), {self.files_unchanged} unchanged, "
            f"{self.s3_requests} S3 requests, {self.seconds:.2f} s"
        )

    def record_upload(self, key: str, size: int) -> None:
        """Count one uploaded object. Not locked: callers on several threads hold their own lock."""
        self.files_uploaded += 1
        self.bytes_uploaded += size
        if len(self.keys_uploaded) < MAX_LISTED_KEYS:
            self.keys_uploaded.append(key)

    def record_invalidation(self, ids: list[str], paths: list[str]) -> None:
        self.invalidation_ids = list(ids)
        self.invalidation_paths = list(paths[:MAX_LISTED_KEYS])
        self.invalidation_paths_count = len(paths)

    def warn(self, message: str) -> None:
        """A step after the cutover that failed without failing the deploy (invalidation, event)."""
        self.warnings.append(message)

    def finish(self, moment: datetime | None = None) -> None:
        self.finished_at = (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

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
