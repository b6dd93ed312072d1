"""The example project collects with a local manifest storage, whatever its STORAGES says."""

from __future__ import annotations

import gzip
import json
import os
import posixpath
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "example"

# Run with `python -c` so that the working directory (example/) is on sys.path.
COLLECT_SCRIPT = """
import json, sys
import django
from django.conf import settings
from django.core.management import call_command
from django.test.utils import override_settings

django.setup()
local = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
with override_settings(
    STORAGES={**settings.STORAGES, "staticfiles": local}, STATIC_ROOT=sys.argv[1]
):
    call_command("collectstatic", interactive=False, verbosity=0)
aws = sorted(m for m in sys.modules if m.partition(".")[0] in {"boto3", "botocore", "storages"})
print(json.dumps(aws))
"""


def offline_env() -> dict[str, str]:
    """Environment in which any S3 call fails at once: dummy keys, a closed loopback port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="exampleproject.settings",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:9",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def run_in_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=EXAMPLE_DIR,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


class Collected:
    def __init__(self, root: Path, aws_modules: list[str]) -> None:
        self.root = root
        self.aws_modules = aws_modules
        self.manifest: dict[str, str] = json.loads((root / "staticfiles.json").read_text())["paths"]

    def hashed_path(self, name: str) -> Path:
        return self.root / self.manifest[name]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Collected:
    root = tmp_path_factory.mktemp("staticfiles")
    result = run_in_example("-c", COLLECT_SCRIPT, str(root))
    assert result.returncode == 0, result.stderr
    return Collected(root, json.loads(result.stdout))


@pytest.mark.parametrize(
    ("referrer", "referenced"),
    [
        ("shop/css/site.css", "shop/img/logo.png"),
        ("shop/css/site.css", "shop/img/icon.svg"),
        ("shop/css/site.css", "shop/fonts/example.woff2"),
        ("shop/css/site.css", "shop/css/base.css"),
        ("shop/js/app.js", "shop/js/app.js.map"),
    ],
)
def test_hashed_files_reference_the_hashed_names_of_what_they_use(
    collected: Collected, referrer: str, referenced: str
) -> None:
    hashed_name = posixpath.basename(collected.manifest[referenced])
    assert hashed_name != posixpath.basename(referenced)
    assert hashed_name in collected.hashed_path(referrer).read_text()


@pytest.mark.parametrize(
    "name", ["shop/css/site.css", "shop/css/vendor.css", "shop/js/app.js", "shop/js/module.mjs"]
)
def test_css_and_js_get_gzip_and_brotli_siblings(collected: Collected, name: str) -> None:
    hashed = collected.hashed_path(name)
    gz = hashed.with_name(hashed.name + ".gz")
    assert gzip.decompress(gz.read_bytes()) == hashed.read_bytes()
    assert hashed.with_name(hashed.name + ".br").is_file()


@pytest.mark.parametrize("name", ["robots.txt", "favicon.ico"])
def test_root_level_assets_are_collected_under_their_own_names(collected: Collected, name: str) -> None:
    assert (collected.root / name).is_file()
    assert (EXAMPLE_DIR / "assets" / name).read_bytes() == (collected.root / name).read_bytes()


def test_admin_static_files_are_collected_too(collected: Collected) -> None:
    assert "admin/css/base.css" in collected.manifest


def test_collect_never_loads_the_s3_backend_or_boto3(collected: Collected) -> None:
    assert collected.aws_modules == []


def test_the_s3_settings_pass_system_checks_without_aws() -> None:
    result = run_in_example("manage.py", "check")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
