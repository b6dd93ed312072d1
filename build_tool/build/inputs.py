"""The inputs fingerprint: one SHA-256 of everything a collect's output depends on, taken once Django
has started, so that a delta build whose inputs are its base's takes the base's files rather than
collecting them again (docs/artifact.md, `inputs`).

A wrong match would deploy stale files, so it errs one way only: everything that could change the
output goes in (the sources as collectstatic itself finds them, the storage and its settings, the
versions of Django, whitenoise, the encoders and this package's build code), and where something cannot
be pinned down (a project's own collectstatic, an unreadable source) there is no fingerprint, and the
build collects.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from staticsync.model import contract

# A new value makes every earlier fingerprint differ: change it whenever what goes in changes.
FORMAT = "build_tool inputs 1"
# The storage's attributes that shape its output (Django's ManifestStaticFilesStorage, whitenoise's).
STORAGE_ATTRIBUTES = (
    "base_url",
    "manifest_name",
    "manifest_version",
    "manifest_strict",
    "max_post_process_passes",
    "keep_intermediate_files",
    "keep_only_hashed_files",
    "support_js_module_import_aggregation",
    "patterns",
)
# Settings read while collecting besides the storage's own and every WHITENOISE_* (FORCE_SCRIPT_NAME
# prefixes STATIC_URL).
SETTINGS = ("STATIC_URL", "FORCE_SCRIPT_NAME")
# The code the artifact's bytes come from, besides Django's and whitenoise's: this folder, and the
# contract's path and sibling rules.
CODE = (Path(__file__).parent, Path(contract.__file__).parent)
DISTRIBUTIONS = ("Django", "whitenoise", "Brotli")


def fingerprint(storage_name: str) -> str | None:
    """The SHA-256 of the collect's inputs with `storage_name` (the --storage chosen) in force, or None
    when they cannot all be named (then the build collects)."""
    found = source_digests()
    if found is None:
        return None
    digest = hashlib.sha256(FORMAT.encode())
    digest.update(_line(["setup", setup(storage_name)]))
    for path, sha256 in sorted(found.items()):
        digest.update(_line([path, sha256]))
    return digest.hexdigest()


def setup(storage_name: str) -> dict[str, Any]:
    """Everything but the sources: the storage and its settings, the encoders, the versions, the code."""
    from django.conf import settings
    from django.contrib.staticfiles.storage import staticfiles_storage

    from .cache import encoder_identity
    from .compress import MAX_SIBLING_RATIO, MIN_SIBLING_SIZE

    storage = staticfiles_storage  # a lazy object: built on first use, as collectstatic builds it
    kind = storage.__class__  # the storage's class, not the lazy object's
    whitenoise = {name: getattr(settings, name) for name in dir(settings) if name.startswith("WHITENOISE_")}
    return stable(
        {
            "storage": storage_name,
            "class": [f"{c.__module__}.{c.__qualname__}" for c in kind.__mro__],
            "attributes": {name: getattr(storage, name, None) for name in STORAGE_ATTRIBUTES},
            "settings": {name: getattr(settings, name, None) for name in SETTINGS} | whitenoise,
            "siblings": [MIN_SIBLING_SIZE, MAX_SIBLING_RATIO],
            "encoders": encoder_identity(),
            "versions": {name: _version(name) for name in DISTRIBUTIONS},
            "python": sys.version,
            "code": code_digest(),
        }
    )


def source_digests() -> dict[str, str] | None:
    """{prefixed path: SHA-256} of every file collectstatic would collect, found as its own collect()
    finds them: the command call_command runs, its default options and ignore patterns, every finder
    in order, the first file for a prefixed path winning. None for a project's own collectstatic (it
    may find otherwise) or a source that cannot be read (the collect reports it)."""
    command = _command()
    if command is None:
        return None
    try:
        return {prefixed: _sha256(storage, path) for prefixed, (storage, path) in sources(command).items()}
    except OSError:
        return None


def sources(command: Any) -> dict[str, tuple[Any, str]]:
    """{prefixed path: (source storage, path)}, as Command.collect() builds its `found_files`."""
    from django.contrib.staticfiles.finders import get_finders

    found: dict[str, tuple[Any, str]] = {}
    for finder in get_finders():
        for path, storage in finder.list(command.ignore_patterns):
            prefix = getattr(storage, "prefix", None)
            prefixed = os.path.join(prefix, path) if prefix else path
            if prefixed not in found:  # the first finder's file wins; collectstatic ignores the rest
                found[prefixed] = (storage, path)
    return found


def _command() -> Any | None:
    """Django's collectstatic with the options build.collect runs it with, or None when the project
    installs a collectstatic of its own."""
    from django.contrib.staticfiles.management.commands.collectstatic import Command
    from django.core.management import get_commands, load_command_class

    app = get_commands().get("collectstatic")
    command = load_command_class(app, "collectstatic") if isinstance(app, str) else app
    if type(command) is not Command:
        return None
    options = vars(command.create_parser("", "collectstatic").parse_args([]))
    command.set_options(**{**options, "interactive": False, "verbosity": 0, "clear": False})
    return command


def _sha256(storage: Any, path: str) -> str:
    try:
        with open(storage.path(path), "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except NotImplementedError:  # a source storage without local paths
        with storage.open(path) as handle:
            return hashlib.sha256(handle.read()).hexdigest()


def code_digest() -> str:
    """The SHA-256 of the build code's source (build_tool/build and staticsync/model)."""
    digest = hashlib.sha256()
    for folder in CODE:
        for file in sorted(folder.glob("*.py")):
            source = hashlib.sha256(file.read_bytes()).hexdigest()
            digest.update(_line([f"{folder.name}/{file.name}", source]))
    return digest.hexdigest()


def stable(value: Any) -> Any:
    """`value` as JSON that says the same thing in every process: no object addresses."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(key): stable(item) for key, item in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [stable(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(json.dumps(stable(item), sort_keys=True) for item in value)
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__name__)}"
    text = repr(value)
    return f"{type(value).__module__}.{type(value).__qualname__}" if " at 0x" in text else text


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _line(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode() + b"\n"
