"""The state machine's plan step, in the sync function: judge again, claim the release's place with
its history record (marked sharded: sharded.complete) before any upload, and write the shard list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..bucket import LiveBucket, Run, Staged
from ..deploy.execute import Executor
from ..deploy.run import deploy
from ..live.state import write_history
from ..model.order import META_PLANNED, planned_against
from ..model.plan import Intent, LiveState, Plan
from ..notify.cutover import SILENT, Notifier
from .complete import SHARDED
from .handoff import HANDED_OFF, should_shard
from .shards import ListRef, Shard, ShardList, cut, write_complete, write_list

NEXT_SHARDS, NEXT_DONE, NEXT_PLAN = "shards", "done", "plan"
# The artifact at the key is another upload now (its own event deploys it): this execution ends.
REPLACED = "replaced"


@dataclass(frozen=True)
class ArtifactRef:
    """The staged upload an execution deploys: its key and the ETag it was started for."""

    bucket: str
    key: str
    etag: str
    size: int | None = None

    @classmethod
    def of(cls, document: dict[str, Any]) -> ArtifactRef:
        return cls(document["bucket"], document["key"], document["etag"], document.get("size"))

    @property
    def staged(self) -> Staged:
        return Staged(self.bucket, self.key, self.size)

    def replaced(self, executor: Executor) -> bool:
        """Whether the object opened is not the upload this execution was started for."""
        if (executor.report.artifact_etag or "") == self.etag.strip('"'):
            return False
        executor.report.outcome, executor.report.reason = REPLACED, REPLACED
        return True


@dataclass
class PlanStep:
    """The plan step's carry: a plan still too large claims its place (its history record first) and
    lists its shards; one that became small (a re-plan) runs inline, here."""

    artifact: ArtifactRef
    listed: ListRef | None = field(default=None)

    def __call__(self, executor: Executor, plan: Plan, live: LiveState, intent: Intent) -> bool:
        if self.artifact.replaced(executor):
            return True
        if not should_shard(executor.settings, plan, intent):
            if not executor.history_kept:
                return False
            run_inline(executor, plan, live, intent)
            return True
        executor.check_time("claiming the release's place")
        if not executor.history_kept:
            keep_sharded_history(executor, live)
        claimed = executor.claim(plan, live, intent)
        assert claimed.entry is not None
        listing = shard_list(executor, claimed, live, self.artifact)
        self.listed = write_list(executor.client, executor.settings, listing, executor.view.release)
        executor.report.outcome, executor.report.sequence = HANDED_OFF, claimed.entry.sequence
        return True

    def output(self) -> dict[str, Any]:
        if self.listed is None:
            return {"next": NEXT_DONE, "list": None}
        return {"next": NEXT_SHARDS, "list": self.listed.as_dict()}


def keep_sharded_history(executor: Executor, live: LiveState) -> None:
    """The release's history record, as Executor.keep_history writes it, marked sharded: it is written
    before any upload, so a pinned app must wait for the complete marker. Before the claim, not beside
    it: a kept record with other bytes rejects the artifact while it holds no place."""
    write_history(
        executor.client,
        executor.settings,
        executor.view.release,
        executor.artifact.release_bytes,
        executor.view.manifest_bytes,
        {META_PLANNED: planned_against(live.position, live.etag), **SHARDED},
    )


def run_inline(executor: Executor, plan: Plan, live: LiveState, intent: Intent) -> None:
    """A re-plan that became small, run here as Executor.run runs it, with the complete marker written
    once its content-addressed names are up: the kept record may be an earlier plan step's, marked
    sharded."""
    executor.check_time("uploading")
    files, claimed = executor.upload_immutable(plan, live, intent)
    write_complete(executor.client, executor.settings, executor.view.release, None)
    executor.finish(claimed, live, files)


def shard_list(executor: Executor, claimed: Plan, live: LiveState, artifact: ArtifactRef) -> ShardList:
    """The claimed plan's content-addressed names in member order, cut into runs of SHARD_FILES, each
    item naming the upload, the claimed place and the live state planned against."""
    assert claimed.entry is not None
    opened, release = executor.artifact, executor.view.release
    ordered = sorted(claimed.immutable, key=opened.offset_of)
    return ShardList(
        tuple(
            Shard(
                index=index,
                release=release,
                artifact=artifact.staged.uri,
                artifact_etag=artifact.etag.strip('"'),
                release_sha256=opened.release_sha256,  # hashed at open
                sequence=claimed.entry.sequence,
                planned=planned_against(live.position, live.etag),
                paths=paths,
            )
            for index, paths in enumerate(cut(ordered, executor.settings.shard_files))
        )
    )


def plan_step(
    bucket: LiveBucket, artifact: ArtifactRef, run: Run, notifier: Notifier = SILENT
) -> dict[str, Any]:
    """Run the plan step on the execution's artifact; the state machine's next move and the list."""
    step = PlanStep(artifact)
    deploy(bucket, artifact.staged, run, notifier=notifier, carry=step)
    return step.output()
