#!/usr/bin/env bash
# Build the documentation site (mkdocs.yml, docs/) with --strict: any warning (a broken link or anchor, a
# page missing from the nav, a nav entry without its page) fails the build.
#
# MkDocs lives in its own virtualenv, .venv-docs, installed from docs/requirements.txt when it is missing
# or that file changed. The site is built into a temporary folder that is removed afterwards: this only
# checks. Quiet on success but for MkDocs' own summary; safe to run again and again.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-docs"
requirements="$repo/docs/requirements.txt"
stamp="$venv/.installed"
python="${PYTHON:-python3}"

site="$(mktemp -d "${TMPDIR:-/tmp}/docs_site.XXXXXX")"
log="$(mktemp "${TMPDIR:-/tmp}/docs_check.XXXXXX")"
trap 'rm -rf "$site" "$log"' EXIT

fail() {
    echo "docs_check: $1" >&2
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
if [[ ! -f "$stamp" ]] || ! cmp -s "$requirements" "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >"$log" 2>&1 ||
        fail "installing $requirements failed:"
    cp "$requirements" "$stamp"
fi

[[ -f "$repo/docs/architecture.md" ]] || fail "docs/architecture.md is missing (mkdocs.yml lists it)"

# Material for MkDocs prints a banner on every build: it is maintained (fixes and security updates) until
# 2027-05-05, and names its successor. It is no build warning; keep the output to MkDocs' own lines.
export NO_MKDOCS_2_WARNING=1

cd "$repo"
"$venv/bin/mkdocs" build --strict --clean --site-dir "$site"
