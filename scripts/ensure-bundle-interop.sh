#!/usr/bin/env bash
# Installs what the bundle interop tests need, idempotently, with no prompts:
#   - Debian's `age` CLI (Go implementation): decrypts our age bundles;
#   - Python's argon2-cffi and cryptography: the independent Nexus backup
#     implementation in scripts/nexus_backup.py.
# Works as root on a fresh Debian machine (CI=true, no stdin).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v age >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq age
fi

PY="${KEYCEREMONY_PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq python3 python3-pip
fi
if ! "$PY" -c 'import argon2, cryptography' >/dev/null 2>&1; then
    # Debian's packages first (no network beyond apt), then PyPI.
    if [ "$PY" = /usr/bin/python3 ] && apt-get install -y -qq python3-argon2 python3-cryptography >/dev/null 2>&1; then
        :
    else
        "$PY" -m pip install --quiet --disable-pip-version-check argon2-cffi cryptography \
            || "$PY" -m pip install --quiet --disable-pip-version-check --break-system-packages argon2-cffi cryptography
    fi
fi
"$PY" -c 'import argon2, cryptography' 
age --version >/dev/null
echo "bundle interop tools ready: $(command -v age), $PY with argon2-cffi and cryptography"
