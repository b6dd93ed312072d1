"""Run Django's collectstatic in-process into a folder, with a local manifest storage forced."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cache import CompressionStats

DEFAULT_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
# What DEFAULT_STORAGE runs as: the same output bytes, with a compression cache (build_tool.compress).
CACHED_STORAGE = "build_tool.compress.CompressedManifestStaticFilesStorage"
ALLOWED_STORAGES = (
    DEFAULT_STORAGE,
    "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
)


class SettingsError(Exception):
    """The Django settings module cannot be imported or configured."""


class CollectError(Exception):
    """collectstatic failed; the message names the file when Django or whitenoise did."""


def setup_django(settings_module: str, project_dir: Path) -> None:
    """Import the project's settings, with its folder on sys.path as manage.py would put it."""
    sys.path.insert(0, str(project_dir.resolve()))
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    try:
        import django

        django.setup()
    except ImportError as error:
        raise SettingsError(
            f"cannot import settings {settings_module!r} from {project_dir}: {error} "
            "(check --settings and --project-dir)"
        ) from None
    except Exception as error:
        raise SettingsError(f"settings {settings_module!r} failed to load: {error}") from None


def collect(static_root: Path, storage: str, cache_dir: Path | None = None) -> CompressionStats:
    """collectstatic into `static_root` with `storage`, whatever the project's STORAGES says.

    Overriding the settings (not instantiating a storage ourselves) means nothing ever builds the
    project's own static storage, so an S3 storage there makes no request. whitenoise's storage is
    run as build_tool.compress's subclass: the same bytes, compressed on every core, and only once
    per content when `cache_dir` is kept between builds.
    """
    import django
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import override_settings

    from .cache import CompressionStats

    stats = CompressionStats()
    backend: dict[str, object] = {"BACKEND": storage}
    if storage == DEFAULT_STORAGE:
        options = {"cache_dir": str(cache_dir) if cache_dir else None, "stats": stats}
        backend = {"BACKEND": CACHED_STORAGE, "OPTIONS": options}
    storages = {**getattr(settings, "STORAGES", {}), "staticfiles": backend}
    overrides: dict[str, object] = {"STORAGES": storages, "STATIC_ROOT": str(static_root)}
    if django.VERSION < (5, 1):
        overrides["STATICFILES_STORAGE"] = backend["BACKEND"]
    try:
        with override_settings(**overrides):
            call_command("collectstatic", interactive=False, verbosity=0, clear=False)
    except Exception as error:
        raise CollectError(f"collectstatic failed: {_first_line(error)}") from None
    return stats


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())
