"""The Lambda's configuration: read once from the environment; a wrong value names its variable."""

from __future__ import annotations

import pytest

from staticsync.config import Settings
from staticsync.errors import ConfigError


def test_defaults_need_only_the_live_bucket() -> None:
    settings = Settings.from_env({"LIVE_BUCKET": "live"})
    assert settings == Settings(live_bucket="live")
    assert settings.staging_prefix == "staging/"
    assert settings.upload_concurrency == 32
    assert settings.history_key("r1", "release.json") == ".releases/r1/release.json"


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "LIVE_BUCKET": "live",
            "LIVE_PREFIX": "static/",
            "STAGING_PREFIX": "ci/",
            "UPLOAD_CONCURRENCY": "8",
            "CACHE_CONTROL_HASHED": "h",
            "CACHE_CONTROL_UNHASHED": "u",
            "CACHE_CONTROL_MANIFEST": "m",
            "MAX_MEMBERS": "10",
        }
    )
    assert (settings.live_prefix, settings.staging_prefix, settings.upload_concurrency) == (
        "static/",
        "ci/",
        8,
    )
    assert (settings.cache_hashed, settings.cache_unhashed, settings.cache_manifest) == ("h", "u", "m")
    assert settings.max_members == 10
    assert settings.live_key("a.css") == "static/a.css"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({}, "LIVE_BUCKET"),
        ({"LIVE_BUCKET": "  "}, "LIVE_BUCKET"),
        ({"LIVE_BUCKET": "b", "STAGING_PREFIX": "staging"}, "STAGING_PREFIX"),
        ({"LIVE_BUCKET": "b", "LIVE_PREFIX": "/static/"}, "LIVE_PREFIX"),
        ({"LIVE_BUCKET": "b", "HISTORY_PREFIX": ""}, "HISTORY_PREFIX"),
        ({"LIVE_BUCKET": "b", "UPLOAD_CONCURRENCY": "many"}, "UPLOAD_CONCURRENCY"),
        ({"LIVE_BUCKET": "b", "UPLOAD_CONCURRENCY": "0"}, "UPLOAD_CONCURRENCY"),
        ({"LIVE_BUCKET": "b", "MAX_MEMBER_BYTES": str(6 * 1024**3)}, "MAX_MEMBER_BYTES"),
    ],
)
def test_a_wrong_setting_is_an_error_naming_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(environ)
