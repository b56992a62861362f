#!/usr/bin/env bash
# Installs Debian's poppler-utils (pdfinfo, pdftotext) for the printable
# transcript test (tests/transcript_print.rs), which prints the transcript to
# PDF in Chromium and reads the pages back. Idempotent; runs as root on a
# fresh Debian machine with no stdin (CI=true).
set -euo pipefail
if command -v pdfinfo >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends poppler-utils >/dev/null
command -v pdfinfo >/dev/null
