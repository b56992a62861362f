#!/usr/bin/env bash
# Installs Debian's chromium and poppler-utils (pdfinfo, pdftotext, pdftoppm: to
# read the printed PDF back) for the QR sheet tests (tests/qr_sheet_chromium.rs).
# Idempotent; runs as root on a fresh Debian machine with no stdin (CI=true).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core poppler-utils >/dev/null
command -v chromium >/dev/null
command -v pdftoppm >/dev/null
