"""The Django app: `manage.py deploystatic` is `build_tool package` configured from STATIC_DEPLOY, and
PinnedManifestStaticFilesStorage renders the names of the release the app was built with."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import OFFLINE, PROJECTS, ROOT, cli, forked

TOUCHY = PROJECTS / "touchy"
PINNED = "static_deploy.storage.PinnedManifestStaticFilesStorage"


def in_touchy(settings_module: str, work: Any) -> Any:
    """work() in a forked child where Django is set up on `settings_module`, as manage.py would."""

    def child() -> Any:
        import django

        for key in [k for k in os.environ if k.startswith(("AWS_", "DJANGO_"))]:
            del os.environ[key]
        os.environ.update(OFFLINE, DJANGO_SETTINGS_MODULE=settings_module)
        os.chdir(TOUCHY)
        sys.path.insert(0, str(TOUCHY))
        sys.argv = ["manage.py", "deploystatic"]
        django.setup()
        return work()

    return forked(child)


def deploystatic(*args: str, **options: Any) -> tuple[int, str, str]:
    """call_command("deploystatic", ...): (exit code, stdout, stderr)."""
    from django.core.management import call_command

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("deploystatic", *args, stdout=out, stderr=err, **options)
    except SystemExit as exit:
        return int(exit.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_deploystatic_packages_with_the_release_from_static_deploy(tmp_path: Path) -> None:
    out = tmp_path / "a.zip"
    code, stdout, stderr = in_touchy(
        "touchysettings_deploy", lambda: deploystatic("--output", str(out), "--json")
    )
    assert code == 0, stderr
    assert json.loads(stdout)["release"] == "touchy1"
    assert "static/touchy/css/app.css" in zipfile.ZipFile(out).namelist()


def test_deploystatic_has_the_same_exit_codes(tmp_path: Path) -> None:
    # STATIC_DEPLOY names the bucket; with no credentials that is the AWS code, before collecting.
    code, _, stderr = in_touchy("touchysettings_deploy", deploystatic)
    assert code == 6 and stderr.count("\n") == 1 and "no AWS credentials" in stderr
    code, _, stderr = in_touchy("touchysettings_deploy", lambda: deploystatic("--prefix", "staging"))
    assert code == 2 and "must end with '/'" in stderr


def test_an_unknown_static_deploy_key_is_a_settings_error(tmp_path: Path) -> None:
    def typo() -> tuple[int, str, str]:
        from django.conf import settings

        settings.STATIC_DEPLOY = {**settings.STATIC_DEPLOY, "bukket": "x"}
        return deploystatic("--output", str(tmp_path / "a.zip"))

    code, _, stderr = in_touchy("touchysettings_deploy", typo)
    assert code == 3 and "unknown keys ['bukket']" in stderr


def test_manage_py_deploystatic_exits_with_the_documented_code(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))}
    env.update(OFFLINE, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "lambda_fn")]))
    done = subprocess.run(
        [sys.executable, "manage.py", "deploystatic"],
        cwd=TOUCHY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 6 and "Traceback" not in done.stderr, done.stderr


@pytest.fixture
def pin_file(tmp_path: Path) -> Path:
    """What `build_tool package --pin-file` writes for the touchy project, release r1."""
    pin = tmp_path / "release.jsonl"
    args = ["package", "--settings", "touchysettings", "--project-dir", str(TOUCHY), "--release", "r1"]
    done = cli([*args, "--output", str(tmp_path / "a.zip"), "--pin-file", str(pin)], tmp_path)
    assert done.returncode == 0, done.stderr
    return pin


def manifest_of(pin: Path) -> dict[str, str]:
    return dict(json.loads(pin.read_bytes().split(b"\n")[1])["paths"])


def pinned_site(static_deploy: dict[str, Any], *names: str) -> list[str]:
    """The URLs a site configured with the pinned storage renders for `names` (or the error)."""

    def child() -> list[str]:
        import django
        from django.conf import settings

        settings.configure(
            INSTALLED_APPS=["django.contrib.staticfiles"],
            STATIC_URL="https://cdn.example.com/static/",
            STORAGES={"staticfiles": {"BACKEND": PINNED}},
            STATIC_DEPLOY=static_deploy,
        )
        django.setup()
        from django.templatetags.static import static

        urls = []
        for name in names:
            try:
                urls.append(static(name))
            except Exception as error:
                urls.append(f"{type(error).__name__}: {error}")
        return urls

    return forked(child)


def test_the_pinned_storage_renders_the_names_of_its_own_release_from_the_pin_file(pin_file: Path) -> None:
    hashed = manifest_of(pin_file)["touchy/css/app.css"]
    assert hashed != "touchy/css/app.css"
    urls = pinned_site({"pin_file": str(pin_file), "release": "r1"}, "touchy/css/app.css", "touchy/new.css")
    assert urls[0] == f"https://cdn.example.com/static/{hashed}"
    assert urls[1].startswith(
        "ValueError: Missing staticfiles manifest entry"
    )  # never another release's name


def test_without_manifest_strict_a_name_the_release_lacks_renders_unhashed_as_the_bucket_serves_it(
    pin_file: Path,
) -> None:
    """django-jazzmin renders `{% static 'vendor/bootswatch' %}` (a folder): it must not raise."""
    hashed = manifest_of(pin_file)["touchy/css/app.css"]
    config = {"pin_file": str(pin_file), "release": "r1", "manifest_strict": False}
    urls = pinned_site(config, "touchy/css/app.css", "vendor/bootswatch")
    assert urls == [
        f"https://cdn.example.com/static/{hashed}",
        "https://cdn.example.com/static/vendor/bootswatch",
    ]


def test_a_pin_file_of_another_release_is_refused(pin_file: Path) -> None:
    urls = pinned_site({"pin_file": str(pin_file), "release": "r2"}, "touchy/css/app.css")
    assert urls[0].startswith("ImproperlyConfigured") and "is release 'r1'" in urls[0]


def test_the_pinned_storage_reads_its_release_history_from_the_live_bucket(
    pin_file: Path, moto_s3: Any
) -> None:
    moto_s3.put_object(Bucket="live", Key="static/.releases/r1/history.jsonl", Body=pin_file.read_bytes())
    config = {"release": "r1", "live_bucket": "live", "live_prefix": "static/"}
    hashed = manifest_of(pin_file)["touchy/css/app.css"]
    assert pinned_site(config, "touchy/css/app.css") == [f"https://cdn.example.com/static/{hashed}"]
    missing = pinned_site({**config, "release": "r9"}, "touchy/css/app.css")
    assert "ImproperlyConfigured" in missing[0] and "not deployed yet" in missing[0]


def test_a_pin_file_whose_manifest_line_is_another_releases_is_refused(pin_file: Path) -> None:
    record, manifest, _ = pin_file.read_bytes().split(b"\n")
    other = json.loads(manifest)
    other["paths"]["touchy/css/app.css"] = "touchy/css/app.0123456789ab.css"  # another build's name
    pin_file.write_bytes(b"\n".join([record, json.dumps(other).encode(), b""]))
    urls = pinned_site({"pin_file": str(pin_file)}, "touchy/css/app.css")
    assert urls[0].startswith("ImproperlyConfigured") and "line 2 is not the manifest release r1" in urls[0]


def test_the_pinned_storage_refuses_to_start_on_a_release_retention_pruned(
    pin_file: Path, moto_s3: Any
) -> None:
    moto_s3.put_object(Bucket="live", Key="static/.releases/r1/history.jsonl", Body=pin_file.read_bytes())
    config = {"release": "r1", "live_bucket": "live", "live_prefix": "static/"}
    assert pinned_site(config, "touchy/css/app.css")[0].startswith("https://cdn.example.com/static/touchy/")
    tombstone = {"format": 1, "live": "r7", "pruned_at": "2026-03-01T00:00:00Z", "release": "r1"}
    moto_s3.put_object(Bucket="live", Key="static/.releases/r1/pruned.json", Body=json.dumps(tombstone))
    for pinned in (config, {"pin_file": str(pin_file), "live_bucket": "live", "live_prefix": "static/"}):
        [refused] = pinned_site(pinned, "touchy/css/app.css")
        assert refused.startswith("ImproperlyConfigured: release r1 was pruned by retention at 2026-03-01")
        assert "s3://live/static/.releases/r1/pruned.json" in refused
