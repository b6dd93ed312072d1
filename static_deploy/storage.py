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
  `<live_prefix><history_prefix>*`). An inline deploy writes that object after the release's
  content-addressed files, so they are all there by then. A sharded deploy (Step Functions) writes it
  before its shards upload them, with the metadata `sharded: true`: for such a record the storage also
  reads `<history_prefix><release>/complete.json` (one more GET), which the deploy's finish step writes
  once every shard is done, and refuses to start without it.

Either way line 1 (the release record) and line 2 (the manifest) must be one release's: the record's
`manifest_sha256` is the SHA-256 of line 2, so a file merged from two releases is refused.

The live bucket does not keep every release: retention prunes releases older than the retained ones
(docs/operations.md), unless a pin request keeps the release for the app. Before it deletes any file of
a release, the prune pass writes the release's tombstone, `<history_prefix><release>/pruned.json`.
With `live_bucket` set (also beside `pin_file`), the storage reads it at start (one more GET) and
refuses to start on a pruned release rather than render names that 404. A `pin_file` alone cannot
know: an image shipped with one must be pinned (a pin request that outlives the image's use) or run
only while its release is retained.

Options come from the STORAGES entry's OPTIONS, else from settings.STATIC_DEPLOY.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.core.exceptions import ImproperlyConfigured

from static_deploy.config import static_deploy
from staticsync.errors import ArtifactRejected
from staticsync.model.contract import ReleaseRecord, parse_release
from staticsync.model.pins import TOMBSTONE_NAME
from staticsync.sharded.complete import COMPLETE_NAME, is_sharded, names_release

HISTORY_NAME = "history.jsonl"  # staticsync.live.state.HISTORY_NAME: line 1 the record, line 2 the manifest
# Without s3:ListBucket, S3 answers a GET of a missing key with 403, not 404. The storage may GET
# everything under the history prefix (it has just read the release's history there), so a 403 on
# the tombstone beside it means there is none.
ABSENT = frozenset({"NoSuchKey", "404", "AccessDenied", "403"})


class PinnedManifestStaticFilesStorage(ManifestStaticFilesStorage):
    """ManifestStaticFilesStorage whose manifest is the pinned release's (see the module docstring).

    manifest_strict stays on by default: a name the release does not have raises rather than falling
    back to an unhashed or another release's name. With `manifest_strict: False` (OPTIONS or
    STATIC_DEPLOY, as django-jazzmin's `{% static 'vendor/bootswatch' %}` of a folder needs), such a
    name renders unhashed: the URL the live bucket serves, never a hash of a local file that the running
    site does not have.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        config = static_deploy()
        pin: dict[str, Any] = {}
        for key in ("pin_file", "release", "live_bucket", "live_prefix", "history_prefix"):
            pin[key] = kwargs.pop(key, None) or config.get(key)
        self.pin = pin
        self.release: str | None = None
        self._s3: Any = None
        strict = kwargs.pop("manifest_strict", config.get("manifest_strict"))
        super().__init__(*args, **kwargs)
        if strict is not None:
            self.manifest_strict = bool(strict)

    def stored_name(self, name: str) -> str:
        """The release's hashed name; without manifest_strict, a name it lacks renders as itself (the
        running site has no collected files to hash, and the bucket serves the name unhashed)."""
        if (
            not self.manifest_strict
            and self.hashed_files.get(self.hash_key(urlsplit(unquote(name)).path.strip())) is None
        ):
            return name
        return str(super().stored_name(name))

    def read_manifest(self) -> str:
        record, manifest = whole_history(self._history(), self._source())
        if self.pin["release"] and record.release != self.pin["release"]:
            raise ImproperlyConfigured(
                f"{self._source()} is release {record.release!r}, but STATIC_DEPLOY['release'] says "
                f"{self.pin['release']!r}: rebuild the pin file with this commit's `build_tool package`"
            )
        if self.pin["live_bucket"]:
            self._refuse_if_pruned(record.release)
        self.release = record.release
        return manifest

    def _source(self) -> str:
        if self.pin["pin_file"]:
            return str(self.pin["pin_file"])
        return f"s3://{self.pin['live_bucket']}/{self._history_key(self.pin['release'], HISTORY_NAME)}"

    def _history_key(self, release: str, name: str) -> str:
        prefix = self.pin["live_prefix"] or ""
        history = self.pin["history_prefix"] or ".releases/"
        return f"{prefix}{history}{release}/{name}"

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
        found = self._get_object(self._history_key(self.pin["release"], HISTORY_NAME))
        if found is None:
            raise ImproperlyConfigured(
                f"{self._source()} does not exist: this release's static files are not deployed yet "
                "(deploy them before the app, or ship a pin file)"
            )
        history, metadata = found
        if is_sharded(metadata):
            self._refuse_unless_complete(self.pin["release"])
        return history

    def _refuse_unless_complete(self, release: str) -> None:
        """ImproperlyConfigured unless a sharded deploy of `release` marked it complete: its history
        record is written before its shards upload the files, so the record alone proves nothing."""
        key = self._history_key(release, COMPLETE_NAME)
        marker = self._get(key, absent=ABSENT)
        if marker is not None and names_release(marker, release):
            return
        raise ImproperlyConfigured(
            f"release {release} is still being deployed in shards: s3://{self.pin['live_bucket']}/{key}, "
            "which its finish step writes once every file is uploaded, is not there yet, so this app could "
            "render names that 404. Start the app once that deploy has finished (its report says "
            "deployed), or, if it failed, at a release whose deploy did"
        )

    def _refuse_if_pruned(self, release: str) -> None:
        """ImproperlyConfigured when retention marked `release` pruned: its files may already be gone."""
        key = self._history_key(release, TOMBSTONE_NAME)
        tombstone = self._get(key, absent=ABSENT)
        if tombstone is None:
            return
        when = json.loads(tombstone).get("pruned_at", "?") if tombstone.startswith(b"{") else "?"
        raise ImproperlyConfigured(
            f"release {release} was pruned by retention at {when} (s3://{self.pin['live_bucket']}/{key}): "
            "its static files are no longer kept, so this app would render names that 404. Deploy the app "
            "at a retained release (`build_tool status` lists them), and pin the releases apps may roll "
            "back to"
        )

    def _get(self, key: str, absent: frozenset[str] = frozenset({"NoSuchKey", "404"})) -> bytes | None:
        found = self._get_object(key, absent)
        return None if found is None else found[0]

    def _get_object(
        self, key: str, absent: frozenset[str] = frozenset({"NoSuchKey", "404"})
    ) -> tuple[bytes, dict[str, str]] | None:
        """The live bucket's object at `key` and its user metadata, or None when S3 says (with one of
        `absent`'s codes) there is none. One client for every read (history, complete marker,
        tombstone), made when first needed."""
        import boto3
        from botocore.exceptions import ClientError

        self._s3 = self._s3 or boto3.client("s3")
        try:
            response = self._s3.get_object(Bucket=self.pin["live_bucket"], Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") in absent:
                return None
            raise
        return bytes(response["Body"].read()), dict(response.get("Metadata", {}))


def whole_history(history: bytes, source: str) -> tuple[ReleaseRecord, str]:
    """The record (line 1) and manifest (line 2) of one release: the record's `manifest_sha256` is
    line 2's SHA-256, so lines of two releases put together are refused."""
    lines = history.split(b"\n")
    if len(lines) < 2 or not lines[1].strip():
        raise ImproperlyConfigured(f"{source} is not a release history (line 1 record, line 2 manifest)")
    try:
        record = parse_release(lines[0])
    except ArtifactRejected as error:
        raise ImproperlyConfigured(f"{source}: line 1 is not a release record ({error})") from None
    if hashlib.sha256(lines[1]).hexdigest() != record.manifest_sha256:
        raise ImproperlyConfigured(
            f"{source}: line 2 is not the manifest release {record.release} was built with (its SHA-256 is "
            "not the record's manifest_sha256): rebuild the pin file with `build_tool package --pin-file`"
        )
    return record, lines[1].decode("utf-8")
