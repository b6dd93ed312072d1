"""The direct mode's decisions, without I/O: the flags, the function's settings from flags and
variables, and what a probe's answers mean."""

from __future__ import annotations

import argparse

import pytest

from build_tool import cli
from build_tool.aws.direct import Probe, UnconditionalStore, judge
from build_tool.commands.deploy import settings_of
from build_tool.env import Environment
from build_tool.errors import UsageError
from staticsync.config import DEFAULT_CACHE_HASHED, Settings

SETTINGS = Settings("live", "static/")


def parsed(*args: str) -> argparse.Namespace:
    return cli.parser(Environment(environ={})).parse_args(["deploy", "--settings", "s", *args])


def test_the_deploy_flags_default_to_aws_with_conditional_writes_required() -> None:
    args = parsed("--live-bucket", "live")
    assert (args.endpoint_url, args.accept_unconditional_writes, args.rollback_to) == (None, False, None)
    assert (args.live_prefix, args.history_prefix) == ("", ".releases/")
    rollback = parsed("--live-bucket", "live", "--rollback", "r1", "--endpoint-url", "http://127.0.0.1:9")
    assert (rollback.rollback_to, rollback.endpoint_url) == ("r1", "http://127.0.0.1:9")


def test_the_settings_are_the_functions_from_the_flags_and_its_own_variables() -> None:
    args = parsed("--live-bucket", "live", "--live-prefix", "static/", "--history-prefix", ".h/")
    environ = {"CACHE_CONTROL_UNHASHED": "public, max-age=60", "UPLOAD_CONCURRENCY": "8", "LIVE_BUCKET": "x"}
    settings = settings_of(args, Environment(environ=environ))
    assert (settings.live_bucket, settings.live_prefix, settings.history_prefix) == ("live", "static/", ".h/")
    assert (settings.cache_unhashed, settings.cache_hashed) == ("public, max-age=60", DEFAULT_CACHE_HASHED)
    assert settings.upload_concurrency == 8
    with pytest.raises(UsageError, match="UPLOAD_CONCURRENCY=0"):
        settings_of(args, Environment(environ={"UPLOAD_CONCURRENCY": "0"}))


@pytest.mark.parametrize(
    ("answers", "unhonoured"),
    [
        ({"IfNoneMatch": "honoured", "IfMatch": "honoured"}, ()),
        ({"IfNoneMatch": "honoured", "IfMatch": "ignored"}, ("IfMatch",)),
        ({"IfNoneMatch": "not supported", "IfMatch": "ignored"}, ("IfNoneMatch", "IfMatch")),
    ],
)
def test_a_store_that_does_not_honour_a_condition_is_refused_unless_accepted(
    answers: dict[str, str], unhonoured: tuple[str, ...]
) -> None:
    probe = Probe(answers, "static/.releases/probes/x")
    assert probe.unhonoured == unhonoured
    if not unhonoured:
        assert judge(probe, SETTINGS, accept=False) is None
        return
    with pytest.raises(UnconditionalStore, match=r"s3://live/static/: .*--accept-unconditional-writes"):
        judge(probe, SETTINGS, accept=False)
    warning = judge(probe, SETTINGS, accept=True)
    assert warning is not None and warning.startswith("warning: ") and "may overwrite each other" in warning
