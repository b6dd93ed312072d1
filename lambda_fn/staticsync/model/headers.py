"""HTTP headers for each uploaded object: Content-Type, Cache-Control and Content-Encoding."""

from __future__ import annotations

import posixpath
from collections.abc import Collection
from dataclasses import dataclass

from ..config import Settings

# Our own table rather than the `mimetypes` module: its answers depend on the host's /etc/mime.types,
# and a Lambda must label files the same wherever it runs. Text types carry a charset.
CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".cjs": "text/javascript; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".bmp": "image/bmp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".wasm": "application/wasm",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
ENCODINGS = {".gz": "gzip", ".br": "br"}


def content_type(path: str) -> str:
    return CONTENT_TYPES.get(posixpath.splitext(path)[1].lower(), DEFAULT_CONTENT_TYPE)


def split_encoding(path: str, files: Collection[str]) -> tuple[str, str | None]:
    """`app.css.gz` -> (`app.css`, "gzip") when `app.css` is in `files`: a compressed sibling.

    A `.gz` without its original beside it (a `data.tar.gz` download) is a file in its own right and
    must not be served with Content-Encoding, or browsers would unpack it.
    """
    base, extension = posixpath.splitext(path)
    encoding = ENCODINGS.get(extension)
    if encoding and base in files:
        return base, encoding
    return path, None


@dataclass(frozen=True)
class HeaderPolicy:
    """Decides the headers of every file of one release."""

    settings: Settings
    files: Collection[str]
    hashed: Collection[str]

    @classmethod
    def for_release(
        cls, settings: Settings, files: Collection[str], manifest: dict[str, str]
    ) -> HeaderPolicy:
        # Names that carry their content's hash: the manifest's values that differ from their key.
        hashed = frozenset(value for name, value in manifest.items() if value != name)
        return cls(settings, frozenset(files), hashed)

    def headers(self, path: str) -> dict[str, str]:
        """put_object arguments for the file at `path` (relative to the live prefix)."""
        original, encoding = split_encoding(path, self.files)
        cache = self.settings.cache_hashed if original in self.hashed else self.settings.cache_unhashed
        headers = {"ContentType": content_type(original), "CacheControl": cache}
        if encoding:
            headers["ContentEncoding"] = encoding
        return headers

    def manifest_headers(self) -> dict[str, str]:
        return {"ContentType": CONTENT_TYPES[".json"], "CacheControl": self.settings.cache_manifest}
