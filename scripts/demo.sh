#!/usr/bin/env bash
# The main job, end to end, in test mode: split a freshly generated root key
# 3-of-5, check every shard alone and as a set, show that a damaged shard is
# named and that two shards are not enough, and assemble the key back from
# three. Runs in a private scratch folder in memory (/dev/shm where there is
# one) that is wiped at the end: no secret is left on disk.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-build-deps.sh
cargo build --locked --release --quiet
kc="$PWD/target/release/keyceremony"

base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base="${TMPDIR:-/tmp}"
work=$(mktemp -d "$base/keyceremony-demo.XXXXXX")
cleanup() {
  find "$work" -type f -exec shred -u {} + 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 700 "$work"
cd "$work"

step() { printf '\n== %s\n' "$*"; }

step "split a fresh key 3-of-5"
"$kc" split --generate --threshold 3 --shares 5 --out ceremony-out \
  --label "demo root key" \
  --custodian "Alice" --custodian "Bob" --custodian "Carol" --custodian "Dan" --custodian "Erin"
fp=$("$kc" --json verify ceremony-out/ceremony.json | sed -n 's/.*"key_fingerprint": "\([0-9a-f-]*\)".*/\1/p' | head -n1)

step "each custodian checks their own shard alone"
for i in 1 2 3 4 5; do "$kc" verify "ceremony-out/shard-$i.json"; done

step "the whole set, with the public record"
"$kc" verify ceremony-out/*

step "a damaged shard is named (one character of shard 2 changed)"
cp ceremony-out/shard-2.json damaged-2.json
sed -i 's/"value": "\(.\)/"value": "X\1/; s/"value": "X0/"value": "1/; s/"value": "X[^"]/"value": "0/' damaged-2.json
if "$kc" verify damaged-2.json; then echo "demo: the damaged shard was accepted" >&2; exit 1; fi

step "two shards are not enough"
if "$kc" assemble ceremony-out/shard-1.json ceremony-out/shard-4.json --dry-run; then
  echo "demo: two shards assembled a key" >&2; exit 1
fi

step "three shards (one of them damaged, plus a spare) assemble the key"
"$kc" assemble ceremony-out/shard-1.json damaged-2.json ceremony-out/shard-3.json ceremony-out/shard-5.json --dry-run
got=$("$kc" --json assemble ceremony-out/shard-3.json ceremony-out/shard-4.json ceremony-out/shard-5.json --dry-run \
  | sed -n 's/.*"key_fingerprint": "\([0-9a-f-]*\)".*/\1/p' | head -n1)
[ -n "$fp" ] && [ "$got" = "$fp" ] || { echo "demo: fingerprint mismatch ($got vs $fp)" >&2; exit 1; }

step "done"
echo "demo: the key with fingerprint $fp was split, checked, and assembled back; the scratch folder is wiped on exit"
