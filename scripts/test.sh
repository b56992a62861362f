#!/usr/bin/env bash
# The whole test suite. Installs what it needs first, so it runs on a fresh
# Debian machine: `scripts/test.sh`. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
scripts/ensure-bundle-interop.sh
scripts/ensure-chromium.sh
scripts/ensure-transcript-tools.sh
scripts/ensure-release-tools.sh
# The real age-plugin-yubikey for tests/age_plugin_yubikey_interop.rs (built
# once, then reused). On a fresh machine its build takes minutes, so it runs
# beside the lint (whose last steps, our own crate, keep only one core busy)
# and is waited for before the tests.
plugin_dir="$(mktemp -d)"
scripts/ensure-age-plugin-yubikey.sh >"$plugin_dir/path" 2>"$plugin_dir/log" &
plugin_pid=$!
trap 'kill "$plugin_pid" 2>/dev/null || true; rm -rf "$plugin_dir"' EXIT
# interop peers (age CLI, age-plugin-yubikey, the Python Nexus implementation, Chromium, poppler, openssl) must be there: fail, never skip
export KEYCEREMONY_REQUIRE_INTEROP=1

echo "== format and lint"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

if ! wait "$plugin_pid"; then
    cat "$plugin_dir/log" >&2
    echo "test.sh: age-plugin-yubikey could not be installed" >&2
    exit 1
fi
cat "$plugin_dir/log" >&2
KEYCEREMONY_AGE_PLUGIN_YUBIKEY="$(cat "$plugin_dir/path")"
export KEYCEREMONY_AGE_PLUGIN_YUBIKEY

echo "== tests (pcscd with the vpcd reader up, so the hardware-backend tests run against pivsim)"
scripts/with-virtual-card.sh cargo test --locked
