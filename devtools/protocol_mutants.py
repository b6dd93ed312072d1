"""Code mutants of the release protocol's checks: each removes one check issue 16 added, runs the
SeaweedFS tests that stand for it, restores the file, and says whether the tests caught it.

`make mutants` (about a minute): every mutant must be CAUGHT; the exit status is 1 if one is MISSED.
The model's own mutants (models/check.sh) are the protocol's; these are the code's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MUTANTS = {
    "a claim above a late cutover judged superseded": (
        "lambda_fn/staticsync/deploy/judge.py",
        "    if newer_by_ancestry(view, live) or in_flight(view, live, intent):\n",
        "    if newer_by_ancestry(view, live):\n",
        "test_a_deploy_whose_claim_is_above_a_cutover_that_landed_late",
    ),
    "already_live reported as a success": (
        "lambda_fn/staticsync/deploy/judge.py",
        '    if verdict == "already_live":\n',
        '    if verdict == "never":\n',
        "test_a_rollback_request_whose_target_is_live_already_is_not_a_success",
    ),
    "claim beside the content-addressed PUTs": (
        "lambda_fn/staticsync/deploy/execute.py",
        "            files = read_spans(self.artifact, self.artifact.spans(plan.uploads), self.workers)\n",
        (
            "            files = read_spans(self.artifact, self.artifact.spans(plan.uploads), self.workers)\n"
            "            self.claim(plan, live, intent)\n"
        ),
        "test_rejected_artifacts_leave_no_claim",
    ),
    "no superseded check": (
        "lambda_fn/staticsync/model/order.py",
        "    return recorded != now",
        "    return False",
        "test_a_lambda_retry_of_a_deploy or test_a_replayed_event_is_refused",
    ),
    "tag on request-level verdicts": (
        "lambda_fn/staticsync/deploy/run.py",
        "and not (request is not None and error.code in REQUEST_LEVEL)",
        "",
        "test_a_wrong_rollback_request",
    ),
    "rollback to a never-live release": (
        "lambda_fn/staticsync/deploy/judge.py",
        "    check_was_live(bucket, request, live)\n",
        "",
        "test_a_rollback_goes_only_to_a_release_that_was_live",
    ),
    "unrun request reported as success": (
        "lambda_fn/staticsync/deploy/judge.py",
        "        if request_went_live(bucket, request, live):\n",
        "        if True:\n",
        "test_a_rollback_request_that_never_ran",
    ),
    "requests read unbounded": (
        "lambda_fn/staticsync/operations/rollback.py",
        "limit=MAX_REQUEST_BYTES",
        "limit=None",
        "test_a_rollback_request_larger_than_any_real_one",
    ),
    "no record for an unchanged new id": (
        "lambda_fn/staticsync/deploy/run.py",
        "        if view.release != live.release and kept is None:\n",
        "        if False:\n",
        "test_every_release_wait_reports_as_live_can_be_pinned",
    ),
    "claims discovered only at claim time": (
        "lambda_fn/staticsync/live/journal.py",
        "    if read_entry(client, settings, sequence + 1) is None:\n        return ()",
        "    return ()",
        "test_a_delta_that_inherits_a_name_a_dead_deploy_overwrote",
    ),
    "a retry steps over its own claim": (
        "lambda_fn/staticsync/model/plan.py",
        "    live = resuming(live, view.release, intent)\n",
        "",
        "test_a_retry_with_nothing_cut_over_since_resumes_its_own_claim",
    ),
}
ROOT = Path(__file__).resolve().parent.parent
TESTS = "tests/integration/test_protocol_deploy.py"


def caught(file: str, old: str, new: str, tests: str) -> tuple[bool, str]:
    """Whether the tests selected by `tests` fail with `old` replaced by `new` in `file`."""
    path = ROOT / file
    original = path.read_text()
    if original.count(old) != 1:
        raise SystemExit(f"{file}: the mutated text is not there once: update the mutant")
    path.write_text(original.replace(old, new))
    try:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", TESTS, "-k", tests]
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    finally:
        path.write_text(original)
    first = next((line for line in run.stdout.splitlines() if line.startswith("E   ")), "")
    return run.returncode != 0, first.strip()


def main() -> int:
    missed = 0
    for name, mutant in MUTANTS.items():
        found, line = caught(*mutant)
        missed += not found
        print(f"{'CAUGHT' if found else 'MISSED'}  {name}: {line[:120]}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
