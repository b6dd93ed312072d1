"""The pinned storage and a sharded deploy's complete marker (docs/artifact.md, "A sharded deploy claims
first"), in moto: a record the plan step marked `sharded` is a pinned app's only once the finish step
wrote `.releases/<release>/complete.json` naming that release; an inline record needs no marker. The
same against SeaweedFS with the real steps: tests/integration/test_sharded.py."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from staticsync.live.state import history_body
from staticsync.sharded.complete import SHARDED, complete_body
from tests.inprocess import forked, pinned_site
from tests.sites import build_version

PINNED = "static_deploy.storage.PinnedManifestStaticFilesStorage"
HISTORY = "static/.releases/v1/history.jsonl"
COMPLETE = "static/.releases/v1/complete.json"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Release v1's history object, as the function writes it."""
    packed = build_version(tmp_path_factory.mktemp("pinned"), 1)
    with zipfile.ZipFile(packed.path) as archive:
        return history_body(archive.read("release.json"), archive.read("staticfiles.json"))


@pytest.mark.parametrize(
    ("marked", "marker", "starts"),
    [
        (False, None, True),  # an inline deploy's record: complete by construction
        (True, None, False),  # the shards may still be uploading
        (True, complete_body("v2", "0" * 64), False),  # another release's marker proves nothing
        (True, b"not json", False),
        (True, complete_body("v1", "0" * 64), True),
        (True, complete_body("v1", None), True),  # a re-plan that became small ran inline
    ],
)
def test_a_record_marked_sharded_is_pinned_only_with_its_complete_marker(
    moto_s3: Any, history: bytes, marked: bool, marker: bytes | None, starts: bool
) -> None:
    moto_s3.put_object(Bucket="live", Key=HISTORY, Body=history, Metadata=SHARDED if marked else {})
    if marker is not None:
        moto_s3.put_object(Bucket="live", Key=COMPLETE, Body=marker)
    started = pinned_site("v1", "static/", "css/page0.css")
    if starts:
        assert started.startswith("/static/css/page0.") and started != "/static/css/page0.css"
    else:
        assert started.startswith("ImproperlyConfigured: release v1 is still being deployed in shards: ")
        assert f"s3://live/{COMPLETE}" in started


def test_a_pin_file_alone_reads_no_marker(tmp_path: Path, history: bytes) -> None:
    """A pin file carries no metadata and the storage makes no request: as for a release not deployed
    yet, deploying the static files first (`--wait`) is the guard (docs/ci.md)."""
    pin = tmp_path / "release.jsonl"
    pin.write_bytes(history)

    def child() -> str:
        import django
        from django.conf import settings

        settings.configure(
            INSTALLED_APPS=["django.contrib.staticfiles"],
            STATIC_URL="/static/",
            STORAGES={"staticfiles": {"BACKEND": PINNED}},
            STATIC_DEPLOY={"pin_file": str(pin)},
        )
        django.setup()
        from django.templatetags.static import static

        return str(static("css/page0.css"))

    assert str(forked(child)).startswith("/static/css/page0.")
