"""What a build made and where its seconds went: `build_tool package`'s result, its --json record."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache import CompressionStats
    from .pack import Packed
    from .release import ReleaseInfo


@dataclass
class Stopwatch:
    """Seconds per phase of a build, for `--json`'s "timings": where the seconds go."""

    seconds: dict[str, float] = field(default_factory=dict)
    last: float = field(default_factory=time.monotonic)
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def since_entry(cls, entered: float | None) -> Stopwatch:
        """A build's stopwatch, from now; given `entered` (when build_tool's code began in a process of
        its own: Environment.entered), from the process's start, charging "interpreter" with the
        seconds before `entered` (exec, Python's start, site) and "imports" with those since (the
        tool's imports and its command line): then the phases cover the process's whole life up to
        the record, all but its exit."""
        now = time.monotonic()
        if entered is None:
            return cls(last=now, started=now)
        age = process_age()
        started = entered if age is None else min(now - age, entered)
        seconds = {"interpreter": entered - started, "imports": now - entered}
        return cls(seconds, last=now, started=started)

    def lap(self, phase: str) -> None:
        """Charge the time since the last lap to `phase`."""
        now = time.monotonic()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self.last
        self.last = now

    def move(self, source: str, target: str, seconds: float) -> None:
        """Charge `seconds` of `source`'s time to `target` (compression runs inside the collect)."""
        moved = min(seconds, self.seconds.get(source, 0.0))
        self.seconds[source] = self.seconds.get(source, 0.0) - moved
        self.seconds[target] = self.seconds.get(target, 0.0) + moved

    def rounded(self) -> dict[str, float]:
        return {phase: round(value, 3) for phase, value in self.seconds.items()}


def process_age() -> float | None:
    """Seconds since this process started: Linux's /proc/self/stat start time (clock ticks since boot,
    so to 1/100 s) against CLOCK_BOOTTIME; None where either is missing."""
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat.rpartition(")")[2].split()[19])  # field 22, counted after the name's ")"
        now = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return max(now - ticks / os.sysconf("SC_CLK_TCK"), 0.0)


@dataclass(frozen=True)
class PackageResult:
    """What `build_tool package` made: `as_json()` is the --json record, `summary()` the line for people."""

    uri: str
    release: str
    created_at: str
    source_commit: str | None
    files: int
    bytes: int
    zip_bytes: int
    sha256: str
    seconds: float
    compressed: int
    compressed_from_cache: int
    timings: dict[str, float]
    base: str | None
    inherited: int
    compression_skipped: int
    scratch: str  # where the temporary collect was written (build_tool.build.scratch)
    collected: bool = True  # False: the inputs were the base's, whose files the release took (build.inputs)
    inputs: str | None = None  # the inputs fingerprint the record carries
    report: dict[str, Any] | None = None  # --wait: the function's report

    @classmethod
    def of(
        cls,
        uri: str,
        info: ReleaseInfo,
        packed: Packed,
        stats: CompressionStats,
        watch: Stopwatch,
        work: Path,
    ) -> PackageResult:
        """The record of a build in `work` (its scratch folder), timed by `watch` from its start."""
        return cls(
            uri=uri,
            release=info.release,
            created_at=info.created_at,
            source_commit=info.source_commit,
            files=packed.record.file_count,
            bytes=packed.total_bytes,
            zip_bytes=packed.size,
            sha256=packed.sha256,
            seconds=round(time.monotonic() - watch.started, 2),
            compressed=stats.compressed,
            compressed_from_cache=stats.reused,
            timings=watch.rounded(),
            base=packed.record.base,
            inherited=packed.inherited,
            compression_skipped=stats.inherited,
            scratch=str(work.parent),
            collected="collect" in watch.seconds,
            inputs=packed.record.inputs,
        )

    def as_json(self) -> dict[str, Any]:
        """The record --json prints: every field, and `report` only after --wait."""
        record = asdict(self)
        if self.report is None:
            del record["report"]
        return record

    def summary(self) -> str:
        line = (
            f"release {self.release}: {self.files} files, {self.bytes} bytes "
            f"packed into {self.zip_bytes} bytes in {self.seconds} s; "
            f"{self.compressed} contents compressed, {self.compressed_from_cache} from the cache"
        )
        if self.base:
            line += f"; a delta of {self.base}: {self.inherited} files inherited, not packed"
        return line
