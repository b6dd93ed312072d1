"""A delta build whose inputs fingerprint is its base's takes the base's files without collecting; any
change to what the collect reads changes the fingerprint, and the build collects (build_tool.build.inputs).

A wrong skip would deploy stale files, so every kind of input is changed here one at a time.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from build_tool.build.collect import DEFAULT_STORAGE
from build_tool.build.delta import Base
from build_tool.build.release import ReleaseInfo
from staticsync.model.contract import FILES_DIR, MANIFEST_NAME, RELEASE_NAME, parse_release
from tests.functional.test_compress_cache import SETTINGS, write_project
from tests.inprocess import forked

PLAIN_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
# An app config whose ignore patterns add "*.txt" to Django's own.
IGNORING = """
from django.contrib.staticfiles.apps import StaticFilesConfig

class IgnoringConfig(StaticFilesConfig):
    ignore_patterns = ["CVS", ".*", "*~", "*.txt"]
"""


def build(
    folder: Path,
    out: Path,
    base: Base | None,
    *,
    storage: str = DEFAULT_STORAGE,
    always_collect: bool = False,
) -> tuple[bool, bytes]:
    """`build_tool package`'s build of `folder` against `base`, in a forked child (its own Django):
    (whether it collected, the artifact's bytes)."""

    def work() -> tuple[bool, bytes]:
        from build_tool.build.result import Stopwatch
        from build_tool.commands.package import build as pipeline_build
        from build_tool.env import Environment

        args = argparse.Namespace(
            settings="cachesettings",
            project_dir=folder,
            storage=storage,
            cache_dir=None,
            quiet=True,
            json=False,
            always_collect=always_collect,
        )
        env = Environment(stdout=io.StringIO(), stderr=io.StringIO(), environ={})
        work_dir = out.with_suffix(".work")
        work_dir.mkdir()
        watch = Stopwatch()
        info = ReleaseInfo(out.stem, "2026-01-01T00:00:00Z", None)
        packed, _ = pipeline_build(args, env, work_dir, info, lambda: base, watch)
        return "collect" in watch.seconds, packed.path.read_bytes()

    return forked(work)


def base_of(artifact: bytes, release: str = "r1") -> Base:
    """The live release a full build of `artifact` makes, as build.delta.base_of reads it."""
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        record = parse_release(archive.read(RELEASE_NAME))
        manifest = archive.read(MANIFEST_NAME)
    return Base(release, record.files, record.inputs, manifest)


def members(artifact: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        return {name for name in archive.namelist() if name.startswith(FILES_DIR)}


def record_of(artifact: bytes) -> dict[str, object]:
    import json

    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        return dict(json.loads(archive.read(RELEASE_NAME)))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """test_compress_cache's project, with a second source folder whose js/app.js is shadowed by the
    first's (collectstatic takes the first finder's file) and a text file the ignore patterns may drop."""
    folder = write_project(tmp_path / "project")
    (folder / "extra" / "js").mkdir(parents=True)
    (folder / "extra" / "js" / "app.js").write_text("function shadowed() {}\n" * 100)
    (folder / "assets" / "notes.txt").write_text("notes\n")
    extra = 'STATICFILES_DIRS = [Path(__file__).parent / "assets", Path(__file__).parent / "extra"]\n'
    (folder / "cachesettings.py").write_text(SETTINGS + extra)
    return folder


def edit_settings(folder: Path, old: str, new: str) -> None:
    settings = folder / "cachesettings.py"
    text = settings.read_text()
    assert old in text
    settings.write_text(text.replace(old, new))


def one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-2] ^= 1  # the last "}" becomes "|": the same size
    path.write_bytes(bytes(data))


def ignore_txt(folder: Path) -> None:
    (folder / "ignoring.py").write_text(IGNORING)
    edit_settings(folder, '"django.contrib.staticfiles"', '"ignoring.IgnoringConfig"')


CHANGES: dict[str, Callable[[Path], object]] = {
    "one source byte": lambda f: one_byte(f / "assets" / "css" / "same.css"),
    "a new source file": lambda f: (f / "assets/js/new.js").write_text("new\n"),
    "a removed source file": lambda f: (f / "assets/js/tiny.js").unlink(),
    "STATIC_URL": lambda f: edit_settings(f, 'STATIC_URL = "/static/"', 'STATIC_URL = "/assets/"'),
    "an ignore pattern": ignore_txt,
    "a shadowed duplicate unshadowed": lambda f: (f / "assets/js/app.js").unlink(),
}


@pytest.fixture
def r1(project: Path, tmp_path: Path) -> Base:
    collected, artifact = build(project, tmp_path / "r1.zip", None)
    assert collected and record_of(artifact)["inputs"]
    return base_of(artifact)


def test_a_build_whose_inputs_are_the_base_s_takes_its_files_without_collecting(
    project: Path, tmp_path: Path, r1: Base
) -> None:
    collected, artifact = build(project, tmp_path / "r2.zip", r1)
    full_collected, full = build(project, tmp_path / "full.zip", None)
    assert (collected, full_collected) == (False, True)
    assert members(artifact) == set()
    with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
        assert archive.read(MANIFEST_NAME) == r1.manifest
    # The record a collecting build of r2 writes, but for the base it names and the bytes it packs.
    delta, whole = record_of(artifact), record_of(full)
    assert (delta.pop("base"), delta.pop("total_bytes")) == ("r1", 0)
    assert delta.pop("release") == "r2" and whole.pop("release") == "full"
    whole.pop("total_bytes")
    assert delta == whole and delta["files"] == dict(r1.files) and delta["inputs"] == r1.inputs


def test_a_shadowed_file_is_not_an_input(project: Path, tmp_path: Path, r1: Base) -> None:
    (project / "extra" / "js" / "app.js").write_text("function stillShadowed() {}\n")
    collected, artifact = build(project, tmp_path / "r2.zip", r1)
    assert not collected and record_of(artifact)["inputs"] == r1.inputs


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_changing_any_one_input_changes_the_fingerprint_and_the_build_collects(
    project: Path, tmp_path: Path, r1: Base, change: str
) -> None:
    CHANGES[change](project)
    collected, artifact = build(project, tmp_path / "r2.zip", r1)
    assert collected, f"{change}: not collected"
    assert record_of(artifact)["inputs"] != r1.inputs


def test_another_storage_changes_the_fingerprint_and_the_build_collects(
    project: Path, tmp_path: Path, r1: Base
) -> None:
    collected, artifact = build(project, tmp_path / "r2.zip", r1, storage=PLAIN_STORAGE)
    assert collected and record_of(artifact)["inputs"] != r1.inputs


def test_always_collect_collects_though_the_inputs_are_the_base_s(
    project: Path, tmp_path: Path, r1: Base
) -> None:
    from build_tool import cli

    parsed = cli.parser().parse_args(["package", "--settings", "s", "--output", "x.zip", "--always-collect"])
    assert parsed.always_collect
    collected, artifact = build(project, tmp_path / "r2.zip", r1, always_collect=True)
    assert collected and record_of(artifact)["inputs"] == r1.inputs
    assert members(artifact) == set()  # still a delta: nothing changed, nothing packed


@pytest.mark.parametrize("inputs", [None, "a" * 64])
def test_the_record_carries_the_fingerprint_only_when_there_is_one(inputs: str | None) -> None:
    from staticsync.model.contract import ReleaseRecord

    record = ReleaseRecord("r1", "2026-01-01T00:00:00Z", {"a.css": "0" * 64}, "0" * 64, inputs=inputs)
    data = record.to_json(1)
    assert (b'"inputs"' in data) == (inputs is not None)
    assert parse_release(data) == record


@pytest.mark.parametrize("inputs", ["A" * 64, "a" * 63, 7])
def test_a_record_whose_inputs_is_not_a_hex_sha256_is_rejected(inputs: object) -> None:
    import json

    from staticsync.errors import ArtifactRejected
    from staticsync.model.contract import ReleaseRecord

    record = ReleaseRecord("r1", "2026-01-01T00:00:00Z", {"a.css": "0" * 64}, "0" * 64)
    document = {**json.loads(record.to_json(1)), "inputs": inputs}
    with pytest.raises(ArtifactRejected, match="inputs"):
        parse_release(json.dumps(document).encode())
