"""`make demo`: the whole pipeline on the example project, against a local S3 it starts and stops.

1. starts SeaweedFS on loopback with buckets `artifacts` and `live`, its upload webhook standing in
   for S3's ObjectCreated notification;
2. runs `build_tool package --bucket artifacts` on a copy of the example project;
3. runs the Lambda handler on the event SeaweedFS sent for that upload, and prints the sync report;
4. edits one CSS file, packages and deploys again, and shows that only what changed was uploaded;
5. shows `build_tool status`, runs `build_tool rollback --wait` while the handler runs on the
   request's event in a thread, and shows `status` again: the first release is live once more.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO
from unittest import mock

from botocore.exceptions import ClientError

from devtools.lambda_context import FakeContext
from devtools.seaweed import S3Server, WebhookConfig, running_seaweed

ROOT = Path(__file__).resolve().parent.parent
EDITED = Path("shop/static/shop/css/base.css")
# The function's own output (Powertools' JSON log lines and EMF metrics, about 40 KB) goes here, so
# the terminal shows the demo's lines; the log is what CloudWatch would hold.
FUNCTION_LOG = ROOT / ".demo" / "function.log"


@functools.cache
def function_log() -> TextIO:
    """FUNCTION_LOG, open for the whole demo: Powertools' logger keeps the stream it saw at import."""
    FUNCTION_LOG.parent.mkdir(exist_ok=True)
    return FUNCTION_LOG.open("w", buffering=1)


def function_output() -> contextlib.AbstractContextManager[Any]:
    """stdout into FUNCTION_LOG while the function runs."""
    return contextlib.redirect_stdout(function_log())


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="static-deploy-demo-") as tmp:
        work = Path(tmp)
        project = work / "example"
        shutil.copytree(
            ROOT / "example", project, ignore=shutil.ignore_patterns("staticfiles", "__pycache__")
        )
        say("starting SeaweedFS on loopback (buckets: artifacts, live)")
        webhook = WebhookConfig(bucket="artifacts", prefix="staging/")
        with running_seaweed(work / "seaweed", ["artifacts", "live"], webhook=webhook) as server:
            say(f"S3 endpoint {server.endpoint_url}")
            with mock.patch.dict(os.environ, {**server.env(), "LIVE_BUCKET": "live"}, clear=True):
                app = load_handler()
                first = release(server, app, project, "demo-1")
                (project / EDITED).write_text((project / EDITED).read_text() + "\n.demo { color: teal; }\n")
                say(f"edited {EDITED}")
                second = release(server, app, project, "demo-2")
                show_live(server, second)
                back = roll_back(server, app)
            live = server.client().head_object(Bucket="live", Key="staticfiles.json")["Metadata"]
        say("stopped SeaweedFS")
    if first["files_uploaded"] != first["files_total"] or second["files_uploaded"] >= first["files_total"]:
        say("unexpected: the second deploy did not upload only what changed")
        return 1
    if back.get("outcome") != "deployed" or (live.get("release"), live.get("kind")) != ("demo-1", "rollback"):
        say(f"unexpected: the rollback did not make demo-1 live again (report: {back}, live: {live})")
        return 1
    say(
        f"done: first deploy uploaded {first['files_uploaded']} files; after editing one file the "
        f"second uploaded {second['files_uploaded']} ({second['s3_requests']} S3 requests); the rollback "
        f"made demo-1 live again uploading {back['files_uploaded']} ({back['s3_requests']} S3 requests)"
    )
    say(f"the function's log (JSON lines, as CloudWatch would hold them): {FUNCTION_LOG.relative_to(ROOT)}")
    return 0


def load_handler() -> ModuleType:
    """The Lambda's handler module, imported as the runtime would, after the environment is set."""
    sys.path.insert(0, str(ROOT / "lambda_fn"))
    os.environ["POWERTOOLS_SERVICE_NAME"] = "static-deploy-demo"
    os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "StaticDeployDemo"
    with function_output():
        return importlib.import_module("app")


