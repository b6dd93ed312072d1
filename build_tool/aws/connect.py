"""The S3 side of a build, started beside Django's: the client, the bucket check, the live release.

Those are a few round trips (HeadBucket, then the live staticfiles.json and its release's record for a
delta) that need nothing from Django, so a daemon thread makes them while Django starts; the build
waits for them (and raises what they raised) once the settings are loaded, before the collect. The
thread is also where boto3 is first imported (nothing in the build's own thread imports it before
the upload). Its CPU (boto3's import and the client: about 0.25 s) still shares the GIL with Django's
start; what the thread hides is waiting: the git commands naming the release, and the round trips.
"""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..build.delta import Base


@dataclass(frozen=True)
class Connected:
    """What the build needs from S3: a client (None with --output alone) and a delta's base."""

    client: Any | None
    base: Base | None


def connect(args: argparse.Namespace, release: str | None = None) -> Connected:
    """The client and its bucket check (with --bucket), then the live release to build a delta of
    (with --live-bucket): UploadError, LiveStateError and the like as the build would raise them.
    Without `release` (not known yet), the caller drops a base that is the release it builds."""
    from ..build import delta

    if args.output and not delta.wanted(args):
        return Connected(None, None)  # no S3 at all: boto3 is not even imported
    from . import staging as upload
    from .live import read_base

    client = None
    if not args.output:
        client = upload.make_client(args.profile)
        upload.check_bucket(client, args.bucket)
    base = None
    if delta.wanted(args):
        base = read_base(client or upload.make_client(args.profile), args, release)
    return Connected(client, base)


class Connecting:
    """`connect` in a daemon thread (a cancelled build never waits for it); `result()` joins it."""

    def __init__(self, args: argparse.Namespace, release: str | None = None) -> None:
        self._done = threading.Event()
        self._result: Connected | None = None
        self._error: BaseException | None = None
        thread = threading.Thread(target=self._run, args=(args, release), name="connect", daemon=True)
        thread.start()

    def _run(self, args: argparse.Namespace, release: str | None) -> None:
        try:
            self._result = connect(args, release)
        except BaseException as error:  # raised in the build's thread by result()
            self._error = error
        finally:
            self._done.set()

    def result(self) -> Connected:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result
