"""The GitHub Action (action.yml) and the GitLab template hold together: every input they name is
declared and used, the flags they pass are flags build_tool takes, and their scripts run.

actionlint checks the example workflow against action.yml (devtools/actionlint_check.sh); this checks the
metadata itself, and runs each script with `python -m build_tool package` answered by a stand-in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from build_tool import __version__, cli, summary

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
EXAMPLE = yaml.safe_load((ROOT / "examples" / "github" / "deploy-static.yml").read_text())
GITLAB_TEXT = (ROOT / "examples" / "gitlab" / "static-deploy.gitlab-ci.yml").read_text()
SPEC, GITLAB_JOB_TEXT = GITLAB_TEXT.split("\n---\n", 1)
GITLAB_INPUTS = yaml.safe_load(SPEC)["spec"]["inputs"]
# What GitHub sets for every step; the scripts' own variables are lowercase.
RUNNER_VARIABLES = {"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "RUNNER_TEMP"}
GITLAB_VARIABLES = {"CI_PROJECT_ID", "CI_PIPELINE_ID", "STATIC_DEPLOY_ID_TOKEN"}
RECORD = {
    "uri": "s3://artifacts/staging/r2.zip",
    "release": "r2",
    "report": {
        "artifact": "s3://artifacts/staging/r2.zip",
        "release": "r2",
        "outcome": "rejected",
        "reason": "stale_artifact",
        "detail": "built before the live release",
        "live_release_before": "r1",
        "live_release_after": "r1",
        "report": "s3://artifacts/reports/staging/r2.zip.json",
    },
}


def steps() -> list[dict[str, Any]]:
    return list(ACTION["runs"]["steps"])


def expressions(value: Any) -> list[str]:
    """Every `${{ ... }}` expression anywhere in a YAML value."""
    return re.findall(r"\$\{\{(.*?)\}\}", json.dumps(value))


def package_flags() -> set[str]:
    commands = next(a for a in cli.parser()._actions if a.dest == "command")
    return {flag for action in commands.choices["package"]._actions for flag in action.option_strings}  # type: ignore[attr-defined]


def summary_flags() -> set[str]:
    return {flag for action in summary.parser()._actions for flag in action.option_strings}


def flags(script: str) -> tuple[set[str], set[str]]:
    """The `--flags` a script gives `build_tool.summary` (on its lines), and those it gives the package
    command (on every other line: the script builds that command in pieces)."""
    lines = script.replace("\\\n", " ").splitlines()
    found = [set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line)) for line in lines]
    to_summary = [f for line, f in zip(lines, found, strict=True) if "build_tool.summary" in line]
    to_package = [f for line, f in zip(lines, found, strict=True) if "build_tool.summary" not in line]
    return set().union(*to_summary), set().union(*to_package)


# ---------------------------------------------------------------- action.yml


def test_the_action_is_composite_and_every_script_runs_in_bash() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert all(step.get("shell") == "bash" for step in steps() if "run" in step)


def test_every_input_the_action_names_is_declared_and_every_declared_input_is_used() -> None:
    named = {m for e in expressions(ACTION) for m in re.findall(r"inputs\.([\w-]+)", e)}
    assert named == set(ACTION["inputs"])


def test_only_settings_and_bucket_are_required_and_every_other_input_has_a_default() -> None:
    required = {name for name, spec in ACTION["inputs"].items() if spec.get("required")}
    assert required == {"settings", "bucket"}
    assert all("default" in spec for name, spec in ACTION["inputs"].items() if name not in required)


def test_no_script_interpolates_an_expression_they_come_in_through_env() -> None:
    # An input pasted into a script is script injection; through env it is data.
    assert [step["name"] for step in steps() if "${{" in step.get("run", "")] == []


def test_every_variable_a_script_reads_is_set_by_its_step_or_the_runner() -> None:
    for step in steps():
        read = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", step["run"]))
        assert read - set(step.get("env", {})) - RUNNER_VARIABLES == set(), step["name"]


def test_the_outputs_are_the_package_steps_and_the_ones_summary_writes() -> None:
    ids = {step.get("id") for step in steps()}
    for name, output in ACTION["outputs"].items():
        assert output["value"] == "${{ steps.package.outputs." + name + " }}"
    assert "package" in ids
    assert set(ACTION["outputs"]) == set(summary.outputs({"uri": "s3://a/staging/r.zip", "release": "r"}))


def test_the_flags_the_action_passes_are_flags_build_tool_takes() -> None:
    to_summary, to_package = flags(next(step["run"] for step in steps() if step.get("id") == "package"))
    assert to_summary <= summary_flags() and to_package <= package_flags()
    assert {"--json", "--wait", "--timeout", "--live-bucket", "--report-prefix"} <= to_package
    assert {"--outputs", "--live-bucket"} <= to_summary


@pytest.mark.parametrize("index", range(len(ACTION["runs"]["steps"])))
def test_each_script_is_valid_bash(index: int) -> None:
    script = ACTION["runs"]["steps"][index]["run"]
    assert subprocess.run(["bash", "-n", "-c", script], check=False).returncode == 0
    if shutil.which("shellcheck"):
        done = subprocess.run(
            ["shellcheck", "--shell=bash", "-"], input=script, text=True, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stdout


def stand_in(tmp_path: Path, record: dict[str, Any] | None, status: int) -> dict[str, str]:
    """A `python` on PATH that answers `-m build_tool package` with `record` and `status`, and runs
    everything else (build_tool.summary) with this interpreter on this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "record.json").write_text(json.dumps(record) if record else "")
    (bin_dir / "python").write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$1 $2 $3" == "-m build_tool package" ]]; then\n'
        f'  printf "%s\\n" "$@" > {tmp_path}/argv; cat {tmp_path}/record.json; exit {status}\n'
        "fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    (bin_dir / "python").chmod(0o755)
    pythonpath = os.pathsep.join([str(ROOT), str(ROOT / "lambda_fn")])
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": pythonpath}


