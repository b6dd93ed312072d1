#!/usr/bin/env bash
# Validate (with cfn-lint) and build the SAM application the way `sam deploy` will, without Docker.
#
# The SAM CLI lives in its own virtualenv, .venv-sam, because aws-sam-cli pins its own boto3 and would
# fight the project's .venv. `sam build` needs the function's runtime, python3.13, on PATH.
# Quiet on success; on failure it prints the failing step's output. Safe to run again and again.
set -euo pipefail

SAM_CLI_VERSION="1.170.0"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-sam"
log="$(mktemp "${TMPDIR:-/tmp}/sam_check.XXXXXX")"
trap 'rm -f "$log"' EXIT

fail() {
    echo "sam_check: $1" >&2
    if [[ -s "$log" ]]; then
        cat "$log" >&2
    fi
    exit 1
}

run() {
    local step="$1"
    shift
    "$@" >"$log" 2>&1 || fail "$step failed ($*):"
}

find_python313() {
    local candidate
    if command -v pyenv >/dev/null 2>&1; then
        # The newest installed 3.13.x first.
        while IFS= read -r candidate; do
            if [[ -x "$candidate/python3.13" ]]; then
                echo "$candidate"
                return
            fi
        done < <(printf '%s\n' "$(pyenv root)"/versions/3.13*/bin | sort -V -r)
    fi
    candidate="$(command -v python3.13 || true)"
    if [[ -n "$candidate" ]] && "$candidate" -c 'import sys' >/dev/null 2>&1; then
        dirname "$candidate"
        return
    fi
    return 1
}

py313_bin="$(find_python313)" ||
    fail "no Python 3.13 found: the function's runtime is python3.13 and 'sam build' runs it without
a container. Install it (e.g. 'pyenv install 3.13') or put a python3.13 on PATH."
export PATH="$py313_bin:$PATH"

# Recreate the venv if its interpreter is gone (e.g. the pyenv version it came from was removed).
if [[ -d "$venv" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    run "creating $venv" "$py313_bin/python3.13" -m venv "$venv"
fi
# The dist-info alone is not enough: an interrupted install can leave it without bin/sam.
if [[ ! -x "$venv/bin/sam" ]] ||
    ! compgen -G "$venv/lib/python3*/site-packages/aws_sam_cli-$SAM_CLI_VERSION.dist-info" >/dev/null; then
    run "installing aws-sam-cli $SAM_CLI_VERSION" \
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
        "aws-sam-cli==$SAM_CLI_VERSION"
    run "installing aws-sam-cli $SAM_CLI_VERSION's dependencies" \
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
fi

[[ -f "$repo/lambda_fn/app.py" ]] || fail "lambda_fn/app.py is missing: the template's Handler is app.lambda_handler."

# No telemetry; a region only because the SAM translator insists on one (nothing is called in AWS).
export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"

cd "$repo"
run "sam validate --lint" "$venv/bin/sam" validate --lint --template-file template.yaml
run "sam build" "$venv/bin/sam" build --template-file template.yaml
