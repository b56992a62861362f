#!/usr/bin/env bash
# Installs the real age-plugin-yubikey (crates.io) for the interop test
# tests/age_plugin_yubikey_interop.rs, which seals and opens shares between
# keyceremony, Debian's `age` and the plugin against a pivsim card.
#
#   scripts/ensure-age-plugin-yubikey.sh      # prints the folder holding the binary
#
# Installs into $KEYCEREMONY_TOOLS_DIR (default ~/.cache/keyceremony/tools),
# outside the checkout so a second clone on the same machine reuses it; the
# build (about 3 minutes on 2 cores) is skipped when that version is already
# there. The test finds the binary through KEYCEREMONY_AGE_PLUGIN_YUBIKEY
# (scripts/test.sh exports it) or, failing that, in the same default folder.
set -euo pipefail

version="0.5.1"
tools="${KEYCEREMONY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyceremony/tools}"
mkdir -p "$tools" && tools="$(cd "$tools" && pwd)"
root="$tools/age-plugin-yubikey-$version"
bin="$root/bin/age-plugin-yubikey"

say() { echo "ensure-age-plugin-yubikey: $*" >&2; }

if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -qx "age-plugin-yubikey $version"; then
    say "age-plugin-yubikey $version already in $root/bin"
else
    # The plugin's pcsc-sys links libpcsclite at build time: it needs the
    # pcsc-lite headers and pkg-config (keyceremony itself does not).
    "$(dirname "$0")/ensure-build-deps.sh"
    if ! pkg-config --exists libpcsclite 2>/dev/null; then
        say "installing libpcsclite-dev and pkg-config"
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            libpcsclite-dev pkg-config >/dev/null
    fi
    say "building age-plugin-yubikey $version into $root (about 3 minutes)"
    start=$(date +%s)
    # from outside the checkout: its .cargo/config.toml turns pcsc-sys's
    # linking off, which the plugin (linked the usual way) must not inherit
    (cd / && cargo install --quiet --locked --version "$version" --root "$root" age-plugin-yubikey)
    rm -f "$root/.crates.toml" "$root/.crates2.json"
    say "built in $(( $(date +%s) - start )) s"
    "$bin" --version | grep -qx "age-plugin-yubikey $version" \
        || { say "$bin does not report version $version"; exit 1; }
fi
echo "$root/bin"
