"""whitenoise's compression at our levels, only where it pays, with a content-addressed cache and a
process per core.

whitenoise compresses every file on every build, in threads that brotli's GIL serialises: on a real
project that is most of a collect. `CompressedManifestStaticFilesStorage` here is whitenoise's, with
the compressor its `create_compressor` factory returns swapped for one that looks each output up by
the SHA-256 of its input (and the encoders' identity): before whitenoise's own pass, the outputs that
are missing are made in a process pool and stored. whitenoise's `compress` then runs on each file, so
the siblings are whitenoise's but for two choices measured on a real set (docs/cdn.md, "Which
siblings, at which level"): brotli's quality (build.cache.BROTLI_QUALITY), and no sibling for a file
under MIN_SIBLING_SIZE (such a file is not compressed at all).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from whitenoise.compress import Compressor
from whitenoise.storage import CompressedManifestStaticFilesStorage as WhitenoiseStorage

from .cache import ENCODERS, CompressionCache, CompressionStats
from .collect import COMPRESSION_SETTING
from .delta import BaseSlot, to_compress

# A file gets siblings only from this size: CloudFront compresses nothing smaller either, and what a
# sibling of a smaller file saves is less than a packet (docs/cdn.md, "Which siblings, at which level").
MIN_SIBLING_SIZE = 1000
# whitenoise's own rule: a sibling is kept only when it is at most 95% of its file.
MAX_SIBLING_RATIO = 0.95


def keeps_sibling(size: int, compressed: int, min_size: int = MIN_SIBLING_SIZE) -> bool:
    """Whether a file of `size` bytes keeps a sibling of `compressed` bytes."""
    return size >= max(min_size, 1) and compressed / size <= MAX_SIBLING_RATIO  # whitenoise's arithmetic


class CachedCompressor(Compressor):
    """whitenoise's Compressor, reading each compressed output from the cache when it is there, at
    our levels (build.cache.ENCODERS) and keeping a sibling only where `keeps_sibling` says."""

    def __init__(self, cache: CompressionCache, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cache = cache
        self._last = threading.local()

    @property
    def encodings(self) -> tuple[str, ...]:
        return tuple(e for e, used in (("br", self.use_brotli), ("gz", self.use_gzip)) if used)

    def compress_brotli(self, data: bytes) -> bytes:
        return self._cached("br", data)

    def compress_gzip(self, data: bytes) -> bytes:
        return self._cached("gz", data)

    def worth_compressing(self, path: str) -> bool:
        """whitenoise's extension rule, and big enough for a sibling (the small are not compressed)."""
        return self.should_compress(path) and os.path.getsize(path) >= MIN_SIBLING_SIZE

    def is_compressed_effectively(self, encoding_name: str, path: str, orig_size: int, data: bytes) -> bool:
        # whitenoise's pass calls this for each output: no .br (too small, or not 5% smaller) means no .gz.
        return keeps_sibling(orig_size, len(data))

    def _cached(self, encoding: str, data: bytes) -> bytes:
        digest = self._digest(data)
        output = self.cache.ready.get((digest, encoding)) or self.cache.get(digest, encoding, data)
        if output is None:  # not prepared by fill(): make it here, as whitenoise would
            output = ENCODERS[encoding](data)
            self.cache.put(digest, encoding, output)
        return output

    def _digest(self, data: bytes) -> str:
        # whitenoise passes the same bytes to compress_brotli, then to compress_gzip: hash them once.
        last = getattr(self._last, "value", None)
        if last is None or last[0] is not data:
            last = self._last.value = (data, hashlib.sha256(data).hexdigest())
        return last[1]


class CompressedManifestStaticFilesStorage(WhitenoiseStorage):
    """whitenoise's storage, same output bytes; options `cache_dir` (a folder to keep between builds;
    default: a temporary one) and `stats` (a CompressionStats to fill in), from STORAGES OPTIONS or
    else the BUILD_TOOL_COMPRESSION setting (build_tool.build.collect sets it)."""

    def __init__(
        self, *args: Any, cache_dir: str | None = None, stats: CompressionStats | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        configured = getattr(settings, COMPRESSION_SETTING, None) or {}
        self.cache_dir = cache_dir or configured.get("cache_dir")
        stats = stats if stats is not None else configured.get("stats")
        self.stats = stats if stats is not None else CompressionStats()
        self.base: BaseSlot | None = configured.get("base")  # a delta build's live release, once read

    def create_compressor(self, **kwargs: Any) -> Compressor:
        return CachedCompressor(self._cache, **kwargs)

    def compress_files(self, paths: Iterable[str]) -> Iterator[tuple[str, str]]:
        began = time.monotonic()
        yield from self._compress_files(paths)
        self.stats.seconds += time.monotonic() - began

    def _compress_files(self, paths: Iterable[str]) -> Iterator[tuple[str, str]]:
        # Without a cache folder the outputs are kept in memory for this build only.
        self._cache = CompressionCache(Path(self.cache_dir) if self.cache_dir else None)
        extensions = getattr(settings, "WHITENOISE_SKIP_COMPRESS_EXTENSIONS", None)
        compressor = CachedCompressor(self._cache, extensions=extensions, quiet=True)
        # What the live release has is not compressed at all: its siblings are the live ones.
        candidates = [name for name in sorted(paths) if compressor.worth_compressing(self.path(name))]
        names, inherited = to_compress(candidates, self.base.value if self.base else None, self.path)
        self.stats.count(inherited=inherited)
        self._cache.fill([self.path(name) for name in names], compressor.encodings, self.stats)
        # whitenoise's own loop runs compress() in threads: with every output ready they would only
        # contend for the GIL (tens of thousands of futex calls), so run it in this one.
        self.compressor = compressor
        for name in names:
            full_path = self.path(name)
            for compressed in compressor.compress(full_path):
                yield name, compressed[len(full_path) - len(name) :]
