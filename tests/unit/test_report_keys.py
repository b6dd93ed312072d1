"""Where the function writes each staged object's report, and where `--wait` looks for it."""

from __future__ import annotations

import pytest

from staticsync.notify.report_object import report_key_for


@pytest.mark.parametrize(
    ("staged", "report"),
    [
        ("staging/r1.zip", "reports/staging/r1.zip.json"),
        ("staging/rollback-abc.json", "reports/staging/rollback-abc.report.json"),  # not .json.json
        ("staging/prune-abc.json", "reports/staging/prune-abc.report.json"),
        ("staging/r1.report.zip", "reports/staging/r1.report.zip.json"),
    ],
)
def test_each_staged_key_has_its_own_report_key(staged: str, report: str) -> None:
    assert report_key_for("reports/", staged) == report
