"""A deploy report as a Markdown job summary, and the GitHub Action's outputs of a `package --json` record.

`render(report)` is pure: the report object the function writes (`staticsync.report.SyncReport`, as
`notify/report_object.py` stores it) in, Markdown out. `python -m build_tool.summary FILE` prints it for
`$GITHUB_STEP_SUMMARY`; FILE is the report object or `build_tool package --json --wait`'s record, whose
`report` it is. `--outputs` prints `name=value` lines for `$GITHUB_OUTPUT` instead (`--dotenv`: as
variables, for GitLab's dotenv report).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any

from staticsync.config import Settings
from staticsync.model.names import SIBLING_SUFFIXES, looks_hashed, original_of
from staticsync.notify.report_object import report_key_for, split_uri

KINDS = {
    "hashed": "hashed",
    "hashed_siblings": "hashed, `.br`/`.gz` siblings",
    "unhashed": "unhashed",
    "unhashed_siblings": "unhashed, `.br`/`.gz` siblings",
}
LIVE_BUCKET_PLACEHOLDER = "<live bucket>"
REPORT_PREFIX = Settings.report_prefix  # the function's default REPORT_PREFIX (the template's)


class ExitCode(IntEnum):
    OK = 0
    UNREADABLE = 1  # the file is missing or no JSON object
    USAGE = 2  # wrong flags (argparse's own code)


def kind_of(key: str, uploaded: frozenset[str]) -> str:
    """A live key's kind: hashed or not, and a `.br`/`.gz` sibling when its original was uploaded too."""
    hashed = "hashed" if looks_hashed(key) else "unhashed"
    sibling = key.endswith(SIBLING_SUFFIXES) and original_of(key) in uploaded
    return f"{hashed}_siblings" if sibling else hashed


def uploads_by_kind(keys: Iterable[str]) -> dict[str, int]:
    uploaded = frozenset(keys)
    counts = dict.fromkeys(KINDS, 0)
    for key in uploaded:
        counts[kind_of(key, uploaded)] += 1
    return counts


def cell(value: object) -> str:
    """Text safe in a table cell: one line, no column break."""
    return " ".join(str(value).split()).replace("|", "\\|")


def code(value: object) -> str:
    return f"`{cell(value)}`" if value not in (None, "") else "none"


def staging_prefix(artifact_uri: str) -> str:
    """The staging prefix of a staged key (`s3://b/staging/r2.zip` -> `staging/`): its folder."""
    folder, slash, _ = split_uri(artifact_uri)[1].rpartition("/")
    return folder + slash


def rollback_command(report: Mapping[str, Any], live_bucket: str | None, live_prefix: str) -> str | None:
    """`build_tool rollback` back to the release this deploy replaced, or None when it replaced none."""
    before, after = report.get("live_release_before"), report.get("live_release_after")
    if report.get("outcome") != "deployed" or not before or before == after:
        return None
    bucket = split_uri(report["artifact"])[0]
    words = [
        "build_tool rollback",
        before,
        "--bucket",
        bucket,
        "--prefix",
        staging_prefix(report["artifact"]),
    ]
    words += ["--live-bucket", live_bucket or LIVE_BUCKET_PLACEHOLDER]
    if live_prefix:
        words += ["--live-prefix", live_prefix]
    return " ".join([*words, "--wait"])


def release_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    place = report.get("sequence")
    after = code(report.get("live_release_after")) + (f", place {place}" if place else "")
    rows = [("Outcome", f"**{cell(report.get('outcome'))}**"), ("Kind", cell(report.get("kind", "deploy")))]
    rows += [("Release", code(report.get("release"))), ("Commit", code(report.get("commit")))]
    rows += [("Live before", code(report.get("live_release_before"))), ("Live after", after)]
    if report.get("reason"):
        reason = f"{code(report['reason'])}: {cell(report.get('detail') or '')}"
        rows.append(("Reason", reason + (f" ({code(report['member'])})" if report.get("member") else "")))
    by_operation = report.get("requests_by_operation") or {}
    operations = ", ".join(f"{name} {count}" for name, count in sorted(by_operation.items()))
    requests = str(report.get("s3_requests", 0)) + (f" ({operations})" if operations else "")
    rows += [("S3 requests", requests), ("Seconds", f"{float(report.get('seconds') or 0):.2f}")]
    if report.get("invalidation_paths_count"):
        rows.append(("CloudFront paths invalidated", str(report["invalidation_paths_count"])))
    return rows + [("Artifact", code(report.get("artifact"))), ("Report", code(report.get("report")))]


