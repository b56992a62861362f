#!/usr/bin/env bash
# The main job, end to end: the demo ceremony plan (ceremony/demo.toml, a
# REHEARSAL with software test tokens) run by `keyceremony ceremony run`:
# plan hash, preflight, test tokens, key, a 3-of-5 split with each share
# checked back before the next (a shard file re-read, two QR sheets
# decoded, two shares unsealed on their test tokens with PIN and touch),
# an age bundle and a Nexus backup written and verified, and the signed
# transcript. Then the transcript is verified against the record, the age
# bundle is opened by the age CLI, and a recovery is rehearsed from the
# outputs (a QR image, a sealed share and a shard file).
#
# Everything happens in memory (/dev/shm where there is one). The scratch
# folder (the PIN file) is shredded on exit; the ceremony's outputs are left
# for you to look at, and the script says where: shard files, QR sheets and
# images are secrets by nature (of a demo key here), so shred them when done.
#
# KEYCEREMONY_BIN=/path/to/keyceremony uses that binary instead of building
# (the release helper runs the demo from an installed package this way).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

[ -n "${KEYCEREMONY_BIN:-}" ] || scripts/ensure-build-deps.sh
if ! command -v age >/dev/null 2>&1; then   # the age CLI opens the demo's age bundle
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq age >/dev/null
fi
if [ -n "${KEYCEREMONY_BIN:-}" ]; then   # an installed binary (docs/install.md): no build
  kc=$(command -v "$KEYCEREMONY_BIN") || { echo "demo: KEYCEREMONY_BIN=$KEYCEREMONY_BIN: no such program" >&2; exit 1; }
else
  cargo build --locked --release --quiet
  kc="$repo/target/release/keyceremony"
fi
unset KEYCEREMONY_TEST_TOKENS   # the run makes its own test tokens inside its outputs

# KEYCEREMONY_DEMO_BASE=DIR puts the scratch folder and the outputs in DIR
# (tests/docs_shell_blocks.rs runs the demo in a folder it removes)
base="${KEYCEREMONY_DEMO_BASE:-/dev/shm}"
[ -d "$base" ] && [ -w "$base" ] || base="${TMPDIR:-/tmp}"
umask 077
scratch=$(mktemp -d "$base/keyceremony-demo-scratch.XXXXXX")
outputs=$(mktemp -d "$base/keyceremony-demo.XXXXXX")
rmdir "$outputs"   # the run creates it (0700) and refuses one that is not empty
cleanup() {
  find "$scratch" -type f -exec shred -u {} + 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

printf '123456\n' > "$scratch/pin.txt"   # the test tokens' PIN (a published default)

step() { printf '\n######## %s\n' "$*"; }

step "the ceremony: keyceremony ceremony run ceremony/demo.toml --yes"
start=$(date +%s.%N)
"$kc" ceremony run ceremony/demo.toml --out "$outputs" --yes --pin-file "$scratch/pin.txt"
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')

step "anyone can check the transcript: chain, signature, and the record's ceremony key"
"$kc" ceremony verify-transcript "$outputs/transcript.jsonl" --record "$outputs/ceremony.json"

step "the Nexus side: the age bundle opened by the age CLI"
age -d -i ceremony/demo-nexus-identity.txt "$outputs/demo-root-key.tar.age" | tar -t

step "a recovery rehearsed from the outputs: the QR image of sheet 2, Dan's sealed share (PIN, touch) and Alice's shard file"
"$kc" --test-tokens "$outputs/test-tokens" assemble --pin-file "$scratch/pin.txt" \
  "$outputs/shard-2.png" "$outputs/shard-4.age" "$outputs/shard-1.json" --dry-run

step "done in ${secs} s (the ceremony run, with --yes: no waiting for people)"
cat <<EOF
The outputs of the demo ceremony are in $outputs:
  transcript.jsonl   the signed, hash-chained transcript
  transcript.html    the printable transcript with signature lines (open it in a browser, print it)
  ceremony.json      the public ceremony record (with the ceremony's public key)
  shard-1.json       Alice's shard file
  shard-2.html, -3   Bob's and Carol's printable QR sheets (with their .png and .svg)
  shard-4/5.age      Dan's and Erin's shares, sealed to their test tokens (test-tokens/)
  demo-root-key.*    the age bundle and the Nexus backup of the key
Shard files, QR sheets and images are secrets by nature (here of a demo key,
in a REHEARSAL); they are in memory ($base) and gone at the next reboot.
To remove them now:  find $outputs -type f -exec shred -u {} + && rm -rf $outputs
EOF
