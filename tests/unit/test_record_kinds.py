"""Which staged object is which request: the name under the staging prefix decides, nothing else."""

from __future__ import annotations

import pytest

from staticsync.model.events import ARTIFACT, PIN_REQUEST, PRUNE_REQUEST, ROLLBACK_REQUEST, record_kind


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("staging/r1.zip", ARTIFACT),
        ("staging/rollback-abc.json", ROLLBACK_REQUEST),
        ("staging/prune-abc.json", PRUNE_REQUEST),
        ("staging/pin-abc.json", PIN_REQUEST),
        ("staging/team/pin-abc.json", PIN_REQUEST),
        ("staging/pin-abc.zip", ARTIFACT),  # an artifact named like a request is an artifact
        ("staging/notes.txt", None),
    ],
)
def test_each_staged_name_is_one_kind(key: str, kind: str | None) -> None:
    assert record_kind(key) == kind
