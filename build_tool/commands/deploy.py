"""`build_tool deploy` (and `manage.py deploystatic --direct`): build, then deploy from CI itself.

The direct mode (docs/direct.md): the zip is built as `package` builds it (a delta of the live
release), then the sync function's own engine (`staticsync.deploy.run.deploy_source`) deploys it
from the local file into the live bucket with CI's credentials: the same plan, history, journal claim,
conditional cutover and report, `package --wait`'s exit codes; no Lambda, no staging bucket. Costs
beyond the deploy's own requests, made beside Django's start: the conditional-writes probe (4) and
the live release read for the delta (2 GETs, and one for the journal place after it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from staticsync.bucket import LiveBucket, Run
from staticsync.config import Settings
from staticsync.errors import ConfigError, LiveChanged, SyncError
from staticsync.meter import RequestMeter
from staticsync.model.order import RollbackRequest
from staticsync.model.plan import LiveState
from staticsync.report import SyncReport

from .. import options
from ..aws.reports import describe
from ..build.collect import DEFAULT_STORAGE
from ..env import Environment
from ..errors import UsageError
from . import package as pipeline
from . import plan as plan_cmd
from .rollback import RollbackRefused

if TYPE_CHECKING:
    from staticsync.artifact.local import LocalRange

    from ..aws.direct import Probe
    from ..build.delta import Base
    from ..build.pack import Packed

T = TypeVar("T")
CACHE_HELP = "the build cache, as for package"
# The function's variables a direct deploy reads from CI's environment, as the function reads them;
# the live bucket and the prefixes come from the flags.
FUNCTION_VARIABLES = (
    "UPLOAD_CONCURRENCY",
    "CACHE_CONTROL_HASHED",
    "CACHE_CONTROL_UNHASHED",
    "CACHE_CONTROL_MANIFEST",
    "MAX_MEMBERS",
    "MAX_TOTAL_BYTES",
    "MAX_MEMBER_BYTES",
    "MAX_COMPRESSION_RATIO",
    "LIVE_ETAG_MD5",
)
# A cutover another deploy beat is planned again, as Lambda retries a failed invocation twice.
ATTEMPTS = 3
# What fails a deploy without being a bug: reported (outcome "failed", exit 8), not a traceback.
FAILURES = (SyncError, BotoCoreError, ClientError, S3UploadFailedError, OSError)


def add_arguments(parser: argparse.ArgumentParser, env: Environment) -> None:
    options.project(parser, env)
    options.live(
        parser,
        help="the bucket the site's static files are served from: built against and deployed to",
        owner="the function's",
    )
    options.endpoint(parser)
    options.unconditional(parser)
    options.release(parser)
    options.storage(parser, help=f"(default: {DEFAULT_STORAGE})", cache_help=CACHE_HELP)
    parser.add_argument(
        "--rollback",
        dest="rollback_to",
        metavar="RELEASE",
        help="return to RELEASE, which was live before: build its commit (check it out first) and "
        "deploy it as a rollback; refused if the build is not the one recorded",
    )
    options.requested_by(parser, env)
    options.profile(parser)
    options.output(parser, quiet="print nothing but errors: the exit code says it")


def check(args: argparse.Namespace) -> None:
    """The mistakes the flags alone show, before anything slow runs."""
    if getattr(args, "rollback", False) is True:  # deploystatic's (package's) retired flag
        raise UsageError(
            "manage.py deploystatic --direct does not roll back: run `build_tool deploy --rollback "
            "RELEASE` at that release's commit"
        )
    if getattr(args, "output", None):  # deploystatic's: a direct deploy writes no zip anywhere
        raise UsageError("--direct deploys from here: --output (write the zip, deploy nothing) is package's")
    pin = getattr(args, "pin_file", None)
    if pin is not None and (pin.is_dir() or not pin.parent.is_dir()):
        raise UsageError(f"--pin-file {pin}: name a file in a folder that exists")
    plan_cmd.check(args)  # settings, --live-bucket, the prefixes, --cache-dir, --project-dir
    target = getattr(args, "rollback_to", None)
    if target and args.release and args.release != target:
        raise UsageError(f"--release {args.release} and --rollback {target} name different releases")


def settings_of(args: argparse.Namespace, env: Environment) -> Settings:
    """The function's Settings: the live bucket and prefixes from the flags, the rest from the same
    variables the function reads (Cache-Control, upload concurrency, limits)."""
    variables = {name: env.environ[name] for name in FUNCTION_VARIABLES if name in env.environ}
    variables |= {"LIVE_BUCKET": args.live_bucket or "", "LIVE_PREFIX": args.live_prefix}
    try:
        return Settings.from_env({**variables, "HISTORY_PREFIX": args.history_prefix})
    except ConfigError as error:
        raise UsageError(f"{error} (a direct deploy reads the function's variables)") from None


@dataclass(frozen=True)
class Prepared:
    """What the deploy found before the build: the probe, its warning, the live state, and the
    rollback request to run (None: a deploy); `requests` counts the S3 requests that took."""

    probe: Probe
    warning: str | None
    live: LiveState
    request: RollbackRequest | None
    requests: int
    meter: RequestMeter


def prepare(client: Any, settings: Settings, args: argparse.Namespace, meter: RequestMeter) -> Prepared:
    """Probe the conditional writes (refusing an unconditional store unless accepted) and read the
    live state: beside Django's start."""
    from ..aws import direct
    from ..aws.live import read_live_state

    found = direct.probe(client, settings)
    warning = direct.judge(found, settings, args.accept_unconditional_writes)
    if warning:
        direct.strip_conditions(client, found.unhonoured)
    live = read_live_state(client, settings)
    request = rollback_request(args, settings, live)
    return Prepared(found, warning, live, request, meter.total, meter)


