"""The build cache: whitenoise's outputs reused by content, never changing a byte of the artifact."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import brotli
import pytest
from whitenoise.compress import Compressor

from build_tool.build import cache as cache_module
from build_tool.build.cache import (
    BROTLI_QUALITY,
    SERIAL_BYTES,
    CompressionCache,
    CompressionStats,
    available_cores,
    compress_brotli,
    encoder_identity,
)
from build_tool.build.compress import MIN_SIBLING_SIZE, CachedCompressor

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = """
from pathlib import Path
SECRET_KEY = "x"
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "/static/"
STATICFILES_DIRS = [Path(__file__).parent / "assets"]
"""
ASSETS = {
    "css/site.css": 'body { background: url("../img/dot.png"); }\n' + ".a { color: red; }\n" * 200,
    "css/same.css": ".a { color: red; }\n" * 200,
    "js/app.js": "function f(x) { return x * 2; }\n" * 300,
    "js/tiny.js": "1\n",
    "img/dot.png": "\x89PNG not really an image",
}


def write_project(folder: Path) -> Path:
    """The small project these tests collect: CSS with a url(), JS, a tiny file, a PNG."""
    for name, text in ASSETS.items():
        (folder / "assets" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "assets" / name).write_text(text)
    (folder / "cachesettings.py").write_text(SETTINGS)
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")


def package(
    project: Path,
    out: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    cores: set[int] | None = None,
) -> dict[str, object]:
    """`build_tool package --output out --json` in a fresh interpreter (`env` added to the
    environment; `cores`: the CPUs it may run on, so the number of compression workers); its JSON record."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))} | (env or {})
    env["SOURCE_DATE_EPOCH"] = "1767225600"
    args = ["--settings", "cachesettings", "--project-dir", str(project), "--release", "r1"]
    done = subprocess.run(
        [sys.executable, "-m", "build_tool", "package", *args, "--output", str(out), "--json", *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
        preexec_fn=None if cores is None else lambda: os.sched_setaffinity(0, cores),
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_an_artifact_built_with_the_cache_is_byte_identical_to_one_built_without(
    project: Path, tmp_path: Path
) -> None:
    cache = str(tmp_path / "cache")
    package(project, tmp_path / "plain.zip")
    package(project, tmp_path / "cold.zip", "--cache-dir", cache)
    package(project, tmp_path / "warm.zip", "--cache-dir", cache)
    plain = (tmp_path / "plain.zip").read_bytes()
    assert (tmp_path / "cold.zip").read_bytes() == plain
    assert (tmp_path / "warm.zip").read_bytes() == plain


def test_a_second_build_with_the_cache_compresses_nothing(project: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    first = package(project, tmp_path / "a.zip", "--cache-dir", cache)
    second = package(project, tmp_path / "b.zip", "--cache-dir", cache)
    # site.css and its hashed copy (url() rewritten) differ; the other copies equal their originals;
    # tiny.js is under MIN_SIBLING_SIZE, so it is not compressed at all.
    assert (first["compressed"], first["compressed_from_cache"]) == (4, 0)
    assert (second["compressed"], second["compressed_from_cache"]) == (0, 4)


def test_after_one_edit_only_the_new_content_is_compressed(project: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    package(project, tmp_path / "a.zip", "--cache-dir", cache)
    (project / "assets" / "js" / "app.js").write_text("function g(y) { return y + 1; }\n" * 300)
    again = package(project, tmp_path / "b.zip", "--cache-dir", cache)
    assert again["compressed"] == 1  # app.js and its hashed copy share their new bytes


def test_the_cached_compressor_writes_whitenoises_siblings_only_for_files_big_enough(tmp_path: Path) -> None:
    plain, cached = tmp_path / "plain", tmp_path / "cached"
    for folder in (plain, cached):
        folder.mkdir()
        for name, text in ASSETS.items():
            (folder / name.replace("/", "-")).write_text(text)
    cache = CompressionCache(tmp_path / "cache")
    for compressor, folder in [
        (Compressor(quiet=True), plain),
        (CachedCompressor(cache, quiet=True), cached),
    ]:
        for path in sorted(folder.iterdir()):
            compressor.compress(str(path))
    big = {p.name for p in plain.iterdir() if not p.name.endswith((".gz", ".br"))}
    big = {name for name in big if (plain / name).stat().st_size >= MIN_SIBLING_SIZE}
    wanted = {p.name for p in plain.iterdir() if p.name.endswith((".gz", ".br")) and p.name[:-3] in big}
    made = {p.name for p in cached.iterdir() if p.name.endswith((".gz", ".br"))}
    assert wanted and made == wanted
    for name in wanted:
        original = (cached / name[:-3]).read_bytes()
        output = (cached / name).read_bytes()
        if name.endswith(".gz"):
            assert output == (plain / name).read_bytes(), name  # whitenoise's gzip, byte for byte
        else:
            assert output == brotli.compress(original, quality=BROTLI_QUALITY), name


def test_a_damaged_cache_entry_is_made_again_not_shipped(tmp_path: Path) -> None:
    source = tmp_path / "app.js"
    source.write_text(ASSETS["js/app.js"])
    cache = CompressionCache(tmp_path / "cache")
    cache.fill([str(source)], ("br", "gz"), CompressionStats())
    for entry in cache.root.rglob("*.br"):
        entry.write_bytes(b"not brotli")
    stats = CompressionStats()
    cache.fill([str(source)], ("br", "gz"), stats)
    assert (stats.compressed, stats.reused) == (1, 0)
    CachedCompressor(cache, quiet=True).compress(str(source))
    assert Path(f"{source}.br").read_bytes() == compress_brotli(source.read_bytes())


def test_cache_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    sources = []
    for index in range(12):
        sources.append(tmp_path / f"f{index}.css")
        sources[-1].write_text(f".c{index} {{ color: red; }}\n" * 100)
    cache = CompressionCache(tmp_path / "cache")
    cache.fill([str(s) for s in sources], ("br", "gz"), CompressionStats())
    entries = [p for p in cache.root.rglob("*") if p.is_file()]
    assert len(entries) == 24
    assert not [p for p in entries if p.name.startswith(".tmp-")]


def write_large_project(folder: Path) -> Path:
    """The small project with enough script to compress that the build uses a pool of workers."""
    write_project(folder)
    rng = random.Random(7)
    words = ["function", "return", "const", "value", "item", "index", "=>", "{", "}", ";", "this", "node"]
    written = 0
    for index in range(24):
        text = " ".join(rng.choice(words) + str(rng.randrange(50)) for _ in range(4_000)) + "\n"
        (folder / "assets" / "js" / f"lib{index:02}.js").write_text(text)
        written += len(text)
    assert written > SERIAL_BYTES
    return folder


@pytest.mark.skipif(available_cores() < 2, reason="one core: no pool of workers to compare with")
def test_the_artifact_is_byte_identical_with_one_compression_worker_and_with_one_per_core(
    tmp_path: Path,
) -> None:
    project = write_large_project(tmp_path / "large")
    package(project, tmp_path / "one.zip", cores={min(os.sched_getaffinity(0))})
    package(project, tmp_path / "every.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "every.zip").read_bytes()


def test_the_cache_fills_the_same_outputs_with_one_worker_and_with_three(tmp_path: Path) -> None:
    sources = write_large_project(tmp_path / "large") / "assets" / "js"
    files = sorted(str(p) for p in sources.iterdir())
    filled = []
    for workers in (1, 3):
        cache = CompressionCache(None, workers=workers)
        cache.fill(files, ("br", "gz"), CompressionStats())
        filled.append(cache.ready)
    assert filled[0] == filled[1]
    for (_, encoding), output in filled[0].items():
        assert len(output) > 0 and (encoding != "gz" or gzip.decompress(output))


def test_a_cache_made_at_another_brotli_quality_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    before = encoder_identity()
    monkeypatch.setattr(cache_module, "BROTLI_QUALITY", BROTLI_QUALITY - 1)
    assert encoder_identity() != before
