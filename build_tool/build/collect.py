"""Run Django's collectstatic in-process into a folder, with a local manifest storage forced."""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .scratch import NO_SPACE_HINT, no_space

if TYPE_CHECKING:
    from .cache import CompressionStats
    from .delta import BaseSlot
    from .recipe import Project, Recipe

DEFAULT_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
# What DEFAULT_STORAGE runs as: the same hashed files and manifest; siblings only where they save bytes,
# brotli at quality 10, and a compression cache (build_tool.build.compress, docs/cdn.md).
CACHED_STORAGE = "build_tool.build.compress.CompressedManifestStaticFilesStorage"
ALLOWED_STORAGES = (
    DEFAULT_STORAGE,
    "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
)
STATICFILES_APP = "django.contrib.staticfiles"
POST_PROCESSING = re.compile(r"Post-processing '(.+?)' failed!")
MISSING_TARGET = re.compile(r"The file '(.+?)' could not be found")
OBJECT_REPR = re.compile(r" with <[\w.]+ object at 0x[0-9a-f]+>")
# The compression cache's options for CACHED_STORAGE (see Local.settings).
COMPRESSION_SETTING = "BUILD_TOOL_COMPRESSION"


class SettingsError(Exception):
    """The Django settings module cannot be imported or configured."""


class CollectError(Exception):
    """collectstatic failed; the message names the file when Django or whitenoise did."""


def collect(
    project: Project,
    static_root: Path,
    recipe: Recipe,
    started: Callable[[], bool] = lambda: True,
    base: BaseSlot | None = None,
) -> CompressionStats:
    """collectstatic into `static_root` with the recipe's storage, whatever the project's STORAGES says.

    The local storage is put into the settings before django.setup(), so an app that reads
    `staticfiles_storage` at import or in AppConfig.ready() (Wagtail's admin does) gets it too and
    the project's own static storage (say S3) is never built: no request, no credentials needed.
    whitenoise's storage runs as build_tool.build.compress's subclass: the same files and manifest, with
    siblings only where they save bytes (docs/cdn.md), compressed on every core, and only once per
    content when the recipe's `cache_dir` is kept between builds. `started`
    is called once the settings are loaded, before the (slow) collect, and says whether to collect
    (False: the build takes its base's files, build_tool.build.inputs); `base` (a delta's live
    release) may be filled in until then.
    """
    from django.core.management import call_command

    from .cache import CompressionStats

    stats = CompressionStats()
    local = Local(static_root, backend_for(recipe.storage), recipe.cache_dir, stats, base or _slot())
    with django_with(project, local):
        if not started():
            return stats
        said = io.StringIO()  # collectstatic names the file whose post-processing failed here
        try:
            call_command("collectstatic", interactive=False, verbosity=0, clear=False, stderr=said)
        except Exception as error:
            raise CollectError(f"collectstatic failed: {failure(error, said.getvalue())}") from None
    return stats


def backend_for(storage: str) -> str:
    """The storage class collectstatic runs: whitenoise's as ours (its files, our siblings and cache)."""
    return CACHED_STORAGE if storage == DEFAULT_STORAGE else storage


def failure(error: BaseException, said: str) -> str:
    """One line for a failed collect, naming the file and, for a url() to nothing, its target (Django's
    own ManifestStaticFilesStorage names only the target; whitenoise's adds the CSS file)."""
    processing = POST_PROCESSING.search(said)
    missing = MISSING_TARGET.search(str(error))
    if processing and missing:
        source, target = processing.group(1), missing.group(1)
        return (
            f"{source} refers to {target}, which is not among the static files "
            f"(check the url() and @import paths in {source})"
        )
    if no_space(error):
        return f"no space left for the temporary collect ({getattr(error, 'filename', '')}): {NO_SPACE_HINT}"
    text = OBJECT_REPR.sub("", _one_line(error))
    return f"{processing.group(1)}: {text}" if processing else text


