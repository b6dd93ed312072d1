"""The projects the benchmark deploys: the example, a large real static set, synthetic sets.

Each corpus is a Django project folder with a settings module; `edit` changes one of the project's
own files so that each scenario deploys new bytes. Synthetic sets are generated from a fixed seed:
the same files, byte for byte, on every machine. `fill_live` puts old releases' files under a live
prefix (the `live100k` scenario).
"""

from __future__ import annotations

import hashlib
import http.client
import random
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent

# Packages from PyPI that ship static files, as a real project's INSTALLED_APPS would list them
# (benchmarks/requirements.txt pins them). Order matters only for duplicate paths: first wins.
REAL_APPS = [
    "jazzmin",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "debug_toolbar",
    "import_export",
    "drf_spectacular_sidecar",
    "tinymce",
]

SETTINGS = '''"""Benchmark corpus settings."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "benchmark"
INSTALLED_APPS = {apps!r}
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "assets"]
DATABASES = {{}}
'''
# Appended to every corpus's benchsettings.py: the peers choose their storage through the environment.
STORAGE_BLOCK = """
import os as _os

STATIC_ROOT = _os.environ.get("BENCH_STATIC_ROOT", "/nonexistent")
_backend = _os.environ.get("BENCH_STORAGE", "whitenoise.storage.CompressedManifestStaticFilesStorage")
_options = {}
if _backend == "storages.backends.s3.S3ManifestStaticStorage":
    _options = {
        "bucket_name": _os.environ["BENCH_BUCKET"],
        "location": _os.environ.get("BENCH_LOCATION", ""),
        "endpoint_url": _os.environ["AWS_ENDPOINT_URL_S3"],
        "addressing_style": "path",
        "region_name": "us-east-1",
        "file_overwrite": True,
        "default_acl": None,
        "querystring_auth": False,
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": _backend, "OPTIONS": _options},
}
if _os.environ.get("BENCH_COLLECTFASTA"):  # the peer Collectfasta, as its README sets it up
    INSTALLED_APPS = ["collectfasta", *INSTALLED_APPS]
    COLLECTFASTA_STRATEGY = "collectfasta.strategies.boto3.Boto3ManifestMemoryStrategy"
    COLLECTFASTA_THREADS = 20
"""

SITE_CSS = """/* The project's own stylesheet: the file the scenarios edit. */
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #222; }
.header { background: url("../img/logo.png") no-repeat; height: 64px; }
.card { border: 1px solid #ddd; border-radius: 4px; padding: 1rem; }
"""
SITE_JS = "document.addEventListener('DOMContentLoaded', () => { document.body.dataset.ready = '1'; });\n"


@dataclass(frozen=True)
class Corpus:
    name: str
    project: Path  # a folder holding `settings_module` and anything it imports
    settings_module: str
    edit_files: tuple[str, ...]  # relative to project, edited in turn by the scenarios
    peers: bool  # whether the (slow) peers run on it

    def copy_to(self, target: Path) -> Path:
        """A fresh checkout: every file copied anew, so every mtime is new."""
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(self.project, target, ignore=shutil.ignore_patterns("__pycache__", "staticfiles"))
        return target


def edit(project: Path, relative: str, tag: str) -> None:
    """Change one file's bytes (a rule that names `tag`, so every edit is new content)."""
    path = project / relative
    marker = tag.replace("-", "_")
    path.write_text(path.read_text() + f"\n.bench_{marker} {{ outline: 1px solid #{len(tag):03x}; }}\n")


def example(work: Path) -> Corpus:
    target = work / "corpora" / "example"
    if not (target / "benchsettings.py").exists():
        shutil.copytree(ROOT / "example", target, ignore=shutil.ignore_patterns("staticfiles", "__pycache__"))
    wrapper = "from exampleproject.settings import *  # noqa: F403\n" + STORAGE_BLOCK
    (target / "benchsettings.py").write_text(wrapper)  # always: the block may have changed
    return Corpus(
        "example",
        target,
        "benchsettings",
        ("shop/static/shop/css/base.css", "shop/static/shop/css/site.css"),
        peers=True,
    )


