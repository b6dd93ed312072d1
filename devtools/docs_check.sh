#!/usr/bin/env bash
# Build the documentation site (mkdocs.yml, docs/) with --strict: any warning (a broken link, a page
# missing from the nav, an anchor that does not exist) fails the build.
#
# MkDocs lives in its own virtualenv, .venv-docs, installed from docs/requirements.txt when missing or
# when that file changed. The site is built into a temporary folder and removed: this only checks.
# Quiet on success but for MkDocs' own summary; safe to run again and again.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-docs"
requirements="$repo/docs/requirements.txt"
stamp="$venv/.installed"
python="${PYTHON:-python3}"

site="$(mktemp -d "${TMPDIR:-/tmp}/docs_site.XXXXXX")"
trap 'rm -rf "$site"' EXIT

# Recreate the venv if its interpreter is gone (e.g. the Python it came from was removed).
if [[ -d "$venv" ]] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
if [[ ! -f "$stamp" ]] || ! cmp -s "$requirements" "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
fi

if [[ ! -f "$repo/docs/architecture.md" ]]; then
    echo "docs_check: docs/architecture.md is missing (mkdocs.yml lists it)" >&2
    exit 1
fi

cd "$repo"
"$venv/bin/mkdocs" build --strict --clean --site-dir "$site"
