"""Pins and tombstones: what retention promises a running app, and the mark it leaves when it stops;
and the requests CI stages for retention (pin, prune). Pure.

A **pin** says that an app runs release R until `expires`: retention keeps every file of R until then,
whatever else it prunes. An app deploy asks for one by staging `<staging prefix>pin-<id>.json`
(`PinRequest`; CI can write only the staging prefix); the function checks that R has a record and
is not pruned, and writes the pin once (`IfNoneMatch`) under the history prefix, where only it writes:
`<live prefix><history prefix>pins/<app>/<release>/<expires>.json`. Each request adds a pin (an
earlier one still covers the app instances it covered), so a pin is never overwritten, and its key
alone says what it pins until when: retention reads the pins from the LIST it makes anyway.
`expires` is the request's LastModified plus `days`, and is judged against S3's clock: neither CI's
nor the function's clock takes part.

A **tombstone**, `<live prefix><history prefix><release>/pruned.json`, is written once by the prune
pass, before it deletes anything, for each release retention no longer keeps: from then on no pin
request, and no app storage reading the live bucket, accepts that release.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .contract import RELEASE_ID, dumps, format_timestamp
from .order import REQUEST_ID, field_id, read_request

PINS_DIR = "pins/"
TOMBSTONE_NAME = "pruned.json"
PIN_PREFIX = "pin-"  # a staged .json whose name starts with this is a pin request
FORMAT = REQUEST_FORMAT = 1  # of pin and prune requests, pins and tombstones
# Staged requests are a few hundred bytes; anything past this is not read (ObjectTooLarge).
MAX_REQUEST_BYTES = 64 * 1024
MAX_PIN_DAYS = 3660
KEY_STAMP = "%Y%m%dT%H%M%SZ"
_STAMP = re.compile(r"\d{8}T\d{6}Z")


class BadPinRequest(ValueError):
    """A pin request that does not parse; the message says what is wrong."""


@dataclass(frozen=True)
class Pin:
    """App `app` runs release `release` until `expires` (S3's clock)."""

    app: str
    release: str
    expires: datetime

    @property
    def path(self) -> str:
        """Where it is kept, relative to the history prefix."""
        return f"{PINS_DIR}{self.app}/{self.release}/{self.expires.strftime(KEY_STAMP)}.json"

    def to_json(self) -> bytes:
        expires = format_timestamp(self.expires)
        return dumps({"app": self.app, "expires": expires, "format": FORMAT, "release": self.release})

    @classmethod
    def from_path(cls, path: str) -> Pin | None:
        """The pin a key names (relative to the history prefix), or None when it names none."""
        parts = path.removeprefix(PINS_DIR).split("/") if path.startswith(PINS_DIR) else []
        if len(parts) != 3 or not parts[2].endswith(".json"):
            return None
        app, release, stamp = parts[0], parts[1], parts[2].removesuffix(".json")
        if not (REQUEST_ID.fullmatch(app) and RELEASE_ID.fullmatch(release) and _STAMP.fullmatch(stamp)):
            return None
        return cls(app, release, datetime.strptime(stamp, KEY_STAMP).replace(tzinfo=UTC))


def pinned(pins: Iterable[Pin], now: datetime) -> frozenset[str]:
    """The releases an unexpired pin names at `now` (S3's clock)."""
    return frozenset(pin.release for pin in pins if pin.expires > now)


@dataclass(frozen=True)
class Kept:
    """What a LIST of the history prefix shows: each release's history record (with its LastModified),
    the releases marked pruned, and the pins."""

    histories: Mapping[str, datetime]
    pruned: frozenset[str]
    pins: tuple[Pin, ...]

    @classmethod
    def of(cls, listed: Iterable[tuple[str, datetime]], history_name: str) -> Kept:
        """From (key relative to the history prefix, LastModified) of each listed object."""
        histories, pruned, pins = {}, set(), []
        for path, modified in listed:
            release, _, name = path.partition("/")
            if name == history_name:
                histories[release] = modified
            elif name == TOMBSTONE_NAME:
                pruned.add(release)
            elif (pin := Pin.from_path(path)) is not None:
                pins.append(pin)
        return cls(histories, frozenset(pruned), tuple(pins))

    def unmarked(self, kept: Collection[str], floor: datetime | None) -> tuple[str, ...]:
        """Releases with a history record that are not `kept` and not marked pruned yet. One whose
        record is older than `floor` keeps its files (they are older still), so it is not marked."""
        return tuple(
            release
            for release, at in sorted(self.histories.items())
            if release not in kept and release not in self.pruned and (floor is None or at >= floor)
        )


@dataclass(frozen=True)
class PinRequest:
    """{"format": 1, "request": id, "app": name, "release": R, "days": N}: keep R for N days."""

    request: str
    app: str
    release: str
    days: int

    def to_json(self) -> bytes:
        return dumps(
            {
                "format": FORMAT,
                "request": self.request,
                "app": self.app,
                "release": self.release,
                "days": self.days,
            }
        )

    def pin(self, staged_at: datetime) -> Pin:
        """The pin, dated by S3: the request's LastModified, to the second, plus `days`."""
        return Pin(self.app, self.release, staged_at.replace(microsecond=0) + timedelta(days=self.days))

    @classmethod
    def parse(cls, data: bytes) -> PinRequest:
        document = read_request(data, "pin", BadPinRequest)
        request, app = _id(document, "request", REQUEST_ID), _id(document, "app", REQUEST_ID)
        days = document.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_PIN_DAYS:
            raise BadPinRequest(f"days {days!r} must be a whole number from 1 to {MAX_PIN_DAYS}")
        return cls(request, app, _id(document, "release", RELEASE_ID), days)


def _id(document: dict[str, object], name: str, pattern: re.Pattern[str]) -> str:
    return field_id(document, name, pattern, BadPinRequest)


def pin_request_key(staging_prefix: str, request: str) -> str:
    """Where a pin request is staged: under the staging prefix, as a .json."""
    return f"{staging_prefix}{PIN_PREFIX}{request}.json"


@dataclass(frozen=True)
class Tombstone:
    """Retention stopped keeping `release` at `pruned_at` (S3's clock), with `live` the live release."""

    release: str
    pruned_at: datetime
    live: str | None

    def to_json(self) -> bytes:
        document = {"format": FORMAT, "live": self.live, "release": self.release}
        return dumps({**document, "pruned_at": format_timestamp(self.pruned_at)})


def parse_prune_request(data: bytes) -> bool:
    """Whether a prune request ({"format": 1, "request": id, "dry_run": bool}) asks for a dry run;
    ValueError when it is not one."""
    document = read_request(data, "prune", ValueError)
    field_id(document, "request", REQUEST_ID, ValueError)
    return document.get("dry_run") is True
