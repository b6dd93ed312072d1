"""A storage for the running site that renders the hashed names of its own release, not the live one's.

The live `staticfiles.json` names the release deployed last. A site that reads it (django-storages'
S3ManifestStaticStorage, say) renders that release's names whatever code it runs: during a rolling
deploy the old app renders new names and the new app old ones, and an app rollback keeps rendering the
newer release's. `PinnedManifestStaticFilesStorage` loads, once at start, the manifest of the release
the app was built with instead:

- `pin_file`: the file `build_tool package --pin-file PATH` (or `manage.py deploystatic --pin-file`)
  wrote next to the app's code, shipped in the app's image; no network, no credentials;
- else `release` and `live_bucket` (and `live_prefix`, `history_prefix` as the Lambda has them): line 2
  of `<live_prefix><history_prefix><release>/history.jsonl` in the live bucket (needs s3:GetObject on
  it). The Lambda writes that object before the cutover, so the release's files are all there by then.

Options come from the STORAGES entry's OPTIONS, else from settings.STATIC_DEPLOY. Nothing is ever
deleted from the live bucket, so an old release's names keep working after newer deploys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.core.exceptions import ImproperlyConfigured

from static_deploy.config import static_deploy

HISTORY_NAME = "history.jsonl"  # staticsync.live.state.HISTORY_NAME: line 1 the record, line 2 the manifest


class PinnedManifestStaticFilesStorage(ManifestStaticFilesStorage):
    """ManifestStaticFilesStorage whose manifest is the pinned release's (see the module docstring).

    manifest_strict stays on: a name the release does not have raises rather than falling back to
    an unhashed or another release's name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        config = static_deploy()
        pin: dict[str, Any] = {}
        for key in ("pin_file", "release", "live_bucket", "live_prefix", "history_prefix"):
            pin[key] = kwargs.pop(key, None) or config.get(key)
        self.pin = pin
        self.release: str | None = None
        super().__init__(*args, **kwargs)

    def read_manifest(self) -> str:
        record, manifest = _two_lines(self._history(), self._source())
        release = json.loads(record).get("release")
        if self.pin["release"] and release != self.pin["release"]:
            raise ImproperlyConfigured(
                f"{self._source()} is release {release!r}, but STATIC_DEPLOY['release'] says "
                f"{self.pin['release']!r}: rebuild the pin file with this commit's `build_tool package`"
            )
        self.release = release
        return manifest

    def _source(self) -> str:
        if self.pin["pin_file"]:
            return str(self.pin["pin_file"])
        return f"s3://{self.pin['live_bucket']}/{self._history_key()}"

    def _history_key(self) -> str:
        prefix = self.pin["live_prefix"] or ""
        history = self.pin["history_prefix"] or ".releases/"
        return f"{prefix}{history}{self.pin['release']}/{HISTORY_NAME}"

    def _history(self) -> bytes:
        if self.pin["pin_file"]:
            try:
                return Path(self.pin["pin_file"]).read_bytes()
            except FileNotFoundError:
                raise ImproperlyConfigured(
                    f"pin file {self.pin['pin_file']} is missing: write it with `build_tool package "
                    "--pin-file` before building the app"
                ) from None
        if not (self.pin["release"] and self.pin["live_bucket"]):
            raise ImproperlyConfigured(
                "PinnedManifestStaticFilesStorage needs STATIC_DEPLOY['pin_file'], or "
                "STATIC_DEPLOY['release'] and STATIC_DEPLOY['live_bucket']"
            )
        return _get(self.pin["live_bucket"], self._history_key())


def _two_lines(history: bytes, source: str) -> tuple[str, str]:
    lines = history.decode("utf-8").split("\n")
    if len(lines) < 2 or not lines[1].strip():
        raise ImproperlyConfigured(f"{source} is not a release history (line 1 record, line 2 manifest)")
    return lines[0], lines[1]


def _get(bucket: str, key: str) -> bytes:
    import boto3
    from botocore.exceptions import ClientError

    try:
        return bytes(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404"):
            raise ImproperlyConfigured(
                f"s3://{bucket}/{key} does not exist: this release's static files are not deployed yet "
                "(deploy them before the app, or ship a pin file)"
            ) from None
        raise
