"""`build_tool`: collect, pack and stage a Django project's static files.

Each subcommand is one entry of COMMANDS: a function adding its flags and a function running it.
`execute` maps every domain error to its exit code and a one-line message, for all of them.

Importing this module imports no boto3, botocore, Django, whitenoise or staticsync (a test holds
it): each command imports what it needs when it runs, and only the chosen command's flags are added
(`Parser`), so a build's start pays for none of the other commands.
"""

# ruff: noqa: E402 - ENTERED is taken before any other import
from __future__ import annotations

import time

# When build_tool's own code began: the interpreter's start is before it, build_tool's imports after
# (`--json`'s timings "interpreter" and "imports"). First, so that nothing of ours is counted before it.
ENTERED = time.monotonic()

import argparse
import gc
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from importlib import import_module
from pathlib import Path
from typing import Any

from . import __version__, options
from .env import Environment
from .errors import Cancelled


class ExitCode(IntEnum):
    """What `build_tool` exits with; scripts may rely on these."""

    OK = 0
    ERROR = 1  # unexpected: a bug, with a traceback
    USAGE = 2  # wrong flags
    CHANGES = 2  # plan: a deploy would change the live bucket (terraform plan -detailed-exitcode)
    SETTINGS = 3  # the Django settings module cannot be loaded
    COLLECT = 4  # collectstatic failed (e.g. a CSS url() to a missing file)
    PACKAGE = 5  # the collected files cannot be packed
    AWS = 6  # no credentials, no such profile, no such bucket, upload failed
    REJECTED = 7  # --wait, deploy: the artifact was rejected (the site is untouched)
    DEPLOY_FAILED = 8  # --wait, deploy: the deploy failed and no retry replaced the failure
    TIMED_OUT = 9  # --wait: no report on this upload within --timeout
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, as a shell reports it
    TERMINATED = 143  # SIGTERM (a CI runner cancelling the job): 128 + 15


# Each domain error's exit code, by the class's module and name, so that naming them imports nothing
# (the AWS and packing errors live beside boto3 and whitenoise): an error is looked up along its
# class's MRO, so UploadError is an AwsError. tests/functional/test_build_start.py checks every name.
EXIT_CODES: dict[str, ExitCode] = {
    "build_tool.errors.UsageError": ExitCode.USAGE,
    "build_tool.build.collect.SettingsError": ExitCode.SETTINGS,
    "build_tool.build.collect.CollectError": ExitCode.COLLECT,
    "build_tool.build.pack.PackageError": ExitCode.PACKAGE,
    "build_tool.aws.errors.AwsError": ExitCode.AWS,
    "build_tool.aws.reports.WaitTimeout": ExitCode.TIMED_OUT,
}
# --wait and deploy: the exit code of each outcome in the report (deployed, unchanged: OK).
OUTCOME_CODES = {"rejected": ExitCode.REJECTED, "failed": ExitCode.DEPLOY_FAILED}
# plan: 0 and 2 as `terraform plan -detailed-exitcode`; refused: what --wait would exit with.
PLAN_CODES = {"no_change": ExitCode.OK, "changes": ExitCode.CHANGES, "refused": ExitCode.REJECTED}

EPILOG = """\
exit codes:
  0    done             1  a bug (with a traceback: please report it)
  2    wrong flags; rollback: the target is live or not retained
  3    settings cannot be loaded    4  collectstatic failed
  5    cannot pack      6  AWS: credentials, profile, region, bucket or upload
  7    --wait, deploy: rejected    8  --wait, deploy: failed    9  --wait: no report in time
  deploy: 2  also: the store does not honour conditional writes (--accept-unconditional-writes)
  plan: 0  no change    2  changes (as terraform plan -detailed-exitcode)    7  refused
  130  cancelled by SIGINT (Ctrl-C)    143  cancelled by SIGTERM

environment:
  DJANGO_SETTINGS_MODULE  default for --settings
  SOURCE_DATE_EPOCH       build time (seconds since 1970) instead of the commit's time
  AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_DEFAULT_REGION,
  AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE
                          read by boto3 as usual (credentials, region, endpoint)
  TMPDIR                  where the collect and the zip are made (removed afterwards)
"""


