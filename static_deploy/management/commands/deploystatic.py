"""`manage.py deploystatic`: `build_tool package` as a management command, defaults from STATIC_DEPLOY."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from build_tool import cli
from build_tool.build.collect import SettingsError
from build_tool.env import Environment
from static_deploy.config import STORAGE_KEYS, static_deploy, unknown_keys

# Django's own options, which `package` does not take.
DJANGO_OPTIONS = {
    "verbosity",
    "settings",
    "pythonpath",
    "traceback",
    "no_color",
    "force_color",
    "skip_checks",
}


class Command(BaseCommand):
    help = (
        "Collect, pack and stage the static files, as `build_tool package` does, with the same options "
        "and exit codes; settings.STATIC_DEPLOY gives their defaults (bucket, prefix, cache_dir, ...). "
        "With --direct, deploy them straight into the live bucket, as `build_tool deploy` does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        before = {action.dest for action in parser._actions}
        cli.add_package_arguments(parser, Environment(), django=True)
        cli.add_direct_arguments(parser)
        self.options = {action.dest for action in parser._actions} - before
        self.site = {action.dest: action.default for action in parser._actions if action.dest in STORAGE_KEYS}
        parser.epilog, parser.formatter_class = cli.EPILOG, argparse.RawDescriptionHelpFormatter
        config = static_deploy()
        # The pinned storage's live_bucket/live_prefix/history_prefix are the site's, not a request for a
        # delta build (which needs CI to read the live bucket): --live-bucket asks for one explicitly.
        defaults = {k: v for k, v in config.items() if k in self.options and k not in STORAGE_KEYS}
        parser.set_defaults(**defaults)

    def handle(self, *args: Any, **options: Any) -> None:
        values = {key: value for key, value in options.items() if key not in DJANGO_OPTIONS}
        if values.get("direct"):
            values |= site_defaults(values, self.site)
        namespace = argparse.Namespace(**values, settings=settings.SETTINGS_MODULE)
        env = Environment(stdout=_raw(self.stdout), stderr=_raw(self.stderr))
        code = cli.execute(self._run, namespace, env)
        if code:
            sys.exit(code)

    def _run(self, args: argparse.Namespace, env: Environment) -> int:
        unknown = unknown_keys(static_deploy(), self.options)
        if unknown:
            raise SettingsError(
                f"settings.STATIC_DEPLOY has unknown keys {unknown}: use the option names of "
                f"`manage.py deploystatic --help` with underscores ({', '.join(sorted(self.options))})"
            )
        return cli.run_deploy(args, env) if args.direct else cli.run_package(args, env)


def site_defaults(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """--direct deploys to the site's own live bucket: STATIC_DEPLOY's live_bucket, live_prefix and
    history_prefix (the pinned storage's) where no flag named another."""
    config = static_deploy()
    return {key: config[key] for key in defaults if key in config and values.get(key) == defaults[key]}


def _raw(wrapper: Any) -> Any:
    """The stream under Django's OutputWrapper, which would add a newline to every progress write."""
    return getattr(wrapper, "_out", wrapper)