def run_package_step(tmp_path: Path, inputs: dict[str, str], status: int) -> subprocess.CompletedProcess[str]:
    step = next(step for step in steps() if step.get("id") == "package")
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()} | inputs
    env = {
        name: re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: values[m.group(1)], value)
        for name, value in step["env"].items()
    }
    env |= {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    env |= {"RUNNER_TEMP": str(tmp_path)} | stand_in(tmp_path, RECORD, status)
    return subprocess.run(["bash", "-c", step["run"]], env=env, cwd=tmp_path, capture_output=True, text=True)


def test_a_rejected_deploy_sets_the_outputs_writes_the_summary_and_fails_the_step(tmp_path: Path) -> None:
    inputs = {"settings": "mysite.settings", "bucket": "artifacts", "wait": "true", "timeout": "30"}
    inputs |= {"live-bucket": "live", "live-prefix": "static/", "args": "--full  --cache-dir .cache"}
    done = run_package_step(tmp_path, inputs, status=7)
    assert done.returncode == 7, done.stderr
    argv = (tmp_path / "argv").read_text().split("\n")[:-1]
    assert argv == [
        "-m", "build_tool", "package", "--settings", "mysite.settings", "--project-dir", ".",
        "--bucket", "artifacts", "--prefix", "staging/", "--report-prefix", "reports/", "--json",
        "--live-bucket", "live", "--live-prefix", "static/", "--wait", "--timeout", "30",
        "--full", "--cache-dir", ".cache",
    ]  # fmt: skip
    assert (tmp_path / "output").read_text().splitlines() == [
        "release=r2",
        "artifact=s3://artifacts/staging/r2.zip",
        "outcome=rejected",
        "report-uri=s3://artifacts/reports/staging/r2.zip.json",
    ]
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown == summary.render(RECORD["report"], live_bucket="live", live_prefix="static/")


def test_without_wait_there_is_no_summary_and_the_outcome_is_staged(tmp_path: Path) -> None:
    done = run_package_step(tmp_path, {"settings": "s", "bucket": "artifacts"}, status=0)
    assert done.returncode == 0, done.stderr
    assert "--wait" not in (tmp_path / "argv").read_text() and not (tmp_path / "summary.md").exists()
    assert "outcome=rejected" in (tmp_path / "output").read_text()  # the stand-in's record has a report


# ---------------------------------------------------------------- the example workflow


def test_the_example_uses_the_action_with_oidc_credentials_and_only_its_inputs() -> None:
    assert EXAMPLE["permissions"]["id-token"] == "write"
    [job] = [
        job
        for job in EXAMPLE["jobs"].values()
        if any("static-deploy@" in s.get("uses", "") for s in job["steps"])
    ]
    uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert uses.index("aws-actions/configure-aws-credentials") < uses.index("your-org/static-deploy")
    [ours] = [step for step in job["steps"] if "static-deploy@" in step.get("uses", "")]
    assert set(ours["with"]) <= set(ACTION["inputs"]) and {"settings", "bucket"} <= set(ours["with"])


# ---------------------------------------------------------------- the GitLab template


def gitlab_job(inputs: dict[str, Any]) -> dict[str, Any]:
    """The template's job with `inputs` (and the spec's defaults) interpolated, as GitLab does."""
    values = {name: spec.get("default", "") for name, spec in GITLAB_INPUTS.items()} | inputs

    def value(match: re.Match[str]) -> str:
        found = values[match.group(1)]
        return str(found).lower() if isinstance(found, bool) else str(found)

    [job] = yaml.safe_load(re.sub(r"\$\[\[ inputs\.([\w-]+) \]\]", value, GITLAB_JOB_TEXT)).values()
    return dict(job)


def test_the_gitlab_template_declares_the_actions_inputs_and_uses_each_it_declares() -> None:
    used = set(re.findall(r"\$\[\[ inputs\.([\w-]+) \]\]", GITLAB_JOB_TEXT))
    assert used == set(GITLAB_INPUTS)
    shared = set(ACTION["inputs"]) - {"path", "python"}  # a GitLab job installs from the index
    assert shared <= set(GITLAB_INPUTS)


def test_the_gitlab_template_installs_this_version() -> None:
    assert GITLAB_INPUTS["version"]["default"] == __version__


def test_the_gitlab_job_assumes_the_role_with_its_oidc_token() -> None:
    job = gitlab_job(
        {"settings": "s", "bucket": "b", "role-arn": "arn:aws:iam::1:role/ci", "region": "eu-west-1"}
    )
    assert job["id_tokens"]["STATIC_DEPLOY_ID_TOKEN"] == {"aud": "sts.amazonaws.com"}
    assert job["variables"]["AWS_ROLE_ARN"] == "arn:aws:iam::1:role/ci"
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" in "\n".join(job["script"])


def test_the_gitlab_script_passes_flags_build_tool_takes() -> None:
    to_summary, to_package = flags("\n".join(gitlab_job({})["script"]))
    assert to_summary <= summary_flags() and to_package <= package_flags()
    assert {"--json", "--wait", "--timeout", "--live-bucket"} <= to_package
    assert {"--outputs", "--dotenv"} <= to_summary


def test_the_gitlab_job_writes_its_variables_and_report_and_keeps_the_exit_code(tmp_path: Path) -> None:
    inputs = {"settings": "s", "bucket": "artifacts", "role-arn": "arn", "region": "r", "wait": True}
    inputs |= {"live-bucket": "live", "args": "--full"}
    job = gitlab_job(inputs)
    env = {name: str(value) for name, value in job["variables"].items()} | stand_in(tmp_path, RECORD, 7)
    env |= {"STATIC_DEPLOY_ID_TOKEN": "token", "CI_PROJECT_ID": "1", "CI_PIPELINE_ID": "2"}
    script = "\n".join(job["script"])
    read = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", script))
    assert read - set(job["variables"]) - GITLAB_VARIABLES == set()
    done = subprocess.run(["sh", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 7, done.stderr
    argv = (tmp_path / "argv").read_text().split("\n")[:-1]
    assert argv[argv.index("--wait") :] == ["--wait", "--timeout", "600", "--full"]
    assert (tmp_path / "static-deploy.env").read_text().splitlines()[2] == "STATIC_DEPLOY_OUTCOME=rejected"
    assert (tmp_path / "static-deploy.md").read_text().startswith("### static-deploy: `r2` rejected")


def test_the_gitlab_scripts_are_valid_posix_sh() -> None:
    job = gitlab_job({})
    for script in [*job["before_script"], *job["script"]]:
        assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0
        if shutil.which("shellcheck"):
            done = subprocess.run(
                ["shellcheck", "--shell=sh", "-"], input=script, text=True, capture_output=True, check=False
            )
            assert done.returncode == 0, done.stdout
