"""The state machine's finish step, in the sync function: judge again, refuse the cutover unless
every shard's done-marker is there, mark the release complete, then write the unhashed names and cut
over as a deploy does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..bucket import LiveBucket, Run
from ..deploy.execute import Executor
from ..deploy.run import deploy
from ..errors import LiveChanged
from ..model.order import planned_against
from ..model.plan import Intent, LiveState, Plan
from ..notify.cutover import SILENT, Notifier
from .plan import NEXT_DONE, NEXT_PLAN, ArtifactRef
from .shards import ListRef, ShardList, ShardsIncomplete, read_list, unfinished, write_complete


@dataclass
class FinishStep:
    """The finish step's carry. The plan judged again must be the one the shards uploaded for (the
    same claimed place, still the topmost claim, planned against the same live state, the same
    content-addressed names): else the live release moved, or a deploy claimed above this one, since,
    and the state machine goes back to plan. A cutover refused by its condition goes back to plan too.
    The engine's word that every child succeeded is not taken: every shard's marker is read. Only then
    is the release marked complete (a pinned app may start on it), before any unhashed name."""

    artifact: ArtifactRef
    listed: ListRef
    next: str = NEXT_DONE

    def __call__(self, executor: Executor, plan: Plan, live: LiveState, intent: Intent) -> bool:
        if self.artifact.replaced(executor):
            return True
        listing = read_list(executor.client, executor.settings, self.listed)
        if not same_plan(listing, plan, live):
            self.next, executor.report.outcome = NEXT_PLAN, "replan"
            return True
        if missing := unfinished(executor.client, executor.settings, self.listed, listing):
            raise ShardsIncomplete(
                f"{len(missing)} of {len(listing.shards)} shards of {self.listed.key} have no done-marker "
                f"(first: {missing[0]}): no cutover; the live site is unchanged"
            )
        write_complete(executor.client, executor.settings, executor.view.release, self.listed.digest)
        try:
            executor.finish(plan, live, {})
        except LiveChanged:
            self.next, executor.report.outcome = NEXT_PLAN, "replan"
        return True


def same_plan(listing: ShardList, plan: Plan, live: LiveState) -> bool:
    """Whether `plan` (judged now) is the plan the shards belong to. Its place is the shard list's
    only when that claim is still the topmost one (model.plan.resuming): a claim above it, a deploy
    that stepped over it while the shards ran, makes the plan claim above that one instead, and its
    late cutover could land under this one's unhashed names (models/README.md, F12)."""
    if plan.entry is None or not listing.shards:
        return False
    first = listing.shards[0]
    return (
        first.sequence == plan.entry.sequence
        and first.planned == planned_against(live.position, live.etag)
        and listing.paths == frozenset(plan.immutable)
    )


def finish_step(
    bucket: LiveBucket, artifact: ArtifactRef, listed: ListRef, run: Run, notifier: Notifier = SILENT
) -> dict[str, Any]:
    """Run the finish step; the state machine's next move ("done", or "plan" to plan again)."""
    step = FinishStep(artifact, listed)
    deploy(bucket, artifact.staged, run, notifier=notifier, carry=step)
    return {"next": step.next}
