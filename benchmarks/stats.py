"""The few shapes and statistics the report and the targets share (so neither imports the other)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

Key = tuple[str, str, str, int]  # corpus, tool, scenario, ms per request
Sums = dict[Key, dict[str, Any]]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
