"""The job summary renders the report object a real deploy wrote: the handler in moto, twice."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from build_tool import summary
from build_tool.aws.staging import stage
from tests.artifacts import build, collected_tree
from tests.conftest import FakeContext, load_event
from tests.handler import fresh_handler

SITE = {"css/site.css": b"body { color: red; }\n" * 40, "js/app.js": b"console.log(1);\n" * 40}
ROBOTS = {"robots.txt": b"User-agent: *\n"}


def tree_with_siblings(files: dict[str, bytes]) -> dict[str, bytes]:
    """What whitenoise's CompressedManifestStaticFilesStorage leaves: a `.gz` beside each css and js file,
    hashed name and unhashed name alike."""
    tree = collected_tree({**files, **ROBOTS})
    siblings = {
        f"{p}.gz": gzip.compress(data, mtime=0) for p, data in tree.items() if p.endswith((".css", ".js"))
    }
    return {**tree, **siblings}


@pytest.fixture
def app(moto_s3: Any) -> Iterator[ModuleType]:
    with fresh_handler(LIVE_PREFIX="static/", ARTIFACTS_BUCKET="artifacts") as module:
        module.logger.registered_handler.setStream(io.StringIO())
        yield module


def deploy(
    app: ModuleType, client: Any, tmp_path: Path, files: dict[str, bytes], release: str
) -> dict[str, Any]:
    """Stage the release, run the handler on its S3 event, and return the report object it wrote."""
    key = f"staging/{release}.zip"
    packed = build(tree_with_siblings(files), tmp_path / f"{release}.zip", release=release)
    stage(client, packed, "artifacts", key)
    event = load_event("artifact_put.json")
    event["Records"][0]["s3"]["object"].update(key=key, size=packed.size)
    app.lambda_handler(event, FakeContext())
    body = client.get_object(Bucket="artifacts", Key=f"reports/{key}.json")["Body"].read()
    return json.loads(body)


@pytest.fixture
def second(app: ModuleType, moto_s3: Any, tmp_path: Path) -> dict[str, Any]:
    """The report of release r2, which changed site.css after r1 went live."""
    deploy(app, moto_s3, tmp_path, SITE, "r1")
    return deploy(app, moto_s3, tmp_path, {**SITE, "css/site.css": b"body { color: blue; }\n" * 40}, "r2")


def rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ")]


def test_a_deploy_is_summarised_by_kind_with_its_bytes_requests_and_releases(second: dict[str, Any]) -> None:
    markdown = summary.render(second, live_bucket="live", live_prefix="static/")
    assert markdown.splitlines()[0] == "### static-deploy: `r2` deployed"
    assert rows(markdown) == [
        "| Deploy | Value |",
        "| Outcome | **deployed** |",
        "| Kind | deploy |",
        "| Release | `r2` |",
        "| Commit | none |",
        "| Live before | `r1` |",
        "| Live after | `r2`, place 2 |",
        f"| S3 requests | {second['s3_requests']} ({operations(second)}) |",
        f"| Seconds | {second['seconds']:.2f} |",
        "| Artifact | `s3://artifacts/staging/r2.zip` |",
        "| Report | `s3://artifacts/reports/staging/r2.zip.json` |",
        "| Files | Count | Bytes |",
        "| Uploaded: hashed | 1 |  |",
        "| Uploaded: hashed, `.br`/`.gz` siblings | 1 |  |",
        "| Uploaded: unhashed | 1 |  |",
        "| Uploaded: unhashed, `.br`/`.gz` siblings | 1 |  |",
        f"| **Uploaded** | **4** | **{second['bytes_uploaded']:,}** |",
        "| Unchanged | 6 |  |",
        "| In the release | 10 |  |",
    ]


def operations(report: dict[str, Any]) -> str:
    assert report["s3_requests"] > 0 and report["requests_by_operation"]["PutObject"] >= 4
    return ", ".join(f"{name} {count}" for name, count in sorted(report["requests_by_operation"].items()))


def test_a_deploy_that_replaced_a_release_shows_the_command_that_returns_to_it(
    second: dict[str, Any],
) -> None:
    markdown = summary.render(second, live_bucket="live", live_prefix="static/")
    command = (
        "build_tool rollback r1 --bucket artifacts --prefix staging/ --live-bucket live --live-prefix static/"
        " --wait"
    )
    assert f"```bash\n{command}\n```" in markdown


def test_without_the_live_bucket_the_command_says_where_it_goes(second: dict[str, Any]) -> None:
    assert "--live-bucket <live bucket> --wait" in summary.render(second)


def test_the_first_release_has_nothing_to_roll_back_to(app: ModuleType, moto_s3: Any, tmp_path: Path) -> None:
    first = deploy(app, moto_s3, tmp_path, SITE, "r1")
    markdown = summary.render(first, live_bucket="live")
    assert "| Live before | none |" in rows(markdown)
    assert "build_tool rollback" not in markdown


def test_a_rejected_artifact_shows_its_reason_and_no_rollback(
    app: ModuleType, moto_s3: Any, tmp_path: Path
) -> None:
    deploy(app, moto_s3, tmp_path, SITE, "r1")
    moto_s3.put_object(Bucket="artifacts", Key="staging/bad.zip", Body=b"this is no zip | at all")
    event = load_event("artifact_put.json")
    event["Records"][0]["s3"]["object"].update(key="staging/bad.zip", size=23)
    app.lambda_handler(event, FakeContext())
    report = json.loads(
        moto_s3.get_object(Bucket="artifacts", Key="reports/staging/bad.zip.json")["Body"].read()
    )
    markdown = summary.render(report, live_bucket="live")
    assert report["outcome"] == "rejected"
    assert markdown.splitlines()[0] == "### static-deploy: `s3://artifacts/staging/bad.zip` rejected"
    [reason] = [row for row in rows(markdown) if row.startswith("| Reason |")]
    assert reason == f"| Reason | `{report['reason']}`: {summary.cell(report['detail'])} |"
    assert "| **Uploaded** | **0** | **0** |" in rows(markdown)
    assert "build_tool rollback" not in markdown


def test_a_cell_never_breaks_the_table() -> None:
    assert summary.cell("a | b\nc") == "a \\| b c"


def test_main_renders_the_package_records_report_as_the_report_itself(
    second: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "package.json"
    record.write_text(json.dumps({"uri": "s3://artifacts/staging/r2.zip", "release": "r2", "report": second}))
    assert summary.main([str(record), "--live-bucket", "live", "--live-prefix", "static/"]) == 0
    assert capsys.readouterr().out == summary.render(second, live_bucket="live", live_prefix="static/")


def test_the_outputs_of_a_waited_deploy_come_from_its_report(second: dict[str, Any]) -> None:
    record = {"uri": "s3://artifacts/staging/r2.zip", "release": "r2", "report": second}
    assert summary.outputs(record) == {
        "release": "r2",
        "artifact": "s3://artifacts/staging/r2.zip",
        "outcome": "deployed",
        "report-uri": second["report"],
    }


def test_without_waiting_the_report_uri_is_where_the_function_will_write_it(second: dict[str, Any]) -> None:
    staged = summary.outputs({"uri": "s3://artifacts/staging/r2.zip", "release": "r2"})
    assert (staged["outcome"], staged["report-uri"]) == ("staged", second["report"])


def test_main_prints_outputs_for_github_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = tmp_path / "package.json"
    record.write_text(json.dumps({"uri": "s3://a/ci/r9.zip", "release": "r9"}))
    assert summary.main([str(record), "--outputs", "--report-prefix", "done/"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "release=r9",
        "artifact=s3://a/ci/r9.zip",
        "outcome=staged",
        "report-uri=s3://a/done/ci/r9.zip.json",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("[1]", "holds no JSON object"), ("{}", "no uri and release")],
)
def test_an_unreadable_file_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    assert summary.main([str(path), "--outputs"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("build_tool.summary: error: ") and message in line


def test_main_prints_outputs_as_variables_for_gitlabs_dotenv_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "package.json"
    record.write_text(json.dumps({"uri": "s3://a/staging/r9.zip", "release": "r9"}))
    assert summary.main([str(record), "--outputs", "--dotenv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "STATIC_DEPLOY_RELEASE=r9",
        "STATIC_DEPLOY_ARTIFACT=s3://a/staging/r9.zip",
        "STATIC_DEPLOY_OUTCOME=staged",
        "STATIC_DEPLOY_REPORT_URI=s3://a/reports/staging/r9.zip.json",
    ]
