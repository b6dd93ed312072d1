"""The Lambda's configuration, read once from the environment and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError

DEFAULT_CACHE_HASHED = "public, max-age=31536000, immutable"
DEFAULT_CACHE_UNHASHED = "public, max-age=300"
DEFAULT_CACHE_MANIFEST = "no-cache"


@dataclass(frozen=True)
class Settings:
    """Everything the handler needs to know besides the event.

    Environment variables, with defaults:
    LIVE_BUCKET (required), LIVE_PREFIX (""), STAGING_PREFIX ("staging/"),
    HISTORY_PREFIX (".releases/", under LIVE_PREFIX), UPLOAD_CONCURRENCY (32, per upload process),
    UPLOAD_PROCESSES ("auto": one per vCPU the function's memory buys; deploy/workers.py),
    CACHE_CONTROL_HASHED, CACHE_CONTROL_UNHASHED, CACHE_CONTROL_MANIFEST,
    MAX_MEMBERS (200000), MAX_TOTAL_BYTES (8 GiB), MAX_MEMBER_BYTES (5 GiB, S3's single PUT limit),
    MAX_COMPRESSION_RATIO (1000), ARTIFACTS_BUCKET ("": records of any bucket are accepted),
    REPORT_PREFIX ("reports/", in the artifacts bucket), CLOUDFRONT_DISTRIBUTION_ID ("": no invalidation),
    EVENT_BUS_NAME ("": no event; the template sets "default", the account's default bus),
    LIVE_ETAG_MD5 ("true"; "false" when the live bucket's ETags are not MD5s, e.g. SSE-KMS),
    RETAIN_RELEASES (5), RETENTION_GRACE_DAYS (7), PRUNE_MAX_DELETES (1000), PRUNE_AFTER_DEPLOY ("false"):
    retention by releases (staticsync/retention.py).
    STATE_MACHINE_ARN ("": every deploy inline), SHARD_THRESHOLD_FILES (150000), SHARD_FILES (20000),
    SHARD_MAX_CONCURRENCY (2): a deploy whose plan uploads at least the threshold is handed to the
    state machine in shards of SHARD_FILES content-addressed names (staticsync/sharded/).
    """

    live_bucket: str
    live_prefix: str = ""
    staging_prefix: str = "staging/"
    history_prefix: str = ".releases/"
    upload_concurrency: int = 32
    upload_processes: int = 0  # 0: auto (deploy/workers.py sizes it from the function's vCPUs)
    cache_hashed: str = DEFAULT_CACHE_HASHED
    cache_unhashed: str = DEFAULT_CACHE_UNHASHED
    cache_manifest: str = DEFAULT_CACHE_MANIFEST
    max_members: int = 200_000
    max_total_bytes: int = 8 * 1024**3
    max_member_bytes: int = 5 * 1024**3
    max_compression_ratio: int = 1000
    artifacts_bucket: str = ""
    report_prefix: str = "reports/"
    cloudfront_distribution_id: str = ""
    event_bus_name: str = ""
    etag_md5: bool = True
    cdn_sibling_index_arn: str = ""
    retain_releases: int = 5
    retention_grace_days: int = 7
    prune_max_deletes: int = 1000
    prune_after_deploy: bool = False
    state_machine_arn: str = ""
    shard_threshold_files: int = 150_000
    shard_files: int = 20_000
    shard_max_concurrency: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        live_bucket = env.get("LIVE_BUCKET", "").strip()
        if not live_bucket:
            raise ConfigError("LIVE_BUCKET is not set: name the bucket the site's static files live in")
        return cls(
            live_bucket=live_bucket,
            live_prefix=_prefix(env, "LIVE_PREFIX", ""),
            staging_prefix=_prefix(env, "STAGING_PREFIX", "staging/"),
            history_prefix=_prefix(env, "HISTORY_PREFIX", ".releases/", required=True),
            upload_concurrency=_int(env, "UPLOAD_CONCURRENCY", 32, low=1, high=256),
            upload_processes=_processes(env, "UPLOAD_PROCESSES"),
            cache_hashed=env.get("CACHE_CONTROL_HASHED", DEFAULT_CACHE_HASHED),
            cache_unhashed=env.get("CACHE_CONTROL_UNHASHED", DEFAULT_CACHE_UNHASHED),
            cache_manifest=env.get("CACHE_CONTROL_MANIFEST", DEFAULT_CACHE_MANIFEST),
            max_members=_int(env, "MAX_MEMBERS", 200_000, low=1),
            max_total_bytes=_int(env, "MAX_TOTAL_BYTES", 8 * 1024**3, low=1),
            max_member_bytes=_int(env, "MAX_MEMBER_BYTES", 5 * 1024**3, low=1, high=5 * 1024**3),
            max_compression_ratio=_int(env, "MAX_COMPRESSION_RATIO", 1000, low=1),
            artifacts_bucket=env.get("ARTIFACTS_BUCKET", "").strip(),
            report_prefix=_prefix(env, "REPORT_PREFIX", "reports/", required=True),
            cloudfront_distribution_id=env.get("CLOUDFRONT_DISTRIBUTION_ID", "").strip(),
            event_bus_name=env.get("EVENT_BUS_NAME", "").strip(),
            etag_md5=_bool(env, "LIVE_ETAG_MD5", True),
            cdn_sibling_index_arn=env.get("CDN_SIBLING_INDEX_ARN", "").strip(),
            retain_releases=_int(env, "RETAIN_RELEASES", 5, low=1),
            retention_grace_days=_int(env, "RETENTION_GRACE_DAYS", 7, low=1),
            prune_max_deletes=_int(env, "PRUNE_MAX_DELETES", 1000, low=1),
            prune_after_deploy=_bool(env, "PRUNE_AFTER_DEPLOY", False),
            state_machine_arn=env.get("STATE_MACHINE_ARN", "").strip(),
            shard_threshold_files=_int(env, "SHARD_THRESHOLD_FILES", 150_000, low=1),
            shard_files=_int(env, "SHARD_FILES", 20_000, low=1),
            shard_max_concurrency=_int(env, "SHARD_MAX_CONCURRENCY", 2, low=1, high=10_000),
        )

    def live_key(self, path: str) -> str:
        return f"{self.live_prefix}{path}"

    def history_key(self, release: str, name: str) -> str:
        return f"{self.live_prefix}{self.history_prefix}{release}/{name}"


def _prefix(env: Mapping[str, str], name: str, default: str, *, required: bool = False) -> str:
    value = env.get(name, default)
    if value.startswith("/") or (value and not value.endswith("/")):
        raise ConfigError(f"{name}={value!r}: a key prefix must not start with '/' and must end with '/'")
    if required and not value:
        raise ConfigError(f"{name} must not be empty")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{name}={value} must be {bounds}")
    return value


def _processes(env: Mapping[str, str], name: str) -> int:
    """A number of processes, or 0 for "auto" (or unset)."""
    if env.get(name, "").strip().lower() == "auto":
        return 0
    return _int(env, name, 0, low=1, high=64) if env.get(name, "").strip() else 0


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "true", "false"):
        return default if not raw else raw == "true"
    raise ConfigError(f"{name}={raw!r} must be true or false")
