"""Count the S3 requests a client sends, by operation: requests are what a deploy pays and waits for."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RequestMeter:
    """Counts every HTTP request (retries included) a boto3 client sends."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        # Emitted once per HTTP attempt, so retries count too.
        client.meta.events.register("request-created.s3", self._count)
        return client

    def add(self, counts: dict[str, int]) -> None:
        """Requests another client counted (an upload worker process's), by operation."""
        with self._lock:
            self._counts.update(counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def by_operation(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def _count(self, operation_name: str = "unknown", **_: Any) -> None:
        operation = operation_name
        with self._lock:
            self._counts[operation] += 1


def metered_s3_client(meter: RequestMeter, upload_concurrency: int) -> Any:
    """The functions' S3 client: a connection per upload thread, standard retries, every request counted."""
    import boto3
    from botocore.config import Config

    config = Config(
        max_pool_connections=upload_concurrency + 4, retries={"mode": "standard", "max_attempts": 5}
    )
    return meter.attach(boto3.client("s3", config=config))