def rollback_request(args: argparse.Namespace, settings: Settings, live: LiveState) -> RollbackRequest | None:
    """--rollback: a one-time request to return to the release, replacing the live one (run here)."""
    target = getattr(args, "rollback_to", None)
    if not target:
        return None
    if live.release is None:
        raise RollbackRefused(f"nothing is live at s3://{settings.live_bucket}/{settings.live_prefix}")
    if live.release == target:
        raise RollbackRefused(f"release {target} is the live release: nothing to roll back to")
    return RollbackRequest(uuid.uuid4().hex, target, live.release, None, getattr(args, "requested_by", ""))


def run(args: argparse.Namespace, env: Environment) -> SyncReport:
    """Check, build (the S3 side beside Django's start), deploy; print the report; return it."""
    from ..aws import direct
    from ..build import release, scratch

    check(args)
    settings = settings_of(args, env)
    ignore = (args.cache_dir,) if args.cache_dir else ()
    named = getattr(args, "rollback_to", None) or args.release
    info = release.detect(args.project_dir, named, environ=env.environ, ignore=ignore)
    meter = RequestMeter()
    client = meter.attach(direct.make_client(args, settings.upload_concurrency))
    ready = beside(lambda: prepare(client, settings, args, meter))
    work = scratch.make_work("build_tool-deploy-", env.environ)
    try:
        packed, _ = pipeline.build(
            args, env, work, info, lambda: base_of(args, env, ready.result(), info.release)
        )
        if getattr(args, "pin_file", None):  # deploystatic's --pin-file, written as package writes it
            pipeline.write_pin(packed.path, args.pin_file)
        report = deploy_packed(LiveBucket(client, settings), packed, ready.result(), args, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    show(args, env, report, ready.result().requests)
    return report


def base_of(args: argparse.Namespace, env: Environment, prepared: Prepared, release: str) -> Base | None:
    """The delta's base (the live release), once the probe has passed; the probe's warning first."""
    from ..aws.direct import WRITE_HINT
    from ..build import delta

    if prepared.warning and not args.quiet:
        env.err(prepared.warning)
    if prepared.probe.left_behind:
        pipeline.chatter(args, env, f"the probe {prepared.probe.key} could not be deleted: {WRITE_HINT}")
    found = None if getattr(args, "full", False) else delta.base_of(prepared.live, args.storage, release)
    said = f"building a delta of the live {found.release}" if found else "building in full"
    pipeline.chatter(args, env, said)
    return found


def deploy_packed(
    bucket: LiveBucket, packed: Packed, prepared: Prepared, args: argparse.Namespace, env: Environment
) -> SyncReport:
    """Deploy the zip from its local file; a cutover another deploy beat is planned again."""
    from staticsync.artifact.local import LocalRange

    from ..aws.staging import upload_arguments

    with LocalRange(packed.path, upload_arguments(packed)["Metadata"]) as source:
        pipeline.chatter(args, env, f"deploying release {packed.record.release} to {live_uri(bucket)}")
        for attempt in range(1, ATTEMPTS + 1):
            report, error = attempt_deploy(bucket, source, prepared)
            if not isinstance(error, LiveChanged) or attempt == ATTEMPTS:
                return report
            pipeline.chatter(args, env, f"{error}; planning again ({attempt + 1} of {ATTEMPTS})")
    raise AssertionError("unreachable")


def attempt_deploy(
    bucket: LiveBucket, source: LocalRange, prepared: Prepared
) -> tuple[SyncReport, Exception | None]:
    """One deploy of `source`: its report, and the error that failed it (None: it did not fail).

    The client's meter counted the probe and the live read; the deploy starts it again at zero."""
    from staticsync.deploy.run import deploy_source

    run = Run(SyncReport(artifact=source.uri), prepared.meter)
    if prepared.warning:
        run.report.warn(prepared.warning)
    try:
        return deploy_source(bucket, source, run, prepared.request), None
    except FAILURES as error:
        return run.report, error


def live_uri(bucket: LiveBucket) -> str:
    return f"s3://{bucket.settings.live_bucket}/{bucket.settings.live_prefix}"


def show(args: argparse.Namespace, env: Environment, report: SyncReport, before: int) -> None:
    """The report as `package --wait` prints the function's; --json: the report's own record."""
    if args.json:
        env.out(json.dumps(report.as_log(), sort_keys=True))
        return
    if args.quiet:
        return
    env.out(describe(report.as_log()))
    env.err(f"S3 requests: {before} before the build (probe, live release), {report.s3_requests} to deploy")


def beside(work: Callable[[], T]) -> Future[T]:
    """`work()` in a daemon thread from now (a cancelled build never waits for it), as a future."""
    future: Future[T] = Future()

    def target() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(work())
        except BaseException as error:  # raised in the caller's thread by result()
            future.set_exception(error)

    threading.Thread(target=target, name="prepare", daemon=True).start()
    return future
