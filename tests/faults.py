"""Fault injection for a boto3 S3 client: fail chosen HTTP requests the ways S3 and networks do.

Hooked on botocore's `before-send` event, so it sits under botocore's retry loop: a client with
retries enabled retries an injected fault exactly as it would a real one.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
RAISES: dict[str, Callable[[str], Exception]] = {
    "reset": lambda url: ConnectionClosedError(endpoint_url=url),
    "refused": lambda url: EndpointConnectionError(endpoint_url=url),
    "timeout": lambda url: ReadTimeoutError(endpoint_url=url),
}
KINDS = (*ERRORS, *RAISES)


class _Body(io.BytesIO):
    """The raw body botocore reads an error response from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def fault_response(kind: str, request: AWSPreparedRequest) -> AWSResponse:
    """An S3 error answer (status and XML body) or raise a network error, as `kind` says."""
    if kind in RAISES:
        raise RAISES[kind](request.url)
    status, code, message = ERRORS[kind]
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    headers = HTTPHeaders()
    headers["Content-Type"], headers["Content-Length"] = "application/xml", str(len(body))
    return AWSResponse(request.url, status, headers, _Body(body.encode()))


@dataclass
class Faults:
    """Count a client's HTTP requests (from 1, retries included) and fail the chosen ones.

    `at`: only these requests fail (transient faults). `crash_at`: that request and every later
    one fail, as if the process died there. `after_sending`: the failing request reaches S3 first,
    so its effect lands and only the answer is lost.
    """

    kind: str = "reset"
    at: frozenset[int] = frozenset()
    crash_at: int | None = None
    after_sending: bool = False
    sent: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _session: URLLib3Session = field(default_factory=URLLib3Session, repr=False)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send.s3", self._before_send)
        return client

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.sent += 1
            number = self.sent
            fail = number in self.at or (self.crash_at is not None and number >= self.crash_at)
            if fail:
                self.failed.append((number, f"{request.method} {request.url}"))
        if not fail:
            return None
        if self.after_sending and (self.crash_at is None or number == self.crash_at):
            self._session.send(request)  # the write lands; the caller never hears back
        return fault_response(self.kind, request)
