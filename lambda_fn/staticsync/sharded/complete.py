"""A sharded release's complete marker: the sign, for a pinned app, that every file of a release whose
history record the plan step wrote before any upload is there. Names and bodies only, no I/O, so the
pinned storage (static_deploy.storage) shares them without loading the deployer.

An inline deploy writes a release's history record after every content-addressed name, so the record
alone says the files are there. A sharded deploy's plan step writes it first (retention must know
what the claim needs while the shards upload), with the metadata `sharded: true`; the finish step
writes `<history prefix><release>/complete.json` once every shard's done-marker is verified, before
any unhashed name and the cutover. A pinned storage that reads a record so marked starts only once
that object is there.
"""

from __future__ import annotations

import json

from ..model.contract import dumps

META_SHARDED = "sharded"  # the history record's metadata: its release's files may not all be up yet
SHARDED = {META_SHARDED: "true"}
COMPLETE_NAME = "complete.json"


def is_sharded(metadata: dict[str, str]) -> bool:
    """Whether a history record's S3 metadata says the plan step of a sharded deploy wrote it."""
    return metadata.get(META_SHARDED) == "true"


def complete_body(release: str, list_digest: str | None) -> bytes:
    """The marker's body: the release, and the digest of the shard list whose markers were verified
    (None when a re-plan that became small uploaded the files inline)."""
    return dumps({"list": list_digest, "release": release})


def names_release(body: bytes, release: str) -> bool:
    """Whether `body` is a complete marker of `release` (of any plan of it: every plan of one release
    uploads the same files)."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("release") == release
