"""Siblings only where they save bytes, and the function's side copes with a file that has none."""

from __future__ import annotations

import pytest

from build_tool.build.cache import balanced_chunks
from build_tool.build.compress import MIN_SIBLING_SIZE, keeps_sibling
from staticsync.config import Settings
from staticsync.model.headers import HeaderPolicy
from staticsync.model.siblings import index_changes, sibling_index


@pytest.mark.parametrize(
    ("size", "compressed", "kept"),
    [
        (MIN_SIBLING_SIZE - 1, 100, False),  # too small to be worth an object, however well it compresses
        (MIN_SIBLING_SIZE, 950, True),  # 95% of the file: whitenoise's limit, kept
        (MIN_SIBLING_SIZE, 951, False),  # less than 5% saved
        (20_000, 4_000, True),
        (0, 0, False),
    ],
)
def test_a_sibling_is_kept_only_for_a_file_big_enough_and_at_least_5_percent_smaller(
    size: int, compressed: int, kept: bool
) -> None:
    assert keeps_sibling(size, compressed) is kept


# A release the build makes now: a small stylesheet without siblings, a script whose gzip did not
# save 5% (a .br only), a stylesheet with both, an image with none.
RELEASE = {
    "tiny.css": 300,
    "vendor.js": 9_000,
    "vendor.js.br": 2_000,
    "app.css": 5_000,
    "app.css.br": 900,
    "app.css.gz": 1_200,
    "logo.png": 4_000,
}


def test_the_cdn_index_lists_only_the_files_with_siblings_and_only_the_siblings_they_have() -> None:
    assert sibling_index(RELEASE, "static/") == {"static/app.css": "br,gzip", "static/vendor.js": "br"}


def test_a_file_without_siblings_is_uploaded_without_content_encoding(settings: Settings) -> None:
    policy = HeaderPolicy.for_release(settings, RELEASE, {})
    assert "ContentEncoding" not in policy.headers("tiny.css")
    assert "ContentEncoding" not in policy.headers("vendor.js")
    assert policy.headers("vendor.js.br")["ContentEncoding"] == "br"


def test_a_file_that_lost_its_siblings_leaves_the_index_before_the_new_release_is_uploaded() -> None:
    # The live release was built when small files still had siblings; this one gives tiny.css none.
    live = [*RELEASE, "tiny.css.br", "tiny.css.gz"]
    changes = index_changes(RELEASE, live, uploaded=[], prefix="static/")
    assert changes.deletes == ("static/tiny.css",)
    assert changes.puts == {}


def test_compression_chunks_hold_every_file_once_largest_first() -> None:
    sizes = {f"f{n}": size for n, size in enumerate([10, 5_000, 300, 80_000, 7, 2_000, 40_000, 1])}
    jobs: list[tuple[str, str, tuple[str, ...]]] = [(f"digest{name}", name, ("br", "gz")) for name in sizes]
    chunks = balanced_chunks(jobs, sizes, 4)
    flat = [job for chunk in chunks for job in chunk]
    assert sorted(flat) == sorted(jobs)
    assert [sizes[job[1]] for job in flat] == sorted(sizes.values(), reverse=True)
    assert chunks[0] == [("digestf3", "f3", ("br", "gz"))]  # the largest file alone, first
    assert 2 <= len(chunks) <= 5


@pytest.fixture
def settings() -> Settings:
    return Settings(live_bucket="live")
