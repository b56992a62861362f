#!/usr/bin/env bash
# Build-time needs of the real YubiKey backend (yubikey crate -> pcsc-sys):
# pkg-config and the pcsc-lite headers (Debian: libpcsclite-dev). Installs
# what is missing; does nothing when both are there. Works as root or with
# sudo, with no terminal (CI=true). The tests need no pcscd and no YubiKey:
# test mode uses software tokens.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libpcsclite 2>/dev/null || missing+=(libpcsclite-dev)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "ensure-pcsc-build-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
pkg-config --exists libpcsclite || { echo "ensure-pcsc-build-deps: libpcsclite still not found by pkg-config" >&2; exit 1; }
