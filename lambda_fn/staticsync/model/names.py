"""Names in the live bucket: Django's hashed names, the shape of one, the `.gz`/`.br` siblings of a file,
and which paths are safe keys (pure; the artifact contract and the plan both ask)."""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata
from collections.abc import Collection
from urllib.parse import unquote, urlsplit, urlunsplit

FILES_DIR = "static/"  # where the files sit in the artifact zip (docs/artifact.md)


def hashed_name(name: str, content: bytes) -> str:
    """The name Django's manifest storage gives `name` holding `content`.

    As HashedFilesMixin.hashed_name with its default file_hash: the first 12 hex digits of the MD5
    of the final bytes, inserted before the extension (`css/app.css` -> `css/app.0123456789ab.css`).
    """
    return hashed_name_of(name, hashlib.md5(content, usedforsecurity=False).hexdigest())


def hashed_name_of(name: str, md5_hex: str) -> str:
    """hashed_name of content whose MD5 is `md5_hex` (a large file's, hashed as it streams)."""
    parsed = urlsplit(unquote(name))
    directory, filename = posixpath.split(parsed.path.strip())
    root, extension = posixpath.splitext(filename)
    digest = md5_hex[:12]
    return urlunsplit(parsed._replace(path=posixpath.join(directory, f"{root}.{digest}{extension}")))


def hashed_sources(manifest: dict[str, str]) -> dict[str, str | tuple[str, ...]]:
    """Each hashed name of a manifest (a value that differs from its key) with the name it hashes, or
    the names when there are several (a tuple only then: 50,000 one-name tuples are 3 MB)."""
    sources: dict[str, str | tuple[str, ...]] = {}
    for name, hashed in manifest.items():
        if hashed != name:
            known = sources.get(hashed)
            if known is None:
                sources[hashed] = name
            else:
                sources[hashed] = (*((known,) if isinstance(known, str) else known), name)
    return sources


def sources_of(sources: dict[str, str | tuple[str, ...]], hashed: str) -> tuple[str, ...]:
    """The names `hashed` is the hashed name of, from hashed_sources."""
    found = sources.get(hashed, ())
    return (found,) if isinstance(found, str) else found


# A path every rule below accepts, but for NFC: no drive letter at the start (of the path or of the
# path under static/), non-empty segments other than '.' and '..', no backslash, no C0, DEL or C1.
# Matching it is one pass in C; only names it refuses take the rules one by one, for the reason.
_SEGMENT = r"(?!\.\.?(?:/|\Z))[^\x00-\x1f\x7f-\x9f\\/]+"
_SAFE_PATH = re.compile(rf"(?![A-Za-z]:)(?!{re.escape(FILES_DIR)}[A-Za-z]:)(?:{_SEGMENT}/)*{_SEGMENT}")


# _SAFE_PATH for many paths at once, each ended by a newline (which no safe path holds): the same rules,
# with possessive repeats (a run of segment characters can only end at '/' or '\n': nothing to retry).
_LINE_SEGMENT = r"(?!\.\.?[/\n])[^\x00-\x1f\x7f-\x9f\\/]++"
_SAFE_LINES = re.compile(
    rf"(?:(?![A-Za-z]:)(?!{re.escape(FILES_DIR)}[A-Za-z]:)(?:{_LINE_SEGMENT}/)*+{_LINE_SEGMENT}\n)*+"
)


def all_safe(lines: str) -> bool:
    """Whether unsafe_path_reason accepts every line of `lines` (each path followed by a newline;
    a path holding a newline is unsafe, so count the paths apart): one pass in C for any number.

    NFC is checked on the whole text at once: a newline composes with nothing, so the text is NFC
    exactly when each of its lines is."""
    if _SAFE_LINES.fullmatch(lines) is None:
        return False
    return lines.isascii() or unicodedata.is_normalized("NFC", lines)


def unsafe_path_reason(path: str) -> str | None:
    """Say why `path` cannot be a key in the live bucket, or None when it is safe."""
    if _SAFE_PATH.fullmatch(path):
        if path.isascii() or unicodedata.is_normalized("NFC", path):
            return None
        return "path is not NFC-normalised"
    return _unsafe_path_reason(path)


def _unsafe_path_reason(path: str) -> str | None:
    """Each rule in turn: the first that `path` breaks names the reason."""
    if not path:
        return "empty path"
    if "\\" in path:
        return "backslash in path"
    if path.startswith("/"):
        return "absolute path"
    # Checked on the member name and on the path under static/ (the live key): `static/C:/x.css`.
    if any(re.match(r"[A-Za-z]:", p) for p in (path, path.removeprefix(FILES_DIR))):
        return "drive letter"
    # C0, DEL and C1 (U+0080-U+009F): invisible in logs and consoles, and unsafe in many tools.
    if any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in path):
        return "control character in path"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "empty, '.' or '..' segment"
    if unicodedata.normalize("NFC", path) != path:
        return "path is not NFC-normalised"
    return None


# A name with the shape Django's manifest storages give a file (`app.0123456789ab.css`, and its
# `.gz`/`.br` siblings): such a name is content-addressed wherever it came from, so it is never
# overwritten with other bytes, whichever release's manifest lists it (docs/artifact.md).
HASHED_SHAPE = re.compile(r"\.[0-9a-f]{12}(?:\.[^./]+)*$")


def looks_hashed(path: str) -> bool:
    return HASHED_SHAPE.search(posixpath.basename(path)) is not None


# The compressed siblings whitenoise writes next to a file: a file and its siblings are one family,
# packed or inherited together in a delta artifact.
SIBLING_SUFFIXES = (".gz", ".br")


def original_of(path: str) -> str:
    """The file a `.gz`/`.br` sibling compresses (the path itself for any other file)."""
    stem, extension = posixpath.splitext(path)
    return stem if extension in SIBLING_SUFFIXES else path


def split_family(packed: Collection[str], files: Collection[str]) -> str | None:
    """A file of `files` left out of `packed` although a file of its family is in it, or None."""
    originals = {original_of(path) for path in packed}
    return min((p for p in files if p not in packed and original_of(p) in originals), default=None)
