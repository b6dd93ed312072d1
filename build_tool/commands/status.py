"""`build_tool status`: the live release, the last places of the release order, and the rollback targets.

Reads (`gather`) are separate from the decisions and the formatting (`verdict`, `table`, `as_json`),
which are pure. Costs: 2 GETs and a HEAD for the live manifest and record, one GET per place shown,
one GET (the record, for its commit) and one HEAD (the artifact) per other release shown.
"""

from __future__ import annotations

import argparse
import json
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from staticsync.config import Settings
from staticsync.errors import LiveStateError
from staticsync.live.state import read_live, read_record
from staticsync.live.walk import ABANDONED, LIVE, REPLACED, Place, not_retained, walk_order
from staticsync.model.contract import MANIFEST_NAME
from staticsync.model.plan import LiveState

from .. import options
from ..aws.errors import IAM_DOC, ReadError, Where, translated
from ..env import Environment
from ..errors import UsageError

DEFAULT_LIMIT = 10
SHORT = 12  # characters of a commit or request id in the table
IAM_HINT = f"see {IAM_DOC}"


@dataclass(frozen=True)
class Row:
    """One place of the order as status shows it; `not_retained` says why it is no rollback target."""

    sequence: int
    release: str
    kind: str
    request: str | None
    commit: str | None
    outcome: str
    artifact: str
    rollback_target: bool
    not_retained: str | None


@dataclass(frozen=True)
class Live:
    release: str
    commit: str | None
    sequence: int
    kind: str
    request: str | None
    live_since: str | None  # the live staticfiles.json's LastModified, ISO 8601 UTC
    artifact: str | None  # from its journal entry; None before the release order existed


@dataclass(frozen=True)
class Status:
    where: str
    live: Live | None
    rows: tuple[Row, ...] = ()
    previous: str | None = None  # the release live before the live one

    @property
    def targets(self) -> list[str]:
        """Releases a rollback can return to, newest place first, each once."""
        return list(dict.fromkeys(row.release for row in self.rows if row.rollback_target))

    @property
    def default_target(self) -> str | None:
        return self.previous if self.previous in self.targets else None


def verdict(place: Place, live_release: str, reason: str | None) -> tuple[bool, str | None]:
    """(is a rollback target, why not): the live release and abandoned places never are."""
    if place.outcome == LIVE or place.release == live_release:
        return False, "it is live"
    if place.outcome == ABANDONED:
        return False, "it never went live"
    return reason is None, reason


def table(status: Status) -> str:
    """The status for people: a header line, the places, newest first, and the rollback targets."""
    if status.live is None:
        return f"nothing is live at {status.where}"
    lines = [headline(status.live)]
    if not status.rows:
        lines.append("no release order recorded yet (the live release predates the journal)")
        return "\n".join(lines)
    header = ("PLACE", "RELEASE", "KIND", "REQUEST", "COMMIT", "OUTCOME", "ROLLBACK")
    cells = [header, *(row_cells(row) for row in status.rows)]
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    targets = ", ".join(status.targets) or "none"
    default = f" (default: {status.default_target})" if status.default_target else ""
    lines.append(f"rollback targets: {targets}{default}")
    return "\n".join(lines)


def headline(live: Live) -> str:
    line = f"live: {live.release} (commit {short(live.commit)}), place {live.sequence}, {live.kind}"
    if live.request:
        line += f" {short(live.request)}"
    line += f", live since {live.live_since or '-'}"
    return line + (f", from {live.artifact}" if live.artifact else "")


def row_cells(row: Row) -> tuple[str, ...]:
    if row.rollback_target:
        target = "yes"
    elif row.not_retained in ("it is live", "it never went live"):
        target = "-"
    else:
        target = f"no: {row.not_retained}"
    return (
        str(row.sequence),
        row.release,
        row.kind,
        short(row.request),
        short(row.commit),
        row.outcome,
        target,
    )


def short(value: str | None) -> str:
    return value[:SHORT] if value else "-"


def as_json(status: Status) -> dict[str, Any]:
    return {
        "where": status.where,
        "live": asdict(status.live) if status.live else None,
        "order": [asdict(row) for row in status.rows],
        "rollback_targets": status.targets,
        "default_target": status.default_target,
    }


