#!/usr/bin/env bash
# Prints the QR shard sheet to PDF in headless Chromium for every threshold
# the QR sheets allow (t = 2..16), on A4 and on Letter, with the longest label
# and custodian name the tool accepts (in words, and in the widest letter),
# and checks each PDF's page count against the layout (one page up to
# sheet::ONE_PAGE_MAX_LINES fallback lines, two above) and its clearance from
# the paper's edges. Prints the table docs/qr.md quotes. The test suite runs a
# representative subset of the same test (tests/qr_sheet_chromium.rs).
# Installs Chromium and poppler-utils first (scripts/ensure-chromium.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-chromium.sh
export KEYCEREMONY_SHEET_ALL=1 KEYCEREMONY_REQUIRE_INTEROP=1
nice -n 19 cargo test --locked --test qr_sheet_chromium sheet_prints_on_its_pages -- --nocapture 2>&1 \
    | grep -E '^\||printed in|test result|panicked|SKIPPED'
