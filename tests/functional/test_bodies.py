"""The history object goes up from its parts, never joined in memory, and arrives byte for byte."""

from __future__ import annotations

import io
from typing import Any

import pytest

from staticsync.config import Settings
from staticsync.live.bodies import PartsBody
from staticsync.live.state import HISTORY_NAME, history_body, write_history

PARTS = [b"release.json line", b"", b"\n", bytes(range(256)) * 9, b"\n"]


@pytest.mark.parametrize("chunk", [1, 7, 256, 10_000])
def test_a_parts_body_reads_as_its_parts_joined_in_any_chunks_and_after_any_seek(chunk: int) -> None:
    body, joined = PartsBody(PARTS), b"".join(PARTS)
    assert len(body) == len(joined)
    pieces = iter(lambda: body.read(chunk), b"")
    assert b"".join(pieces) == joined and body.tell() == len(joined)
    for offset in (0, 5, 18, 19, 1000, len(joined) - 1, len(joined), len(joined) + 9):
        body.seek(offset)
        assert body.read() == joined[offset:]
    body.seek(-3, io.SEEK_END)
    assert body.read(chunk) == joined[-3:][:chunk]


def test_the_history_object_is_put_from_its_parts_and_stored_as_the_joined_body(moto_s3: Any) -> None:
    settings = Settings(live_bucket="live")
    bodies: list[object] = []
    moto_s3.meta.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: bodies.append(params["Body"])
    )
    release, manifest = b'{"release":"r1"}', b'{"paths":{}}'
    write_history(moto_s3, settings, "r1", release, manifest)
    assert [type(body) for body in bodies] == [PartsBody]
    stored = moto_s3.get_object(Bucket="live", Key=settings.history_key("r1", HISTORY_NAME))["Body"].read()
    assert stored == history_body(release, manifest)