def file_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    keys = report.get("keys_uploaded") or []
    uploaded = int(report.get("files_uploaded") or 0)
    # The report lists the first 1,000 keys only; past that the kinds count what it lists.
    listed = "" if len(keys) >= uploaded else f" (of the first {len(keys)} listed)"
    rows = [
        (f"Uploaded: {label}{listed}", str(count), "")
        for label, count in zip(KINDS.values(), uploads_by_kind(keys).values(), strict=True)
    ]
    rows.append(("**Uploaded**", f"**{uploaded}**", f"**{int(report.get('bytes_uploaded') or 0):,}**"))
    rows.append(("Unchanged", str(report.get("files_unchanged", 0)), ""))
    return rows + [("In the release", str(report.get("files_total", 0)), "")]


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: Sequence[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render(report: Mapping[str, Any], *, live_bucket: str | None = None, live_prefix: str = "") -> str:
    """The job summary of one deploy report; `live_bucket` and `live_prefix` fill in the rollback command."""
    subject = code(report["release"]) if report.get("release") else code(report.get("artifact"))
    title = f"### static-deploy: {subject} {cell(report.get('outcome'))}"
    lines = [title, "", *table(("Deploy", "Value"), release_rows(report), ("---", "---")), ""]
    lines += [*table(("Files", "Count", "Bytes"), file_rows(report), ("---", "---:", "---:")), ""]
    if report.get("warnings"):
        lines += ["**Warnings** (after the cutover; the deploy stands):", ""]
        lines += [f"- {cell(warning)}" for warning in report["warnings"]] + [""]
    command = rollback_command(report, live_bucket, live_prefix)
    if command:
        before = code(report.get("live_release_before"))
        lines += [f"To return to {before} (nothing is rebuilt):", "", "```bash", command, "```", ""]
    return "\n".join(lines)


def outputs(record: Mapping[str, Any], report_prefix: str = REPORT_PREFIX) -> dict[str, str]:
    """The action's outputs of a `package --json` record (`outcome` is `staged` when nothing waited)."""
    if not isinstance(record.get("uri"), str) or "release" not in record:
        raise ValueError("not a build_tool package --json record: it has no uri and release")
    report = record.get("report") or {}
    bucket, key = split_uri(record["uri"])
    return {
        "release": str(record["release"]),
        "artifact": str(record["uri"]),
        "outcome": str(report.get("outcome") or "staged"),
        "report-uri": str(report.get("report") or f"s3://{bucket}/{report_key_for(report_prefix, key)}"),
    }


def dotenv_name(output: str) -> str:
    """An output's name as a CI variable: `report-uri` -> `STATIC_DEPLOY_REPORT_URI`."""
    return "STATIC_DEPLOY_" + output.upper().replace("-", "_")


def report_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The report in a file: the document itself, or the `report` of a `package --json` record."""
    nested = document.get("report")
    return nested if isinstance(nested, dict) else document


def read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path} holds no JSON object")
    return document


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m build_tool.summary", description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path, help="the report object, or build_tool package --json's record")
    parser.add_argument("--live-bucket", help="the live bucket, for the rollback command")
    parser.add_argument("--live-prefix", default="", help="the stack's LivePrefix (default: none)")
    parser.add_argument(
        "--outputs", action="store_true", help="print the action's outputs (name=value) of a --json record"
    )
    parser.add_argument(
        "--dotenv",
        action="store_true",
        help="with --outputs: as variables (STATIC_DEPLOY_RELEASE=...), for GitLab's dotenv report",
    )
    parser.add_argument("--report-prefix", default=REPORT_PREFIX, help=f"default: {REPORT_PREFIX}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        document = read(args.file)
        if args.outputs:
            found = outputs(document, args.report_prefix)
            if args.dotenv:
                found = {dotenv_name(name): value for name, value in found.items()}
            text = "".join(f"{name}={value}\n" for name, value in found.items())
        else:
            text = render(report_of(document), live_bucket=args.live_bucket, live_prefix=args.live_prefix)
    except ValueError as error:
        print(f"build_tool.summary: error: {error}", file=sys.stderr)
        return ExitCode.UNREADABLE
    sys.stdout.write(text)
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
