"""The S3 side of a build, started beside Django's: the client, the bucket check, the live release.

Those are a few round trips (HeadBucket, then the live staticfiles.json and its release's record for a
delta) that need nothing from Django, so a daemon thread makes them while Django starts; the build
waits for them (and raises what they raised) once the settings are loaded, before the collect.
"""

from __future__ import annotations

import argparse
import threading
from dataclasses import dataclass
from typing import Any

from ..build.delta import Base


@dataclass(frozen=True)
class Connected:
    """What the build needs from S3: a client (None with --output alone) and a delta's base."""

    client: Any | None
    base: Base | None


def connect(args: argparse.Namespace, release: str) -> Connected:
    """The client and its bucket check (with --bucket), then the live release to build a delta of
    (with --live-bucket): UploadError, LiveStateError and the like as the build would raise them."""
    from ..build import delta
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

    def __init__(self, args: argparse.Namespace, release: str) -> None:
        self._done = threading.Event()
        self._result: Connected | None = None
        self._error: BaseException | None = None
        thread = threading.Thread(target=self._run, args=(args, release), name="connect", daemon=True)
        thread.start()

    def _run(self, args: argparse.Namespace, release: str) -> None:
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
