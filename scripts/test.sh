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
# the real age-plugin-yubikey for tests/age_plugin_yubikey_interop.rs (built once, then reused)
KEYCEREMONY_AGE_PLUGIN_YUBIKEY="$(scripts/ensure-age-plugin-yubikey.sh)"
export KEYCEREMONY_AGE_PLUGIN_YUBIKEY
# interop peers (age CLI, age-plugin-yubikey, the Python Nexus implementation, Chromium, poppler, openssl) must be there: fail, never skip
export KEYCEREMONY_REQUIRE_INTEROP=1

echo "== format and lint"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

echo "== tests (pcscd with the vpcd reader up, so the hardware-backend tests run against pivsim)"
scripts/with-virtual-card.sh cargo test --locked
