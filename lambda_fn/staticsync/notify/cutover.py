"""Tell the CDN and the world about a cutover: the sibling index, invalidations, the Release Live event."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..config import Settings
from ..model.plan import LiveState, Plan
from ..model.siblings import IndexChanges, index_changes
from ..report import SyncReport
from .eventbridge import announce_quietly
from .invalidate import caller_reference, invalidate_quietly, invalidation_paths, replaced
from .keyvaluestore import SiblingStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notifier:
    """The clients to tell the world with; None turns that step off. Each step only warns on failure:
    the release is live whether or not CloudFront or EventBridge heard of it."""

    cloudfront: Any = None
    events: Any = None
    siblings: SiblingStore | None = None

    def before_mutable(
        self, settings: Settings, plan: Plan, live: LiveState, sizes: Callable[[], dict[str, int]]
    ) -> IndexChanges | None:
        """Stop routing to siblings that are about to change, and say what to put after the cutover.

        Raises: the unhashed uploads must not start while the CDN could still send a visitor an
        older release's sibling of a file that changed.
        """
        if self.siblings is None:
            return None
        live_files = live.record.files if live.record else ()
        changes = index_changes(sizes(), live_files, plan.uploads, settings.live_prefix)
        self.siblings.drop(changes)
        return changes

    def release_live(
        self,
        settings: Settings,
        report: SyncReport,
        plan: Plan,
        live: LiveState,
        changes: IndexChanges | None = None,
    ) -> None:
        assert plan.cutover is not None
        if self.siblings is not None and changes is not None:
            try:
                self.siblings.fill(changes)
            except (ClientError, BotoCoreError) as error:  # the files are served, just not precompressed
                message = f"sibling index not filled: {error}"
                logger.warning(message)
                report.warn(message)
        if self.cloudfront is not None:
            changed = replaced(plan.mutable, live.record.files if live.record else None)
            paths = invalidation_paths(settings.live_prefix, None, changed)
            reference = caller_reference(plan.release, plan.cutover.position.sequence)
            invalidate_quietly(self.cloudfront, settings, report, paths, reference)
        if self.events is not None:
            announce_quietly(self.events, settings, report)  # after the invalidation: it carries its ids


SILENT = Notifier()