def gather(client: Any, settings: Settings, limit: int) -> Status:
    """Read the live state, the last `limit` places and each shown release's record and artifact."""
    where = f"s3://{settings.live_bucket}/{settings.live_prefix}"
    with reading(settings):
        live = read_live(client, settings)
        if live.release is None:
            return Status(where, None)
        since = live_since(client, settings, live)
        places = walk_order(client, settings, limit, live)
        commits, reasons = inspect(client, settings, places, live)
    rows = tuple(row(place, live.release, commits, reasons) for place in places)
    position, artifact = live.position, places[0].entry.artifact if places else None
    current = Live(
        live.release,
        commits[live.release],
        position.sequence,
        position.kind,
        position.request,
        since,
        artifact,
    )
    return Status(where, current, rows, position.previous)


def inspect(
    client: Any, settings: Settings, places: list[Place], live: LiveState
) -> tuple[dict[str, str | None], dict[str, str | None]]:
    """Each release's commit (from its record), and why each replaced one is not retained (or None).

    A release is judged on its newest replaced place: the one whose artifact a rollback would name.
    """
    assert live.release is not None
    commits = {live.release: live.record.source_commit if live.record else None}
    histories: dict[str, bool] = {}
    reasons: dict[str, str | None] = {}
    for place in places:
        if place.release not in commits:
            try:
                commits[place.release] = read_record(client, settings, place.release).source_commit
                histories[place.release] = True
            except LiveStateError:  # gone or unreadable: no rollback can be judged against it
                commits[place.release], histories[place.release] = None, False
        if place.outcome == REPLACED and place.release != live.release and place.release not in reasons:
            history = histories[place.release]
            # A delta (its staged artifact's `base`) needs the artifacts of its base chain too.
            reasons[place.release] = not_retained(client, settings, place.entry, history, live.release)
    return commits, reasons


def row(
    place: Place, live_release: str, commits: dict[str, str | None], reasons: dict[str, str | None]
) -> Row:
    target, reason = verdict(place, live_release, reasons.get(place.release))
    entry = place.entry
    return Row(
        entry.sequence,
        entry.release,
        entry.kind,
        entry.request,
        commits.get(entry.release),
        place.outcome,
        entry.artifact,
        target,
        reason,
    )


def live_since(client: Any, settings: Settings, live: LiveState) -> str:
    """When the live release went live: its staticfiles.json's LastModified (one HEAD)."""
    head = client.head_object(Bucket=settings.live_bucket, Key=settings.live_key(MANIFEST_NAME))
    if head.get("ETag") != live.etag:
        raise ReadError("the live release changed while status was reading it: run it again")
    modified: datetime = head["LastModified"]
    return modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reading(settings: Settings) -> AbstractContextManager[None]:
    """botocore's errors and an unreadable live state, in the live bucket, as one ReadError line each."""
    where = Where(settings.live_bucket, settings.live_prefix, flag="--live-bucket")
    return translated(ReadError, "reading", where, IAM_HINT)


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that say where the live release is (status, rollback and prune)."""
    options.live(parser, required=True, help="the bucket the site's static files live in")
    options.staging_prefix(parser, help=f"the stack's staging prefix (default: {options.STAGING_PREFIX})")
    options.profile(parser)
    options.output(parser)


def add_arguments(parser: argparse.ArgumentParser, env: Environment) -> None:
    add_live_arguments(parser)
    parser.add_argument(
        "--artifacts-bucket",
        default="",
        help="the artifacts bucket: a rollback target's artifact must be in it (default: wherever its "
        "journal entry says)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"places of the order to show (default: {DEFAULT_LIMIT})",
    )


def settings_of(args: argparse.Namespace, artifacts_bucket: str) -> Settings:
    """The Lambda's settings these flags stand for; a prefix without its '/' is a UsageError."""
    for flag, value in (
        ("--live-prefix", args.live_prefix),
        ("--history-prefix", args.history_prefix),
        ("--prefix", args.prefix),
    ):
        if value.startswith("/") or (value and not value.endswith("/")):
            raise UsageError(f"{flag} {value!r} must end with '/' and not start with one")
    if not args.history_prefix or not args.prefix:
        raise UsageError("--history-prefix and --prefix must not be empty")
    return Settings(
        live_bucket=args.live_bucket,
        live_prefix=args.live_prefix,
        history_prefix=args.history_prefix,
        staging_prefix=args.prefix,
        artifacts_bucket=artifacts_bucket,
    )


def run(args: argparse.Namespace, env: Environment) -> int:
    from ..aws.staging import make_client

    if args.limit < 1:
        raise UsageError(f"--limit {args.limit} must be at least 1")
    settings = settings_of(args, args.artifacts_bucket)
    status = gather(make_client(args.profile), settings, args.limit)
    env.out(json.dumps(as_json(status), sort_keys=True) if args.json else table(status))
    return 0
