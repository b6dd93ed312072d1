"""The CDN's sibling index: which live keys have `.br`/`.gz` siblings, for cdn/serve_precompressed.js.

The CloudFront Function cannot list S3, so the deploy keeps a CloudFront KeyValueStore that maps each
live key with compressed siblings to their encodings, smallest first (`static/app.css` -> `br,gzip`).
Which siblings exist cannot be derived from a name: whitenoise skips extensions it thinks compressed
and files that compression does not shrink enough. Here the release's own file list decides, by the
rule `headers.split_encoding` labels `Content-Encoding` with, so the function serves exactly the
objects the Lambda uploaded as encoded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

# Token the function matches against Accept-Encoding, and the sibling's suffix; on a tie in size the
# first is preferred.
CODINGS = (("br", ".br"), ("gzip", ".gz"))
# CloudFront KeyValueStore quotas: key 512 bytes, value 1 KB, 5 MB per store, and an UpdateKeys
# request carries at most 50 keys (or 3 MB).
MAX_KEY_BYTES = 512
MAX_STORE_BYTES = 5 * 1024 * 1024
MAX_BATCH_KEYS = 50
# The value of a key whose siblings are all larger than the file: the key stays (so the index's keys
# follow from names alone, see `index_keys`) but the function finds no coding in it to serve.
IDENTITY = "identity"


@dataclass(frozen=True)
class IndexChanges:
    """How to bring the store from the live release's index to the new release's.

    Apply `deletes` before the new release's unhashed files are uploaded (a key whose siblings go
    away or change must stop routing to them first) and `puts` after the cutover (every object they
    route to is live by then). A key in both is a value that may change: deleted, then put again, in
    separate requests (UpdateKeys applies its deletes after its puts).
    """

    deletes: tuple[str, ...]
    puts: dict[str, str]

    def delete_batches(self) -> Iterator[list[dict[str, str]]]:
        """`Deletes=` arguments for UpdateKeys, within its per-request limit."""
        items = [{"Key": key} for key in self.deletes]
        yield from _chunks(items)

    def put_batches(self) -> Iterator[list[dict[str, str]]]:
        """`Puts=` arguments for UpdateKeys, within its per-request limit."""
        items = [{"Key": key, "Value": value} for key, value in sorted(self.puts.items())]
        yield from _chunks(items)


def sibling_index(sizes: Mapping[str, int], prefix: str = "") -> dict[str, str]:
    """Live key -> its siblings' encodings, smallest first, for each file of a release with siblings.

    `sizes` maps every file of the release (relative to the live prefix) to its size in bytes.
    Keys over the store's limit are left out: CloudFront then serves (and may compress) the file as is.
    """
    index = {}
    for path in sorted(sizes):
        key = prefix + path
        if _has_siblings(path, sizes) and len(key.encode()) <= MAX_KEY_BYTES:
            index[key] = ",".join(_smaller_codings(path, sizes)) or IDENTITY
    return index


def index_keys(files: Collection[str], prefix: str = "") -> set[str]:
    """The keys `sibling_index` gives a release, from its file names alone (no sizes needed)."""
    return set(sibling_index(dict.fromkeys(files, 1), prefix))


def index_changes(
    sizes: Mapping[str, int], live_files: Collection[str], uploaded: Collection[str], prefix: str = ""
) -> IndexChanges:
    """What changes in the store when the release of `sizes` replaces the one of `live_files`.

    `uploaded` are the files this deploy writes (the plan's uploads); an entry whose file and siblings
    are all unchanged is left alone, so the writes follow the change, not the release's size.
    """
    new = sibling_index(sizes, prefix)
    live = index_keys(live_files, prefix)
    touched = {prefix + _original(path) for path in uploaded}
    puts = {key: value for key, value in new.items() if key not in live or key in touched}
    deletes = sorted((live - new.keys()) | (live & puts.keys()))
    return IndexChanges(tuple(deletes), puts)


def store_bytes(index: Mapping[str, str]) -> int:
    """The store's size for `index`, to compare with MAX_STORE_BYTES."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in index.items())


def _has_siblings(path: str, sizes: Mapping[str, int]) -> bool:
    return any(path + suffix in sizes for _, suffix in CODINGS)


def _smaller_codings(path: str, sizes: Mapping[str, int]) -> list[str]:
    """The codings of the siblings smaller than the file itself, smallest first."""
    found = [
        (sizes[path + suffix], rank, coding)
        for rank, (coding, suffix) in enumerate(CODINGS)
        if sizes.get(path + suffix, sizes[path]) < sizes[path]
    ]
    return [coding for _, _, coding in sorted(found)]


def _original(path: str) -> str:
    for _, suffix in CODINGS:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _chunks(items: list[dict[str, str]]) -> Iterator[list[dict[str, str]]]:
    for start in range(0, len(items), MAX_BATCH_KEYS):
        yield items[start : start + MAX_BATCH_KEYS]
