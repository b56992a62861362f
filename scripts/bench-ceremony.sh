#!/usr/bin/env bash
# Benchmark: the machine time of the demo ceremony (ceremony/demo.toml), that
# is everything but waiting for people: `keyceremony ceremony run --yes` with
# the PIN from a file, in memory (/dev/shm), RUNS times (default 5).
#
#   scripts/bench-ceremony.sh [RUNS]
#
# Prints the CPU, each run's wall and CPU time (user+sys), the median and
# the best, and for the first run the wall time of each step (from when
# its announcement was printed to the next one's). Target: under 5 s.
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
work=$(mktemp -d "$base/bench-ceremony.XXXXXX")
trap 'find "$work" -type f -exec shred -u {} + 2>/dev/null || true; rm -rf "$work"' EXIT
printf '123456\n' > "$work/pin.txt"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores, sha_ni: $(grep -o -m1 sha_ni /proc/cpuinfo || echo no)"
echo "binary: $kc"
run_once() { # OUT [stamp]: one run; with "stamp", each output line with its time
  if [ "${2:-}" = stamp ]; then
    "$kc" ceremony run ceremony/demo.toml --out "$1" --yes --pin-file "$work/pin.txt" 2>/dev/null \
      | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done
  else
    "$kc" ceremony run ceremony/demo.toml --out "$1" --yes --pin-file "$work/pin.txt" 2>/dev/null
  fi
}
scrub() { find "$1" -type f -exec shred -u {} + 2>/dev/null || true; rm -rf "$1"; }

walls=()
TIMEFORMAT='%R %U %S'
for i in $(seq 1 "$RUNS"); do
  out="$work/run-$i"
  times=$( { time run_once "$out" > "$work/stdout-$i.txt"; } 2>&1 )
  grep -q 'ceremony completed' "$work/stdout-$i.txt" || { echo "run $i did not complete:"; cat "$work/stdout-$i.txt"; exit 1; }
  read -r wall user sys <<<"$times"
  walls+=("$wall")
  printf 'run %d: wall %s s, cpu (user+sys) %s s\n' "$i" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')"
  scrub "$out"
done

# one more run, each line time-stamped as it comes (the stamping adds a little)
out="$work/run-steps"
run_once "$out" stamp > "$work/stamps.txt"
t1=$(date +%s.%N)
echo "steps (wall time from each announcement to the next; one extra, time-stamped run):"
awk -v end="$t1" '
  / == Step / { if (name != "") printf "  %6.3f s  %s\n", $1 - at, name; at = $1; name = $0; sub(/^[^=]*== /, "", name) }
  END { if (name != "") printf "  %6.3f s  %s (to the end of the run)\n", end - at, name }' "$work/stamps.txt"
scrub "$out"
sorted=$(printf '%s\n' "${walls[@]}" | sort -n)
best=$(echo "$sorted" | head -n1)
median=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "demo ceremony machine time: median $median s, best $best s over $RUNS runs (target: under 5 s)"
