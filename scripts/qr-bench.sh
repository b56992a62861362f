#!/usr/bin/env bash
# The QR decoder benchmark with its peers: installs zbar (Debian libzbar0, the
# library zbarimg uses, read through PyPI pyzbar), ZXing-C++ (PyPI zxing-cpp)
# and OpenCV (PyPI opencv-python-headless), with pillow, then runs
# `cargo bench --bench qr_decode` (release build) at the lowest CPU priority.
# Prints the tables docs/qr.md quotes. QR_BENCH_N sets samples per degradation
# and tier (default 10); see benches/qr_decode.rs for the other settings.
# Idempotent; runs as root on a fresh Debian machine with no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
if ! ldconfig -p | grep -q libzbar.so.0 || ! command -v pip3 >/dev/null 2>&1; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends libzbar0 python3-pip >/dev/null
fi
PEERS="zxing-cpp pyzbar opencv-python-headless pillow"
if ! python3 -c 'import zxingcpp, pyzbar.pyzbar, cv2, PIL' 2>/dev/null; then
    python3 -m pip install --quiet $PEERS 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages $PEERS
fi
grep -m1 'model name' /proc/cpuinfo
nice -n 19 cargo bench --locked --bench qr_decode
