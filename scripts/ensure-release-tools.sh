#!/usr/bin/env bash
# Installs what tests/release_cli.rs needs beyond the build, idempotently,
# with no prompts: man-db and groff-base (`man -l` renders the generated
# pages), util-linux (`unshare`, to hide the PC/SC library), binutils
# (`readelf`, `strip`), dpkg-dev (`dpkg-shlibdeps`, for the package test).
# Runs as root (or with sudo) on a fresh Debian machine.
set -euo pipefail
missing=()
command -v man >/dev/null 2>&1 || missing+=(man-db)
command -v groff >/dev/null 2>&1 || missing+=(groff-base)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v readelf >/dev/null 2>&1 || missing+=(binutils)
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing+=(dpkg-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure-release-tools: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
