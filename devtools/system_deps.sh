#!/usr/bin/env bash
# The system packages some checks need, from Debian: spin (models/check.sh) and nodejs (the CDK
# construct's synth in tests/functional/test_cdk.py, which skips without it). As root, install what is
# missing; otherwise say what to install. Safe to run again.
set -euo pipefail
missing=()
command -v spin >/dev/null 2>&1 || missing+=(spin)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "system_deps: missing ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
    exit 0
fi
echo "system_deps: apt-get install ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
