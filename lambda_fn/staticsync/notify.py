"""What follows a cutover: invalidate the mutable URLs it changed, and announce the release."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .announce import announce_quietly
from .config import Settings
from .invalidate import caller_reference, invalidate_quietly, invalidation_paths, replaced
from .plan import LiveState, Plan
from .report import SyncReport


@dataclass(frozen=True)
class Notifier:
    """The clients to tell the world with; None turns that step off. Each step only warns on failure:
    the release is live whether or not CloudFront or EventBridge heard of it."""

    cloudfront: Any = None
    events: Any = None

    def release_live(self, settings: Settings, report: SyncReport, plan: Plan, live: LiveState) -> None:
        assert plan.cutover is not None
        if self.cloudfront is not None:
            changed = replaced(plan.mutable, live.record.files if live.record else None)
            paths = invalidation_paths(settings.live_prefix, None, changed)
            reference = caller_reference(plan.release, plan.cutover.position.sequence)
            invalidate_quietly(self.cloudfront, settings, report, paths, reference)
        if self.events is not None:
            announce_quietly(self.events, settings, report)  # after the invalidation: it carries its ids


SILENT = Notifier()
