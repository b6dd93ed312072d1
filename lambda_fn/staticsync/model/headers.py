"""HTTP headers for each uploaded object: Content-Type, Cache-Control and Content-Encoding."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection
from dataclasses import dataclass

from ..config import Settings

# Our own table rather than the `mimetypes` module: its answers depend on the host's /etc/mime.types,
# and a Lambda must label files the same wherever it runs. Text types carry a charset.
TEXT = "; charset=utf-8"
CONTENT_TYPES = {
    # Stylesheets, scripts and their sources (shipped by admin themes, editors and their source maps).
    ".css": "text/css" + TEXT,
    ".scss": "text/x-scss" + TEXT,
    ".sass": "text/x-sass" + TEXT,
    ".less": "text/x-less" + TEXT,
    ".js": "text/javascript" + TEXT,
    ".mjs": "text/javascript" + TEXT,
    ".cjs": "text/javascript" + TEXT,
    ".jsx": "text/javascript" + TEXT,
    ".ts": "text/x-typescript" + TEXT,
    ".tsx": "text/x-typescript" + TEXT,
    ".vue": "text/x-vue" + TEXT,
    ".coffee": "text/coffeescript" + TEXT,
    ".map": "application/json" + TEXT,
    # Data and documents.
    ".json": "application/json" + TEXT,
    ".jsonld": "application/ld+json" + TEXT,
    ".geojson": "application/geo+json" + TEXT,
    ".webmanifest": "application/manifest+json" + TEXT,
    ".html": "text/html" + TEXT,
    ".htm": "text/html" + TEXT,
    ".txt": "text/plain" + TEXT,
    ".md": "text/markdown" + TEXT,
    ".markdown": "text/markdown" + TEXT,
    ".rst": "text/x-rst" + TEXT,
    ".csv": "text/csv" + TEXT,
    ".tsv": "text/tab-separated-values" + TEXT,
    ".xml": "application/xml" + TEXT,
    ".xsl": "application/xslt+xml" + TEXT,
    ".xslt": "application/xslt+xml" + TEXT,
    ".rss": "application/rss+xml" + TEXT,
    ".atom": "application/atom+xml" + TEXT,
    ".yaml": "application/yaml" + TEXT,
    ".yml": "application/yaml" + TEXT,
    ".toml": "application/toml" + TEXT,
    ".ics": "text/calendar" + TEXT,
    ".vtt": "text/vtt" + TEXT,
    ".srt": "application/x-subrip" + TEXT,
    ".po": "text/x-gettext-translation" + TEXT,
    ".mo": "application/x-gettext-translation",
    ".pdf": "application/pdf",
    ".epub": "application/epub+zip",
    ".rtf": "application/rtf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    # Images.
    ".svg": "image/svg+xml",
    ".svgz": "image/svg+xml",  # gzipped SVG: sent with Content-Encoding: gzip (ENCODED_TYPES)
    ".png": "image/png",
    ".apng": "image/apng",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jfif": "image/jpeg",
    ".pjpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".jxl": "image/jxl",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".ico": "image/vnd.microsoft.icon",
    ".cur": "image/x-icon",
    ".bmp": "image/bmp",
    ".psd": "image/vnd.adobe.photoshop",
    # Fonts.
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".ttc": "font/collection",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    # Media.
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".oga": "audio/ogg",
    ".ogg": "audio/ogg",
    ".opus": "audio/opus",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    # Models, code and archives.
    ".wasm": "application/wasm",
    ".gltf": "model/gltf+json",
    ".glb": "model/gltf-binary",
    ".zip": "application/zip",
    ".gz": "application/gzip",  # a download, not a sibling: split_encoding decides which
    ".tgz": "application/gzip",
    ".br": "application/x-brotli",
    ".bz2": "application/x-bzip2",
    ".xz": "application/x-xz",
    ".tar": "application/x-tar",
    ".7z": "application/x-7z-compressed",
    ".rar": "application/vnd.rar",
    ".swf": "application/x-shockwave-flash",
    ".bin": "application/octet-stream",
}
# Extensions that are an encoding of another type rather than a container of their own.
ENCODED_TYPES = {".svgz": "gzip"}
DEFAULT_CONTENT_TYPE = "application/octet-stream"
ENCODINGS = {".gz": "gzip", ".br": "br"}


# Files packages ship without an extension (django.contrib.admin's img/LICENSE, a theme's README).
TEXT_NAMES = frozenset(
    {"LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS", "README", "CHANGELOG", "CHANGES"}
)


HASH_SUFFIX = re.compile(r"\.[0-9a-f]{12}")  # Django's hash of a file without an extension: LICENSE.<hash>


def content_type(path: str) -> str:
    name = posixpath.basename(path)
    stem, extension = posixpath.splitext(name)
    if HASH_SUFFIX.fullmatch(extension):
        stem, extension = posixpath.splitext(stem)
    if not extension and stem.upper() in TEXT_NAMES:
        return CONTENT_TYPES[".txt"]
    return CONTENT_TYPES.get(extension.lower(), DEFAULT_CONTENT_TYPE)


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
        encoding = encoding or ENCODED_TYPES.get(posixpath.splitext(path)[1].lower())
        cache = self.settings.cache_hashed if original in self.hashed else self.settings.cache_unhashed
        headers = {"ContentType": content_type(original), "CacheControl": cache}
        if encoding:
            headers["ContentEncoding"] = encoding
        return headers

    def manifest_headers(self) -> dict[str, str]:
        return {"ContentType": CONTENT_TYPES[".json"], "CacheControl": self.settings.cache_manifest}