def real(work: Path) -> Corpus:
    """Django admin, DRF and other packages' static files, plus a small site of the project's own."""
    target = work / "corpora" / "real"
    if not (target / "benchsettings.py").exists():
        site = target / "assets" / "site"
        for folder in ("css", "js", "img"):
            (site / folder).mkdir(parents=True, exist_ok=True)
        (site / "css" / "site.css").write_text(SITE_CSS)
        (site / "css" / "forms.css").write_text(SITE_CSS.replace(".card", ".form"))
        (site / "js" / "site.js").write_text(SITE_JS)
        (site / "img" / "logo.png").write_bytes(random.Random(1).randbytes(3000))
    (target / "benchsettings.py").write_text(SETTINGS.format(apps=REAL_APPS) + STORAGE_BLOCK)
    return Corpus(
        "real", target, "benchsettings", ("assets/site/css/site.css", "assets/site/css/forms.css"), peers=True
    )


def synthetic(work: Path, count: int) -> Corpus:
    """About `count` files in the artifact, 10 KB each on average (so 1 GB for 100,000).

    The sources are 20% CSS with url() references to images, 10% JS and 70% images; collected, each
    source gets a hashed copy and each CSS or JS file a `.gz` and a `.br`: 3.2 artifact files per
    source.
    """
    name = f"synth{count // 1000}k"
    target = work / "corpora" / name
    if not (target / "benchsettings.py").exists():
        generate(target / "assets" / "synth", round(count / 3.2))
    (target / "benchsettings.py").write_text(
        SETTINGS.format(apps=["django.contrib.staticfiles"]) + STORAGE_BLOCK
    )
    edited = ("assets/synth/css/d000/s000000.css",)
    return Corpus(name, target, "benchsettings", edited, peers=count <= 10_000)


def generate(root: Path, sources: int) -> None:
    rng = random.Random(sources)
    css, js = sources // 5, sources // 10
    images = sources - css - js
    for index in range(images):
        data = rng.randbytes(rng.randint(8000, 38000))
        write(root / "img" / f"d{index % 100:03}" / f"i{index:06}.png", data)
    for index in range(css):
        refs = [rng.randrange(images) for _ in range(3)]
        rules = "".join(
            f'.r{index}_{n} {{ background: url("../../img/d{ref % 100:03}/i{ref:06}.png"); '
            f"margin: {n}px; }}\n"
            for n, ref in enumerate(refs)
        )
        colors = [rng.randrange(4096) for _ in range(20)]
        body = "".join(
            f".c{index}_{n} {{ color: #{c:03x}; padding: {n}px; }}\n" for n, c in enumerate(colors)
        )
        write(root / "css" / f"d{index % 100:03}" / f"s{index:06}.css", (rules + body).encode())
    for index in range(js):
        lines = "".join(f"export const v{n} = {rng.randrange(10**6)} * {n} + {index};\n" for n in range(60))
        write(root / "js" / f"d{index % 100:03}" / f"m{index:06}.js", lines.encode())


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def ballast_keys(prefix: str, count: int) -> list[str]:
    """`count` keys shaped like old releases' files under a live prefix: 1,000 to a release folder."""
    return [
        f"{prefix}old/{n // 1000:03}/file-{hashlib.sha256(str(n).encode()).hexdigest()[:12]}.css"
        for n in range(count)
    ]


def fill_live(
    filer: tuple[str, int], bucket: str, prefix: str, count: int, threads: int = 16
) -> dict[str, Any]:
    """PUT `count` small objects under `prefix` through SeaweedFS's filer (`filer`: host and port), which
    keeps a bucket's objects under /buckets/<bucket>/: no latency proxy, no SigV4, about 4 × boto3's rate
    on these machines (1,300 against 330 objects a second, 2 busy cores)."""
    local = threading.local()

    def put(key: str) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(*filer, timeout=60)
        local.connection.request("PUT", f"/buckets/{bucket}/{quote(key)}", body=b"/*old*/")
        response = local.connection.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"filer PUT {key}: HTTP {response.status}")

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(put, ballast_keys(prefix, count)):
            pass
    seconds = time.perf_counter() - started
    return {"objects": count, "seconds": round(seconds, 2), "per_second": round(count / max(seconds, 1e-9))}
