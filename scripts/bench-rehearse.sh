#!/usr/bin/env bash
# Benchmark: `keyceremony ceremony rehearse` on a 5-of-10 split (252
# subsets): five shares sealed to test tokens and five shard files, in
# memory (/dev/shm), RUNS times (default 5).
#
#   scripts/bench-rehearse.sh [RUNS]
#
# Prints the CPU, and per run the machine time of the reconstructions
# alone (every output already opened and unsealed: the figure issue 11
# asks to keep under 1 s) and the wall time of the whole command (opening,
# unsealing and the signed record included); then the medians.
# KEYCEREMONY_BIN=/path/to/keyceremony uses that binary instead of a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
if [ -n "${KEYCEREMONY_BIN:-}" ]; then
  kc=$KEYCEREMONY_BIN
else
  cargo build --release --locked --quiet
  kc="$PWD/target/release/keyceremony"
fi
unset KEYCEREMONY_TEST_TOKENS
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base="${TMPDIR:-/tmp}"
work=$(mktemp -d "$base/bench-rehearse.XXXXXX")
trap 'find "$work" -type f -exec shred -u {} + 2>/dev/null || true; rm -rf "$work"' EXIT
printf '123456\n' > "$work/pin.txt"   # the test tokens' published default PIN

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
echo "binary: $kc"
seal=()
for s in 1 2 3 4 5; do
  "$kc" --test-tokens "$work/tokens" token init --serial "4200000$s" --pin-file "$work/pin.txt" >/dev/null
  seal+=(--seal-to "4200000$s")
done
"$kc" --test-tokens "$work/tokens" split -t 5 -n 10 --generate --out "$work/c" "${seal[@]}" >/dev/null

subs=(); walls=()
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s.%N)
  "$kc" --json --test-tokens "$work/tokens" ceremony rehearse "$work/c" --yes \
    --pin-file "$work/pin.txt" > "$work/run-$i.json" 2>/dev/null
  end=$(date +%s.%N)
  read -r ok tried secs < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["ok"], j["subsets_reconstructed"], j["subsets_seconds"])' "$work/run-$i.json")
  [ "$ok" = True ] && [ "$tried" = 252 ] || { echo "run $i: not 252 good subsets ($ok, $tried)"; exit 1; }
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  ms=$(awk -v s="$secs" 'BEGIN { printf "%.1f", s * 1000 }')
  subs+=("$ms"); walls+=("$wall")
  printf 'run %d: 252 subsets in %s ms; the whole command %s s\n' "$i" "$ms" "$wall"
  rm -f "$work"/c/rehearsal-*.jsonl
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "median: 252 subsets in $(median "${subs[@]}") ms; the whole command $(median "${walls[@]}") s"
