"""A loopback HTTP proxy in front of a local S3 that adds latency per request and counts requests.

Clients talk to the proxy's endpoint and sign for it; the proxy forwards every request byte for byte,
Host header included, so the server checks the very signature the client computed (SigV4 signs the
Host header, and SeaweedFS verifies it against the Host it receives). Counts are by S3 operation,
inferred from the method, the query and the path, plus body bytes in each direction.

    with running_proxy("http://127.0.0.1:8333", latency=0.020) as proxy:
        client = boto3.client("s3", endpoint_url=proxy.endpoint_url, ...)
        ...
        proxy.stats()  # {"requests": 3, "by_operation": {"GetObject": 3}, "bytes_up": 0, ...}

`python -m devtools.s3proxy --upstream URL --latency-ms 20` runs one in the foreground; its stats are
at GET /__s3proxy__/stats and reset by POST /__s3proxy__/reset (no bucket name has underscores).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CONTROL = "/__s3proxy__/"
CHUNK = 256 * 1024
# Hop-by-hop headers are the proxy's own business with each side (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
    | {"expect"}  # the proxy answers 100-continue itself and sends the body in one go
)


def operation(method: str, target: str, headers: Iterable[str]) -> str:
    """The S3 operation of a path-style request, e.g. ("GET", "/b/k?tagging") -> GetObjectTagging."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    segments = parts.path.lstrip("/").split("/", 1)
    bucket = segments[0]
    key = segments[1] if len(segments) > 1 else ""
    if not bucket:
        return "ListBuckets" if method == "GET" else f"{method}Service"
    copy = "x-amz-copy-source" in {name.lower() for name in headers}  # header names
    if key:
        return _object_operation(method, query, copy)
    return _bucket_operation(method, query)


def _object_operation(method: str, query: Mapping[str, Any], copy: bool) -> str:
    if "tagging" in query:
        return {"GET": "GetObjectTagging", "PUT": "PutObjectTagging"}.get(method, "DeleteObjectTagging")
    if method == "PUT" and "partNumber" in query:
        return "UploadPartCopy" if copy else "UploadPart"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in query:
        return "AbortMultipartUpload"
    if method == "GET" and "uploadId" in query:
        return "ListParts"
    simple = {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
    if method == "PUT":
        return "CopyObject" if copy else "PutObject"
    return simple.get(method, f"{method}Object")


def _bucket_operation(method: str, query: Mapping[str, Any]) -> str:
    if method == "GET":
        if "list-type" in query:
            return "ListObjectsV2"
        if "uploads" in query:
            return "ListMultipartUploads"
        if "versions" in query:
            return "ListObjectVersions"
        if "location" in query:
            return "GetBucketLocation"
        return "ListObjects"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    simple = {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}
    return simple.get(method, f"{method}Bucket")


class Stats:
    """Requests by operation and body bytes each way; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.by_operation: Counter[str] = Counter()
            self.bytes_up = 0
            self.bytes_down = 0

    def add(self, name: str, up: int, down: int) -> None:
        with self._lock:
            self.by_operation[name] += 1
            self.bytes_up += up
            self.bytes_down += down

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self.by_operation.values()),
                "by_operation": dict(sorted(self.by_operation.items())),
                "bytes_up": self.bytes_up,
                "bytes_down": self.bytes_down,
            }


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, upstream: str, latency: float, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), ProxyHandler)
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream {upstream!r}: give an http:// URL of the S3 server")
        self.upstream = (parts.hostname, parts.port or 80)
        self.latency = latency
        self.stats = Stats()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ProxyHandler(BaseHTTPRequestHandler):
    server: ProxyServer
    protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect

    def setup(self) -> None:
        super().setup()
        self.upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
        super().finish()

    def do_GET(self) -> None:
        self.forward()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def forward(self) -> None:
        if self.path.startswith(CONTROL):
            self.control()
            return
        body = self.read_body()
        time.sleep(self.server.latency)
        response = self.send_upstream(body)
        down = self.relay(response)
        self.server.stats.add(operation(self.command, self.path, self.headers.keys()), len(body), down)

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send_upstream(self, body: bytes) -> http.client.HTTPResponse:
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        if body or self.command in ("PUT", "POST"):
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        for attempt in range(2):  # a kept-alive upstream connection may have been closed meanwhile
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(*self.server.upstream, timeout=300)
            try:
                self.upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    self.upstream.putheader(name, value)
                self.upstream.endheaders(body or None)
                return self.upstream.getresponse()
            except (ConnectionError, http.client.HTTPException):
                self.upstream.close()
                self.upstream = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def relay(self, response: http.client.HTTPResponse) -> int:
        """Send the upstream response to the client; return the body bytes sent."""
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        chunked = length is None and self.command != "HEAD" and response.status not in (204, 304)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if response.will_close:
            self.close_connection = True
        self.end_headers()
        sent = 0
        if self.command == "HEAD":
            response.read()
        else:
            while chunk := response.read(CHUNK):
                sent += len(chunk)
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        if response.will_close and self.upstream is not None:
            self.upstream.close()
            self.upstream = None
        return sent

    def control(self) -> None:
        if self.path.startswith(CONTROL + "reset"):
            self.server.stats.reset()
        body = json.dumps(self.server.stats.snapshot(), sort_keys=True).encode()
        self.read_body()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running_proxy(upstream: str, latency: float = 0.0, port: int = 0) -> Iterator[ProxyServer]:
    """Serve the proxy on a loopback port until the block exits."""
    server = ProxyServer(upstream, latency, port)
    thread = threading.Thread(target=server.serve_forever, name="s3proxy", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """Run the proxy in the foreground until Ctrl-C; print its endpoint, then its stats at exit."""
    parser = argparse.ArgumentParser(prog="python -m devtools.s3proxy", description=main.__doc__)
    parser.add_argument("--upstream", required=True, help="the S3 server, e.g. http://127.0.0.1:8333")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="added to every request (20)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    args = parser.parse_args(argv)
    try:
        with running_proxy(args.upstream, args.latency_ms / 1000, args.port) as proxy:
            print(proxy.endpoint_url, flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print(json.dumps(proxy.stats.snapshot(), sort_keys=True), file=sys.stderr)
        return 0
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
