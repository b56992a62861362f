#!/usr/bin/env bash
# The main job, end to end, in test mode (software tokens stand in for
# YubiKeys): a 3-of-5 ceremony in which custodian 1 holds a share sealed to a
# token, custodian 2 a printed QR sheet and the others shard files; every
# shard checked alone and as a set; a damaged shard named; two shards refused;
# the key assembled from a sealed share, a QR image and a file, and
# handed over only inside encrypted Nexus bundles, which are then verified.
#
# Runs in a private scratch folder in memory (/dev/shm where there is one)
# that is shredded at the end: no secret is left on disk.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -n "${KEYCEREMONY_BIN:-}" ] || scripts/ensure-build-deps.sh
if ! command -v age-keygen >/dev/null 2>&1; then   # the age CLI opens the demo's age bundle
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq age >/dev/null
fi
if [ -n "${KEYCEREMONY_BIN:-}" ]; then   # an installed binary (docs/install.md): no build
  kc=$(command -v "$KEYCEREMONY_BIN")
else
  cargo build --locked --release --quiet
  kc="$PWD/target/release/keyceremony"
fi

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
umask 077

# Test mode: every token below is a software stand-in, and says so.
export KEYCEREMONY_TEST_TOKENS="$work/test-tokens"
printf '123456\n' > pin.txt                       # the test tokens' default PIN
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > passphrase.txt

step() { printf '\n== %s\n' "$*"; }
fingerprint_of() { sed -n 's/.*"key_fingerprint": "\([0-9a-f-]*\)".*/\1/p' | head -n1; }

step "custodian 1 prepares a token (TEST TOKEN 41000001)"
"$kc" token init --serial 41000001 --pin-file pin.txt
"$kc" token status --serial 41000001

step "split a fresh key 3-of-5: share 1 sealed to the token, QR sheets for the rest"
"$kc" split --generate --threshold 3 --shares 5 --out ceremony-out --qr \
  --seal-to 41000001 --label "demo root key" \
  --custodian "Alice" --custodian "Bob" --custodian "Carol" --custodian "Dan" --custodian "Erin"
fp=$("$kc" --json verify ceremony-out/ceremony.json | fingerprint_of)
[ -n "$fp" ] || { echo "demo: no fingerprint in the record" >&2; exit 1; }

step "each custodian checks their own share alone"
"$kc" verify ceremony-out/shard-1.age --pin-file pin.txt
"$kc" verify ceremony-out/shard-2.png
for i in 3 4 5; do "$kc" verify "ceremony-out/shard-$i.json"; done

step "the whole set, with the public record"
"$kc" verify --pin-file pin.txt ceremony-out/ceremony.json ceremony-out/shard-1.age \
  ceremony-out/shard-2.png ceremony-out/shard-3.json ceremony-out/shard-4.json ceremony-out/shard-5.json

step "a damaged shard is named (one character of shard 4 changed)"
cp ceremony-out/shard-4.json damaged-4.json
sed -i 's/"value": "\(.\)/"value": "X\1/; s/"value": "X0/"value": "1/; s/"value": "X[^"]/"value": "0/' damaged-4.json
if "$kc" verify damaged-4.json; then echo "demo: the damaged shard was accepted" >&2; exit 1; fi

step "two shards are not enough"
if "$kc" assemble ceremony-out/shard-3.json ceremony-out/shard-5.json --dry-run; then
  echo "demo: two shards assembled a key" >&2; exit 1
fi

step "recovery: the sealed share (PIN, touch), the QR image of sheet 2, shard 3 and the damaged one"
"$kc" assemble --pin-file pin.txt ceremony-out/shard-1.age ceremony-out/shard-2.png \
  damaged-4.json ceremony-out/shard-3.json \
  --bundle-out nexus-backup.tar.gz.enc --nexus-backup --passphrase-file passphrase.txt

step "the Nexus side: inspect and verify the backup bundle"
"$kc" bundle inspect nexus-backup.tar.gz.enc
"$kc" bundle verify nexus-backup.tar.gz.enc --passphrase-file passphrase.txt
got=$("$kc" --json bundle verify nexus-backup.tar.gz.enc --passphrase-file passphrase.txt | fingerprint_of)
[ "$got" = "$fp" ] || { echo "demo: bundle fingerprint $got is not the ceremony's $fp" >&2; exit 1; }

step "an age bundle to the Nexus's age recipient, opened by the age CLI"
age-keygen -o nexus-age.key 2>/dev/null
recipient=$(age-keygen -y nexus-age.key)
"$kc" assemble ceremony-out/shard-3.json ceremony-out/shard-4.json ceremony-out/shard-5.json \
  --bundle-out root.tar.age --recipient "$recipient"
age -d -i nexus-age.key root.tar.age | tar -t

step "done"
echo "demo: the key with fingerprint $fp was split (one share sealed to a TEST TOKEN, QR sheets printed),"
echo "      every share checked, and the key recovered from a sealed share, a QR image and a file"
echo "      into encrypted Nexus bundles. The scratch folder is shredded on exit."
