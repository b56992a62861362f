#!/usr/bin/env bash
# Checks what the build needs (Debian): cargo and a C compiler (ring builds
# C and assembly). Nothing else: the PC/SC library is opened at run time
# (src/pcsc_loader.rs), so neither pkg-config nor libpcsclite-dev is needed.
# Installs gcc when missing. Idempotent; safe with no terminal (CI).
set -euo pipefail

command -v cargo >/dev/null 2>&1 || { echo "ensure-build-deps: cargo is not installed (install Rust 1.85 or newer)" >&2; exit 1; }
if ! command -v cc >/dev/null 2>&1; then
  echo "ensure-build-deps: installing gcc"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi
