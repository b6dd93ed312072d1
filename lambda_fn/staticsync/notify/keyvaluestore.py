"""Keep the CloudFront KeyValueStore the sibling-serving function reads (model.siblings decides what)."""

from __future__ import annotations

from typing import Any

from ..model.siblings import IndexChanges


class SiblingStore:
    """One KeyValueStore, updated with UpdateKeys under its ETag (a concurrent writer fails loudly).

    The data-plane API is signed with SigV4A, which botocore does with awscrt (lambda_fn's
    requirements); the client is only made when CDN_SIBLING_INDEX_ARN is set.
    """

    def __init__(self, client: Any, arn: str) -> None:
        self.client, self.arn = client, arn

    def drop(self, changes: IndexChanges) -> int:
        """Delete the entries that would route to siblings about to change: before the unhashed
        uploads, so no request is sent to an older release's sibling of a file that changed."""
        return self._update(changes.delete_batches(), "Deletes")

    def fill(self, changes: IndexChanges) -> int:
        """Put the new release's entries, once every object they route to is live."""
        return self._update(changes.put_batches(), "Puts")

    def _update(self, batches: Any, argument: str) -> int:
        requests, etag = 0, None
        for batch in batches:
            if etag is None:
                etag = self.client.describe_key_value_store(KvsARN=self.arn)["ETag"]
                requests += 1
            etag = self.client.update_keys(KvsARN=self.arn, IfMatch=etag, **{argument: batch})["ETag"]
            requests += 1
        return requests
