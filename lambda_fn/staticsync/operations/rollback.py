"""Run a staged rollback request: deploy a retained release's artifact, once, in place of the one named."""

from __future__ import annotations

from ..bucket import LiveBucket, Run, Staged
from ..config import Settings
from ..deploy.run import deploy
from ..errors import ArtifactGone, ArtifactRejected, ObjectTooLarge
from ..live.state import get_object
from ..model.order import BadRequest, RollbackRequest
from ..notify.cutover import SILENT, Notifier
from ..notify.report_object import normal_etag
from ..report import SyncReport

REQUEST_PREFIX = "rollback-"
# A request is a few hundred bytes; anything larger is not read (the staging prefix is CI's to write).
MAX_REQUEST_BYTES = 64 * 1024


def request_object_key(settings: Settings, request: str) -> str:
    """Where `build_tool rollback` stages a request: under the staging prefix, as a .json."""
    return f"{settings.staging_prefix}{REQUEST_PREFIX}{request}.json"


def handle_request(bucket: LiveBucket, staged: Staged, run: Run, notifier: Notifier = SILENT) -> SyncReport:
    """Read the request at s3://bucket/key and deploy the artifact of the release it names.

    A request that does not parse, or names an artifact that is gone, is rejected (not retried);
    the judgement against the live state and the one-time claim happen in `deploy`. The report is
    about the request (its key and ETag, what a waiter looks for); `detail` names the artifact.
    """
    settings, report, key = bucket.settings, run.report, staged.key
    try:
        found = get_object(bucket.client, staged.bucket, key, limit=MAX_REQUEST_BYTES)
    except ObjectTooLarge as error:
        return _refuse(run, "bad_request", f"the rollback request is not read: {error}")
    if found is None:
        raise ArtifactGone(f"{staged.uri} no longer exists")
    report.kind, report.artifact_etag = "rollback", normal_etag(found[1])
    try:
        request = RollbackRequest.parse(found[0])
    except BadRequest as error:
        return _refuse(run, "bad_request", f"the rollback request {key} is invalid: {error}")
    report.release = request.release
    artifact_key = request.artifact_key or f"{settings.staging_prefix}{request.release}.zip"
    if not (artifact_key.startswith(settings.staging_prefix) and artifact_key.endswith(".zip")):
        return _refuse(run, "bad_request", f"{artifact_key} is not a staged artifact")
    try:
        return deploy(bucket, Staged(staged.bucket, artifact_key), run, request, notifier)
    except ArtifactGone:
        return _refuse(
            run,
            "not_retained",
            f"release {request.release} cannot be restored: its artifact s3://{staged.bucket}/{artifact_key} "
            "is no longer retained (re-stage it with build_tool package at that commit)",
        )


def _refuse(run: Run, code: str, detail: str) -> SyncReport:
    report = run.report
    report.outcome, report.reason, report.detail = "rejected", code, str(ArtifactRejected(code, detail))
    return run.finish()
