"""Run a staged rollback request: deploy a retained release's artifact, once, in place of the one named.

A release staged as a delta of a release that is not live is deployed completed by its base chain
(`chain.py`): the files it inherits are read from its bases' retained artifacts, each checked against
its own record, so every retained release is a rollback target, deltas included.
"""

from __future__ import annotations

from ..bucket import LiveBucket, Run, Staged
from ..config import Settings
from ..deploy.run import deploy, deploy_source
from ..errors import ArtifactGone, ArtifactRejected, ObjectTooLarge
from ..live.state import get_object
from ..live.walk import head_of
from ..model.contract import META_BASE
from ..model.order import BadRequest, RollbackRequest
from ..notify.cutover import SILENT, Notifier
from ..notify.report_object import normal_etag
from ..report import SyncReport
from .chain import NotRetained, completed, open_holder
from .completed import Completed

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
    target = Staged(staged.bucket, artifact_key)
    try:
        head = head_of(bucket.client, target.bucket, target.key)
        if head is None:
            raise ArtifactGone(f"{target.uri} no longer exists")
        base = head.get("Metadata", {}).get(META_BASE)
        if base is not None and base != request.replaces:  # the hint; the release.json read decides
            return deploy_completed(
                bucket, Staged(target.bucket, target.key, head.get("ContentLength")), run, request, notifier
            )
        return deploy(bucket, target, run, request, notifier)
    except ArtifactGone:
        return _refuse(
            run,
            "not_retained",
            f"release {request.release} cannot be restored: its artifact s3://{staged.bucket}/{artifact_key} "
            "is no longer retained (re-stage it with build_tool package at that commit)",
        )


def deploy_completed(
    bucket: LiveBucket, target: Staged, run: Run, request: RollbackRequest, notifier: Notifier
) -> SyncReport:
    """Roll back to a delta whose base is not live: its artifact completed by its base chain, then
    deployed as any artifact is (every file read and checked against the delta's record before the
    first write). Nothing is tagged: a broken chain says nothing about the delta's own bytes."""
    client, settings = bucket.client, bucket.settings
    try:
        delta = open_holder(client, settings, target.bucket, target.key, target.size)
        source = completed(client, settings, target.bucket, delta, target.uri)
    except NotRetained as error:
        return _refuse(run, "not_retained", str(error))
    except ArtifactRejected as error:
        return _refuse(run, error.code, str(error))
    try:
        source.check_inherited(settings)  # before the request's claim: a bad base leaves nothing behind
    except ArtifactRejected as error:
        detail = inherited_detail(source, request, str(error), error.member)
        return _refuse(run, error.code, detail, error.member)
    report = deploy_source(bucket, source, run, request, notifier)
    if report.outcome == "rejected" and report.member in source.inherited:
        report.detail = inherited_detail(source, request, report.detail or "", report.member)
    return report


def inherited_detail(source: Completed, request: RollbackRequest, detail: str, member: str | None) -> str:
    """A rejection of an inherited file, naming the base artifact it was read from."""
    where = source.inherited.get(member or "", "a base artifact")
    return (
        f"{detail}: {member} was read from {where}, which release {request.release} inherits it from, "
        "and its bytes are not those of the release's record (staged again with other bytes?); nothing "
        f"written: stage that base again, or a full build of {request.release}'s commit"
    )


def _refuse(run: Run, code: str, detail: str, member: str | None = None) -> SyncReport:
    report = run.report
    report.outcome, report.reason, report.detail = "rejected", code, str(ArtifactRejected(code, detail))
    report.member = member
    return run.finish()
