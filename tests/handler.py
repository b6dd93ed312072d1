"""The Lambda handler module (lambda_fn/app.py), imported anew for a test: it reads its configuration
and makes its clients once, at import, as Lambda does at a cold start."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from unittest import mock


@contextmanager
def fresh_handler(**env: str) -> Iterator[ModuleType]:
    """`app` imported under LIVE_BUCKET=live plus `env`, its metrics cleared; forgotten afterwards."""
    with mock.patch.dict(os.environ, {"LIVE_BUCKET": "live", "POWERTOOLS_METRICS_NAMESPACE": "Test", **env}):
        sys.modules.pop("app", None)
        try:
            module = importlib.import_module("app")
            module.metrics.clear_metrics()  # metrics are shared by every Metrics instance
            yield module
        finally:
            sys.modules.pop("app", None)