def release(server: S3Server, app: ModuleType, project: Path, name: str) -> dict[str, Any]:
    say(f"build_tool package --bucket artifacts --release {name}")
    command = [sys.executable, "-m", "build_tool", "package", "--settings", "exampleproject.settings"]
    command += ["--project-dir", str(project), "--bucket", "artifacts", "--release", name]
    subprocess.run(command, check=True, cwd=ROOT, env=dict(os.environ))
    event = server.events.wait_event(timeout=15)
    record = event["Records"][0]["s3"]
    where = f"s3://{record['bucket']['name']}/{record['object']['key']}"
    say(f"S3 event: ObjectCreated {where}; running the handler")
    uploaded: list[str] = []
    app.s3.meta.events.register(
        "provide-client-params.s3.PutObject", lambda params, **_: uploaded.append(params["Key"])
    )
    from staticsync.report import SyncReport

    with function_output():
        [report] = app.lambda_handler(event, FakeContext(function_name="static-deploy-demo"))["deploys"]
    app.s3.meta.events.unregister("provide-client-params.s3.PutObject")
    say("sync report: " + str(SyncReport(**report)))
    if len(uploaded) <= 20:
        for key in uploaded:
            print(f"    put {key}", file=sys.stderr)
    return dict(report)


def roll_back(server: S3Server, app: ModuleType) -> dict[str, Any]:
    """status, rollback --wait (the handler runs on the request's event meanwhile), status again."""
    where = ["--live-bucket", "live", "--artifacts-bucket", "artifacts"]
    build_tool("status", *where)
    reports: list[dict[str, Any]] = []
    function = threading.Thread(target=lambda: reports.append(handle_next_event(server, app)), daemon=True)
    function.start()
    code = build_tool(
        "rollback", "--bucket", "artifacts", "--live-bucket", "live", "--wait", "--timeout", "60"
    )
    function.join(timeout=60)
    build_tool("status", *where)
    if code != 0 or not reports:
        return {"outcome": f"rollback exited {code}"}
    return reports[0]


def build_tool(*args: str) -> int:
    """Run `build_tool ARGS` as an operator would; its exit code."""
    say("build_tool " + " ".join(args))
    command = [sys.executable, "-m", "build_tool", *args]
    return subprocess.run(command, cwd=ROOT, env=dict(os.environ)).returncode


def handle_next_event(server: S3Server, app: ModuleType) -> dict[str, Any]:
    """Run the handler on the next staging event (the rollback request's), as S3 would trigger it."""
    event = server.events.wait_event(timeout=30)
    record = event["Records"][0]["s3"]
    where = f"s3://{record['bucket']['name']}/{record['object']['key']}"
    say(f"S3 event: ObjectCreated {where}; running the handler")
    with function_output():
        [report] = app.lambda_handler(event, FakeContext(function_name="static-deploy-demo"))["deploys"]
    return dict(report)


def show_live(server: S3Server, report: dict[str, Any]) -> None:
    client = server.client()
    manifest = client.get_object(Bucket="live", Key="staticfiles.json")
    paths = json.loads(manifest["Body"].read())["paths"]
    say(f"live release: {manifest['Metadata'].get('release')} ({len(paths)} names in staticfiles.json)")
    admin = paths.get("admin/css/base.css")  # large enough for siblings; the shop's own is not
    for key in (paths["shop/css/base.css"], *([admin, admin + ".br"] if admin else []), "robots.txt"):
        try:
            head = client.head_object(Bucket="live", Key=key)
        except ClientError:  # a sibling is built only where it saves bytes (docs/cdn.md)
            say(f"  {key}: none (a file under 1,000 bytes, or one brotli shrinks by less than 5%)")
            continue
        encoding = head.get("ContentEncoding", "-")
        say(f"  {key}: {head['ContentType']} | {head['CacheControl']} | encoding {encoding}")


def say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
