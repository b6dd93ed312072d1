"""CloudFront invalidation: exactly the changed mutable URLs plus staticfiles.json, once per cutover."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from staticsync.config import Settings
from staticsync.notify.invalidate import (
    MAX_PATHS_IN_PROGRESS,
    batches,
    caller_reference,
    invalidate,
    invalidate_quietly,
    invalidation_paths,
    replaced,
)
from staticsync.report import SyncReport

SETTINGS = Settings(live_bucket="live", live_prefix="static/", cloudfront_distribution_id="E2EXAMPLE")


@pytest.fixture
def cloudfront() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "cloudfront", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def created(invalidation_id: str, paths: list[str], reference: str) -> dict[str, Any]:
    batch = {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference}
    return {
        "Location": f"https://cloudfront.amazonaws.com/2020-05-31/distribution/E2EXAMPLE/invalidation/{invalidation_id}",
        "Invalidation": {
            "Id": invalidation_id,
            "Status": "InProgress",
            "CreateTime": "2026-01-01T00:00:00Z",
            "InvalidationBatch": batch,
        },
    }


def expected(paths: list[str], reference: str) -> dict[str, Any]:
    batch = {"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference}
    return {"DistributionId": "E2EXAMPLE", "InvalidationBatch": batch}


def test_the_paths_are_the_manifest_and_each_changed_mutable_url_under_the_live_prefix() -> None:
    paths = invalidation_paths("static/", None, ["shop/css/base.css", "shop/css/base.css.gz", "robots.txt"])
    assert paths == [
        "/static/staticfiles.json",
        "/static/robots.txt",
        "/static/shop/css/base.css",
        "/static/shop/css/base.css.gz",
    ]


def test_never_a_wildcard_and_nothing_else_without_changes() -> None:
    assert invalidation_paths("static/", None, []) == ["/static/staticfiles.json"]
    assert all("*" not in p for p in invalidation_paths("", None, ["*", "css/*"]))


def test_a_distribution_with_an_origin_path_gets_its_own_url_prefix() -> None:
    assert invalidation_paths("static/", "/", ["app.css"]) == ["/staticfiles.json", "/app.css"]
    with pytest.raises(ValueError, match="must start and end"):
        invalidation_paths("static/", "/assets", ["app.css"])


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("img/a b.png", "/static/img/a%20b.png"),
        ("img/café.png", "/static/img/caf%C3%A9.png"),
        ("img/~x[1]{2}|^`.png", "/static/img/%7Ex%5B1%5D%7B2%7D%7C%5E%60.png"),
        ("img/100%.png", "/static/img/100%25.png"),
        ("img/a#b?c.png", "/static/img/a%23b%3Fc.png"),
        ("img/star*.png", "/static/img/star%2A.png"),
        ("img/keep-$_.+!'(),;:@=&.png", "/static/img/keep-$_.+!'(),;:@=&.png"),
    ],
)
def test_unsafe_and_non_ascii_characters_are_url_encoded_and_nothing_else(name: str, url: str) -> None:
    assert invalidation_paths("static/", None, [name])[1] == url


def test_names_that_were_not_live_have_nothing_to_invalidate() -> None:
    live = {"app.css": "0" * 64}
    assert replaced(["app.css", "new.css"], live) == ["app.css"]
    assert replaced(["app.css", "new.css"], None) == ["app.css", "new.css"]


def test_past_the_in_progress_quota_the_rest_is_counted_not_sent() -> None:
    paths = [f"/static/{n}.css" for n in range(MAX_PATHS_IN_PROGRESS + 7)]
    chunks, skipped = batches(paths)
    assert sum(map(len, chunks)) == MAX_PATHS_IN_PROGRESS and skipped == 7


def test_one_invalidation_with_the_exact_paths_and_the_cutover_s_caller_reference(
    cloudfront: tuple[Any, Stubber],
) -> None:
    client, stubber = cloudfront
    paths = invalidation_paths("static/", None, ["shop/css/base.css"])
    reference = caller_reference("r2", 7)
    assert reference == "static-deploy/r2/7"
    stubber.add_response("create_invalidation", created("I1", paths, reference), expected(paths, reference))
    assert invalidate(client, "E2EXAMPLE", paths, reference) == ["I1"]


def test_a_retried_deploy_sends_the_same_caller_reference(cloudfront: tuple[Any, Stubber]) -> None:
    client, stubber = cloudfront
    paths = invalidation_paths("static/", None, ["app.css"])
    for _ in range(2):  # CloudFront answers the same reference and paths with the same invalidation
        stubber.add_response(
            "create_invalidation",
            created("I1", paths, "static-deploy/r2/3"),
            expected(paths, "static-deploy/r2/3"),
        )
    first = invalidate(client, "E2EXAMPLE", paths, caller_reference("r2", 3))
    assert invalidate(client, "E2EXAMPLE", paths, caller_reference("r2", 3)) == first


def test_the_ids_and_paths_go_into_the_report(cloudfront: tuple[Any, Stubber]) -> None:
    client, stubber = cloudfront
    paths = invalidation_paths("static/", None, ["app.css"])
    stubber.add_response("create_invalidation", created("I9", paths, "ref"), expected(paths, "ref"))
    report = SyncReport(artifact="s3://artifacts/staging/r2.zip")
    invalidate_quietly(client, SETTINGS, report, paths, "ref")
    assert (report.invalidation_ids, report.invalidation_paths) == (["I9"], paths)
    assert report.invalidation_paths_count == 2 and report.warnings == []


def test_a_failed_invalidation_is_a_warning_not_a_failed_deploy(cloudfront: tuple[Any, Stubber]) -> None:
    client, stubber = cloudfront
    stubber.add_client_error("create_invalidation", "TooManyInvalidationsInProgress", "slow down", 400)
    report = SyncReport(artifact="s3://artifacts/staging/r2.zip")
    invalidate_quietly(client, SETTINGS, report, ["/static/staticfiles.json"], "ref")
    assert report.invalidation_ids == []
    assert len(report.warnings) == 1 and "TooManyInvalidationsInProgress" in report.warnings[0]


def test_without_a_distribution_nothing_is_sent(cloudfront: tuple[Any, Stubber]) -> None:
    client, _ = cloudfront  # the stubber fails any call it was not told about
    report = SyncReport(artifact="s3://artifacts/staging/r2.zip")
    invalidate_quietly(client, Settings(live_bucket="live"), report, ["/staticfiles.json"], "ref")
    assert report.invalidation_ids == [] and report.warnings == []
