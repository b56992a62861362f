#!/usr/bin/env bash
# The QR decoder benchmark with its two peers: installs zbar (zbarimg, Debian
# zbar-tools) and ZXing-C++ (PyPI zxing-cpp, with pillow), then runs
# `cargo bench --bench qr_decode` (release build). Prints the table that
# docs/qr.md quotes. QR_BENCH_N sets samples per degradation and tier (default 10).
# Idempotent; runs as root on a fresh Debian machine with no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
if ! command -v zbarimg >/dev/null 2>&1; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends zbar-tools python3-pip >/dev/null
fi
if ! python3 -c 'import zxingcpp, PIL' 2>/dev/null; then
    python3 -m pip install --quiet zxing-cpp pillow 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages zxing-cpp pillow
fi
cargo bench --locked --bench qr_decode