AddArguments = Callable[[argparse.ArgumentParser, Environment], None]


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: AddArguments
    run: Callable[[argparse.Namespace, Environment], int]


def add_package_arguments(parser: argparse.ArgumentParser, env: Environment, *, django: bool = False) -> None:
    """`package`'s flags; `django=True` leaves out what manage.py already has (--settings)."""
    options.project(parser, env, settings=not django)
    options.bucket(parser, help="artifacts bucket to stage the zip in")
    options.staging_prefix(parser)
    options.release(parser)
    parser.add_argument("--output", type=Path, help="write the zip here and upload nothing")
    options.storage(parser)
    parser.add_argument(
        "--pin-file",
        type=Path,
        help="also write the release's record and manifest here, for the site to ship "
        "(static_deploy.storage.PinnedManifestStaticFilesStorage)",
    )
    options.live(
        parser,
        help="the bucket the site is served from: read its live release (2 GETs) and build a delta of "
        "it, compressing and packing only what changed (docs/artifact.md, Delta artifacts)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="a self-contained artifact even with --live-bucket (for rollbacks: release tags, nightly)",
    )
    # Gone: a rollback is a request now (build_tool rollback); kept only to say so (pipeline.check).
    parser.add_argument("--rollback", action="store_true", help=argparse.SUPPRESS)
    options.wait(parser, "the deploy's report, after staging,")
    options.profile(parser)
    options.output(parser, quiet="print nothing but errors (no progress bar)")


def add_direct_arguments(parser: argparse.ArgumentParser) -> None:
    """`manage.py deploystatic --direct`: with package's flags, these run `deploy` instead."""
    parser.add_argument(
        "--direct",
        action="store_true",
        help="deploy straight into --live-bucket from here, as `build_tool deploy` does: no Lambda, "
        "no staging (--bucket, --prefix and --pin-file are then not used)",
    )
    options.endpoint(parser)
    options.unconditional(parser)


def run_package(args: argparse.Namespace, env: Environment) -> int:
    from .commands import package as pipeline

    result = pipeline.package(args, env)
    if args.json:
        env.out(json.dumps(result.as_json(), sort_keys=True))
    elif not args.quiet:
        env.out(result.uri)
        env.err(result.summary())
        if result.report is not None:
            from .aws.reports import describe

            env.out(describe(result.report))
    return outcome_code(result.report)


def outcome_code(report: dict[str, Any] | None) -> ExitCode:
    """--wait: the exit code of the function's report (none waited for: OK)."""
    return OUTCOME_CODES.get(str(report.get("outcome")), ExitCode.OK) if report else ExitCode.OK


def run_rollback(args: argparse.Namespace, env: Environment) -> int:
    from .commands import rollback

    return outcome_code(rollback.run(args, env).get("report"))


def run_pin(args: argparse.Namespace, env: Environment) -> int:
    from .commands import pin

    return outcome_code(pin.run(args, env).get("report"))


def run_deploy(args: argparse.Namespace, env: Environment) -> int:
    from .commands import deploy

    return outcome_code(deploy.run(args, env).as_log())


def run_plan(args: argparse.Namespace, env: Environment) -> int:
    from .commands import plan

    return PLAN_CODES[plan.run(args, env)]


def of(command: str, name: str) -> Callable[..., Any]:
    """`build_tool.commands.<command>.<name>`, imported when it is first called."""

    def call(*args: Any) -> Any:
        return getattr(import_module(f"{__package__}.commands.{command}"), name)(*args)

    return call


COMMANDS: dict[str, Command] = {
    "package": Command("collect, pack and stage the static files", add_package_arguments, run_package),
    "deploy": Command(
        "collect, pack and deploy straight into the live bucket from here: no Lambda, no staging",
        of("deploy", "add_arguments"),
        run_deploy,
    ),
    "plan": Command(
        "collect, pack and diff against the live release, staging nothing",
        of("plan", "add_arguments"),
        run_plan,
    ),
    "status": Command(
        "show the live release, the release order and the rollback targets",
        of("status", "add_arguments"),
        of("status", "run"),
    ),
    "rollback": Command(
        "return to a retained release (default: the one before the live one)",
        of("rollback", "add_arguments"),
        run_rollback,
    ),
    "prune": Command(
        "delete live files no retained release needs (--dry-run: show them)",
        of("prune", "add_arguments"),
        of("prune", "run_prune"),
    ),
    "pin": Command(
        "keep a release's files while an app renders its names (PinnedManifestStaticFilesStorage)",
        of("pin", "add_arguments"),
        run_pin,
    ),
}


