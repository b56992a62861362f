#!/usr/bin/env bash
# Installs what the transcript tests use as independent checkers: Debian's
# poppler-utils (pdfinfo, pdftotext: tests/transcript_print.rs reads back
# the PDF Chromium prints) and openssl (tests/transcript_vectors.rs checks
# the vector's Ed25519 signature with it; docs/ceremony.md shows the same
# check by hand with openssl and xxd, run by tests/docs_shell_blocks.rs). Idempotent; runs as root on a
# fresh Debian machine with no stdin (CI=true).
set -euo pipefail
if command -v pdfinfo >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 \
    && command -v openssl >/dev/null 2>&1 && command -v xxd >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends poppler-utils openssl xxd >/dev/null
command -v pdfinfo >/dev/null && command -v openssl >/dev/null && command -v xxd >/dev/null
