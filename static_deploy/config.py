"""settings.STATIC_DEPLOY: one dict for the command and the pinned storage, checked by key."""

from __future__ import annotations

from typing import Any

# Read by static_deploy.storage only; every other key is a `package` option (by its dest name).
STORAGE_KEYS = frozenset({"live_bucket", "live_prefix", "history_prefix", "manifest_strict"})


def static_deploy() -> dict[str, Any]:
    from django.conf import settings

    value = getattr(settings, "STATIC_DEPLOY", None) or {}
    if not isinstance(value, dict):
        raise TypeError(f"settings.STATIC_DEPLOY must be a dict, not {type(value).__name__}")
    return dict(value)


def unknown_keys(config: dict[str, Any], options: set[str]) -> list[str]:
    """The keys of STATIC_DEPLOY that neither the command nor the storage reads (typos)."""
    return sorted(set(config) - options - STORAGE_KEYS)