class Parser(argparse.ArgumentParser):
    """argparse, printing --help and usage errors to the Environment's streams.

    A subcommand's parser made with `adds` gets its flags only when it is chosen (argparse hands it
    the rest of the command line then): adding `rollback`'s flags imports its module, and with it
    botocore, which `package` has no use for before Django has started.
    """

    env = Environment()

    def __init__(self, *args: Any, adds: AddArguments | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adds = adds

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self.adds is not None:
            adds, self.adds = self.adds, None
            adds(self, self.env)
        return super().parse_known_args(args, namespace)

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            (self.env.stdout if file is sys.stdout else self.env.stderr).write(message)


def parser(env: Environment | None = None, *, deferred: bool = False) -> argparse.ArgumentParser:
    """The command line's parser; `deferred`: each command's flags added only if it is the one chosen
    (what `main` does; without it every flag is there to look at, as tests and docs do)."""
    env = env or Environment()
    formatter = argparse.RawDescriptionHelpFormatter
    bound = type("BoundParser", (Parser,), {"env": env})
    summary = (__doc__ or "").split("\n")[0]
    top = bound(prog="build_tool", description=summary, epilog=EPILOG, formatter_class=formatter)
    top.add_argument("--version", action="version", version=f"build_tool {__version__}")
    commands = top.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=command.help,
            description=command.help,
            epilog=EPILOG,
            formatter_class=formatter,
            adds=command.add_arguments if deferred else None,
        )
        if not deferred:
            command.add_arguments(sub, env)
    return top


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """The command line. With no `env`, build_tool is the process: `--json`'s timings also say when
    the interpreter started and how long build_tool's imports took, and the exit is made cheap."""
    own = env is None
    env = env or Environment(entered=ENTERED)
    try:
        args = parser(env, deferred=True).parse_args(argv)
    except SystemExit as exit:  # --help, --version, or argparse's own usage error (2)
        return int(exit.code or 0)
    code = execute(COMMANDS[args.command].run, args, env)
    if own:
        about_to_exit()
    return code


def about_to_exit() -> None:
    """Freeze what the run left on the heap: the interpreter's teardown then skips it in its garbage
    collections, which after a build (Django, boto3, a collect's objects) took 0.2 to 1 s of CPU,
    more than the upload. Everything else of an exit still happens: atexit handlers (logging's flush,
    multiprocessing's), modules torn down, buffered files flushed; the memory goes back with the
    process."""
    gc.freeze()


def execute(run: Callable[[argparse.Namespace, Environment], int], args: Any, env: Environment) -> int:
    """Run a command: a domain error is one line and its exit code, a signal a clean stop; anything
    else is a bug and propagates with its traceback (exit 1)."""
    try:
        with cancellable():
            return run(args, env)
    except Cancelled as cancelled:
        code = ExitCode.INTERRUPTED if cancelled.signum == signal.SIGINT else ExitCode.TERMINATED
        env.err(f"build_tool: cancelled by {cancelled}; workers stopped, temporary files removed")
        return code
    except Exception as error:
        known = exit_code(error)
        if known is None:
            raise
        return fail(env, known, str(error))


def exit_code(error: Exception) -> ExitCode | None:
    """The exit code of a domain error (EXIT_CODES, along its class's MRO), None for a bug."""
    names = (f"{kind.__module__}.{kind.__qualname__}" for kind in type(error).__mro__)
    return next((EXIT_CODES[name] for name in names if name in EXIT_CODES), None)


@contextmanager
def cancellable() -> Iterator[None]:
    """SIGINT and SIGTERM raise Cancelled (once: a second signal during the cleanup is ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def cancel(signum: int, frame: object) -> None:
        for name in (signal.SIGINT, signal.SIGTERM):
            signal.signal(name, signal.SIG_IGN)
        raise Cancelled(signum)

    previous = {name: signal.signal(name, cancel) for name in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)


def fail(env: Environment, code: ExitCode, message: str) -> int:
    env.err(f"build_tool: error: {message}")
    return code