@dataclass(frozen=True)
class Local:
    """Where and how collectstatic writes."""

    static_root: Path
    backend: str
    cache_dir: Path | None
    stats: CompressionStats
    base: BaseSlot = field(default_factory=lambda: _slot())  # a delta's live release: not compressed

    def settings(self, storages: dict[str, object]) -> dict[str, object]:
        """STATIC_ROOT, `storages` (the project's STORAGES) with the staticfiles entry replaced, and the
        compression cache's options. Those go in a setting of their own rather than the entry's
        OPTIONS: Django 4.2 builds the storage from STATICFILES_STORAGE, without OPTIONS, when a
        project still names its storage there."""
        cache_dir = str(self.cache_dir) if self.cache_dir else None
        options = {"cache_dir": cache_dir, "stats": self.stats, "base": self.base}
        return {
            "STATIC_ROOT": str(self.static_root),
            "STORAGES": {**storages, "staticfiles": {"BACKEND": self.backend}},
            COMPRESSION_SETTING: options,
        }


@contextmanager
def django_with(project: Project, local: Local) -> Iterator[None]:
    """Django started on the project's settings, collecting as `local` says.

    Not started yet (the CLI): the settings are written onto the loaded ones before django.setup().
    Already started (`manage.py deploystatic`): they apply through override_settings, which resets
    `staticfiles_storage`; what the apps did while starting is out of our hands there.
    """
    from django.apps import apps
    from django.conf import settings

    if not apps.ready:
        _start(project, local)
        _require_staticfiles(project.settings_module)
        yield
        return
    from django.test.utils import override_settings

    _require_staticfiles(project.settings_module)
    # On Django 4.2 override_settings keeps STATICFILES_STORAGE in step with STORAGES itself.
    with override_settings(**local.settings(getattr(settings, "STORAGES", {}))):
        yield


def _start(project: Project, local: Local) -> None:
    """Import the project's settings (its folder on sys.path, as manage.py would), put the local
    storage into them, then django.setup()."""
    import django
    from django.conf import settings

    settings_module = project.settings_module
    sys.path.insert(0, str(project.folder.resolve()))
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    try:
        for name, value in local.settings(getattr(settings, "STORAGES", {})).items():
            setattr(settings, name, value)
        if django.VERSION < (5, 1):  # what a 4.2 project's STATICFILES_STORAGE is read as
            settings.STATICFILES_STORAGE = local.backend
        django.setup()
    except ImportError as error:
        raise SettingsError(
            f"cannot import settings {settings_module!r} from {project.folder}: {_one_line(error)} "
            "(check --settings and --project-dir)"
        ) from None
    except Exception as error:
        raise SettingsError(f"settings {settings_module!r} failed to load: {_one_line(error)}") from None


def force_local_storage(storage: str = DEFAULT_STORAGE) -> None:
    """Put the local storage into the loaded, not yet set up, settings (STORAGES and, before Django
    5.1, STATICFILES_STORAGE): what `manage.py deploystatic` does while Django starts (static_deploy.apps)."""
    import django
    from django.conf import settings

    backend = backend_for(storage)
    settings.STORAGES = {**getattr(settings, "STORAGES", {}), "staticfiles": {"BACKEND": backend}}
    if django.VERSION < (5, 1):
        settings.STATICFILES_STORAGE = backend
    if not settings.STATIC_ROOT:  # a manifest storage needs one to start; the collect sets its own
        settings.STATIC_ROOT = str(Path(tempfile.gettempdir(), "build_tool-not-collected"))


def _require_staticfiles(settings_module: str) -> None:
    from django.apps import apps

    if not apps.is_installed(STATICFILES_APP):
        raise SettingsError(
            f"settings {settings_module!r} do not install {STATICFILES_APP!r}: add it to INSTALLED_APPS "
            "(collectstatic comes with it)"
        )


def _slot() -> BaseSlot:
    from .delta import BaseSlot

    return BaseSlot()


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return " ".join(text.split())
