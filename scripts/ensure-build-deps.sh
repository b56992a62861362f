#!/usr/bin/env bash
# Installs the system packages the build needs, when they are missing
# (Debian): pkg-config and the PC/SC headers for the YubiKey backend.
# Idempotent; safe with no terminal (CI).
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! pkg-config --exists libpcsclite 2>/dev/null; then missing+=(libpcsclite-dev); fi
command -v cargo >/dev/null 2>&1 || { echo "ensure-build-deps: cargo is not installed (install Rust 1.85 or newer)" >&2; exit 1; }

if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-build-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
