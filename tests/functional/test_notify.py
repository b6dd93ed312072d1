"""After and around a cutover: the CDN's sibling index is emptied of what will change before any
unhashed file is overwritten and filled after the cutover; invalidation and the event follow it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from botocore.stub import Stubber

from build_tool.build.pack import Packed
from staticsync.config import Settings
from staticsync.model.siblings import IndexChanges
from staticsync.notify.cutover import Notifier
from staticsync.notify.keyvaluestore import SiblingStore
from staticsync.report import SyncReport
from tests.artifacts import stage_artifact
from tests.deploys import deploy_key

ARN = "arn:aws:cloudfront::123456789012:key-value-store/abc"
SETTINGS = Settings(live_bucket="live")


class RecordingStore(SiblingStore):
    """A store that notes what the live bucket held when it was called."""

    def __init__(self, client: Any) -> None:
        super().__init__(None, ARN)
        self.s3, self.calls = client, list[tuple[str, IndexChanges, bytes, str]]()

    def drop(self, changes: IndexChanges) -> int:
        self.calls.append(("drop", changes, self.live("site.css"), self.live_release()))
        return 0

    def fill(self, changes: IndexChanges) -> int:
        self.calls.append(("fill", changes, self.live("site.css"), self.live_release()))
        return 0

    def live(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket="live", Key=key)["Body"].read())

    def live_release(self) -> str:
        return str(self.s3.head_object(Bucket="live", Key="staticfiles.json")["Metadata"]["release"])


def files(css: bytes) -> dict[str, bytes]:
    return {"site.css": css, "site.css.gz": b"gz" + css[:1], "robots.txt": b"User-agent: *\n"}


def test_the_index_drops_changed_entries_before_unhashed_uploads_and_fills_after_the_cutover(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    deploy_key(moto_s3, SETTINGS, stage_artifact(moto_s3, make_artifact(files(b"a" * 200))), SyncReport("r1"))
    store = RecordingStore(moto_s3)
    r2 = stage_artifact(moto_s3, make_artifact(files(b"b" * 200), release="r2"))

    report = deploy_key(moto_s3, SETTINGS, r2, SyncReport("r2"), notifier=Notifier(siblings=store))

    assert report.outcome == "deployed"
    (drop, changes, css_then, live_then), (fill, _, css_after, live_after) = store.calls
    assert (drop, css_then, live_then) == ("drop", b"a" * 200, "r1")  # nothing unhashed written yet
    assert (fill, css_after, live_after) == ("fill", b"b" * 200, "r2")
    assert "site.css" in changes.deletes and changes.puts["site.css"] == "gzip"


def test_a_deploy_that_changes_nothing_touches_no_index(
    moto_s3: Any, make_artifact: Callable[..., Packed]
) -> None:
    key = stage_artifact(moto_s3, make_artifact(files(b"a" * 200)))
    deploy_key(moto_s3, SETTINGS, key, SyncReport("r1"))
    store = RecordingStore(moto_s3)

    deploy_key(moto_s3, SETTINGS, key, SyncReport("again"), notifier=Notifier(siblings=store))

    assert store.calls == []


def test_the_store_updates_under_its_etag_in_batches() -> None:
    client = boto3.client("cloudfront-keyvaluestore", region_name="us-east-1")
    changes = IndexChanges(deletes=tuple(f"k{i}" for i in range(60)), puts={"a": "br"})
    with Stubber(client) as stubber:
        stubber.add_response("describe_key_value_store", describe(), {"KvsARN": ARN})
        for batch, etag_in, etag_out in ((50, "e0", "e1"), (10, "e1", "e2")):
            deletes = (
                [{"Key": f"k{i}"} for i in range(60)][:50]
                if batch == 50
                else [{"Key": f"k{i}"} for i in range(50, 60)]
            )
            stubber.add_response(
                "update_keys", updated(etag_out), {"KvsARN": ARN, "IfMatch": etag_in, "Deletes": deletes}
            )
        assert SiblingStore(client, ARN).drop(changes) == 3
        stubber.assert_no_pending_responses()


def describe() -> dict[str, Any]:
    return {
        "ETag": "e0",
        "ItemCount": 0,
        "TotalSizeInBytes": 0,
        "KvsARN": ARN,
        "Created": "2026-01-01T00:00:00Z",
    }


def updated(etag: str) -> dict[str, Any]:
    return {"ETag": etag, "ItemCount": 0, "TotalSizeInBytes": 0}
