"""Apply a plan's uploads: read spans of the artifact in parallel and put each file with its headers."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from boto3.s3.transfer import TransferConfig

from .archive import Artifact, Span
from .config import Settings
from .headers import HeaderPolicy

T = TypeVar("T")
MULTIPART_BYTES = 64 * 1024 * 1024
MULTIPART = TransferConfig(
    multipart_threshold=MULTIPART_BYTES, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)


def put_file(
    client: Any, settings: Settings, path: str, data: bytes, digest: str, headers: dict[str, str]
) -> None:
    """One object, with our SHA-256 as its checksum (S3 rejects a corrupted body) and metadata."""
    key = settings.live_key(path)
    metadata = {"sha256": digest}
    if len(data) < MULTIPART_BYTES:
        client.put_object(
            Bucket=settings.live_bucket,
            Key=key,
            Body=data,
            ChecksumSHA256=base64.b64encode(bytes.fromhex(digest)).decode(),
            Metadata=metadata,
            **headers,
        )
        return
    extra = {**headers, "Metadata": metadata, "ChecksumAlgorithm": "SHA256"}
    client.upload_fileobj(io.BytesIO(data), settings.live_bucket, key, ExtraArgs=extra, Config=MULTIPART)


def upload_spans(
    client: Any,
    settings: Settings,
    artifact: Artifact,
    spans: Sequence[Span],
    policy: HeaderPolicy,
    on_uploaded: Callable[[str, int], None],
) -> None:
    """Upload every file of `spans`; the first failure is raised after the running ones finish."""

    def upload_span(span: Span) -> None:
        for path, data in artifact.read_span(span):
            digest = artifact.record.files[path]
            put_file(client, settings, path, data, digest, policy.headers(path))
            on_uploaded(path, len(data))

    run_all(upload_span, spans, settings.upload_concurrency)


def read_spans(artifact: Artifact, spans: Sequence[Span], workers: int) -> dict[str, bytes]:
    """Read and check every file of `spans` into memory, writing nothing."""
    files: dict[str, bytes] = {}

    def read(span: Span) -> None:
        files.update(artifact.read_span(span))

    run_all(read, spans, workers)
    return files


def run_all(task: Callable[[T], None], items: Sequence[T], workers: int) -> None:
    """Run `task` on every item in parallel; on the first failure cancel what has not started."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        futures = [pool.submit(task, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
