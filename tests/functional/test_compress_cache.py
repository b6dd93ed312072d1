"""The build cache: whitenoise's outputs reused by content, never changing a byte of the artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from whitenoise.compress import Compressor

from build_tool.build.cache import CompressionCache, CompressionStats
from build_tool.build.compress import CachedCompressor

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


def package(project: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """`build_tool package --output out --json` in a fresh interpreter (`env` added to the
    environment); its JSON record."""
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
    # site.css and its hashed copy (url() rewritten) differ; the other copies equal their originals.
    assert (first["compressed"], first["compressed_from_cache"]) == (5, 0)
    assert (second["compressed"], second["compressed_from_cache"]) == (0, 5)


def test_after_one_edit_only_the_new_content_is_compressed(project: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    package(project, tmp_path / "a.zip", "--cache-dir", cache)
    (project / "assets" / "js" / "app.js").write_text("function g(y) { return y + 1; }\n" * 300)
    again = package(project, tmp_path / "b.zip", "--cache-dir", cache)
    assert again["compressed"] == 1  # app.js and its hashed copy share their new bytes


def test_the_cached_compressor_writes_exactly_what_whitenoises_writes(tmp_path: Path) -> None:
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
    assert sorted(p.name for p in plain.iterdir()) == sorted(p.name for p in cached.iterdir())
    for path in plain.iterdir():
        assert (cached / path.name).read_bytes() == path.read_bytes(), path.name


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
    assert Path(f"{source}.br").read_bytes() == Compressor.compress_brotli(source.read_bytes())


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
