"""Content-Type, Cache-Control and Content-Encoding of every kind of file a release holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from staticsync.config import Settings
from staticsync.model.headers import HeaderPolicy

MANIFEST = {
    "css/site.css": "css/site.0123456789ab.css",
    "js/app.js": "js/app.0123456789ab.js",
    "js/mod.mjs": "js/mod.0123456789ab.mjs",
    "js/app.js.map": "js/app.js.0123456789ab.map",
    "img/icon.svg": "img/icon.0123456789ab.svg",
    "fonts/a.woff2": "fonts/a.0123456789ab.woff2",
}
FILES = [
    *MANIFEST,
    *MANIFEST.values(),
    "css/site.0123456789ab.css.gz",
    "css/site.0123456789ab.css.br",
    "css/site.css.gz",
    "robots.txt",
    "downloads/data.tar.gz",
]
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
POLICY = HeaderPolicy.for_release(Settings(live_bucket="live"), FILES, MANIFEST)


@pytest.mark.parametrize(
    ("path", "content_type", "cache", "encoding"),
    [
        ("css/site.0123456789ab.css", "text/css; charset=utf-8", IMMUTABLE, None),
        ("css/site.css", "text/css; charset=utf-8", SHORT, None),
        ("css/site.0123456789ab.css.gz", "text/css; charset=utf-8", IMMUTABLE, "gzip"),
        ("css/site.0123456789ab.css.br", "text/css; charset=utf-8", IMMUTABLE, "br"),
        ("css/site.css.gz", "text/css; charset=utf-8", SHORT, "gzip"),
        ("js/app.0123456789ab.js", "text/javascript; charset=utf-8", IMMUTABLE, None),
        ("js/mod.0123456789ab.mjs", "text/javascript; charset=utf-8", IMMUTABLE, None),
        ("js/app.js.0123456789ab.map", "application/json; charset=utf-8", IMMUTABLE, None),
        ("img/icon.0123456789ab.svg", "image/svg+xml", IMMUTABLE, None),
        ("fonts/a.0123456789ab.woff2", "font/woff2", IMMUTABLE, None),
        ("robots.txt", "text/plain; charset=utf-8", SHORT, None),
        ("downloads/data.tar.gz", "application/gzip", SHORT, None),
        # Files real projects ship that the first table lacked (sent as octet-stream, which some
        # S3-compatible stores replace with their own guess): django-cms, Wagtail, jazzmin, unfold.
        ("scss/_vars.scss", "text/x-scss; charset=utf-8", SHORT, None),
        ("src/index.ts", "text/x-typescript; charset=utf-8", SHORT, None),
        ("docs/README.rst", "text/x-rst; charset=utf-8", SHORT, None),
        ("img/logo.svgz", "image/svg+xml", SHORT, "gzip"),
        ("img/photo.JPG", "image/jpeg", SHORT, None),
        ("fonts/icons.ttc", "font/collection", SHORT, None),
        ("admin/img/LICENSE", "text/plain; charset=utf-8", SHORT, None),
        ("admin/img/LICENSE.2c54f4e1ca1c", "text/plain; charset=utf-8", SHORT, None),  # hashed, no extension
    ],
)
def test_headers_by_kind_of_file(path: str, content_type: str, cache: str, encoding: str | None) -> None:
    headers = POLICY.headers(path)
    assert headers["ContentType"] == content_type
    assert headers["CacheControl"] == cache
    assert headers.get("ContentEncoding") == encoding


def test_the_manifest_is_never_cached_without_revalidation() -> None:
    assert POLICY.manifest_headers() == {
        "ContentType": "application/json; charset=utf-8",
        "CacheControl": "no-cache",
    }


def test_cache_policy_is_configurable() -> None:
    settings = Settings(live_bucket="live", cache_hashed="max-age=60", cache_unhashed="no-store")
    policy = HeaderPolicy.for_release(settings, FILES, MANIFEST)
    assert policy.headers("css/site.0123456789ab.css")["CacheControl"] == "max-age=60"
    assert policy.headers("robots.txt")["CacheControl"] == "no-store"


def test_every_static_file_django_and_the_example_ship_has_a_real_type() -> None:
    import django

    from staticsync.model.headers import DEFAULT_CONTENT_TYPE, content_type
    from staticsync.model.names import hashed_name

    roots = [Path(django.__file__).parent / "contrib", Path(__file__).parents[2] / "example"]
    files = [p for root in roots for p in root.rglob("static/**/*") if p.is_file()]
    assert len(files) > 100
    names = [name for p in files for name in (p.name, hashed_name(p.name, b"the collected copy"))]
    unknown = sorted({name for name in names if content_type(name) == DEFAULT_CONTENT_TYPE})
    assert unknown == []
