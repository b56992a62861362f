#!/usr/bin/env bash
# Benchmark of splitting any secret (issue 12): `split --secret-file` and
# `assemble --secret-output` on one random secret, next to the age CLI doing
# the same encryption (`age -r` to an X25519 recipient, `age -d`).
#
#   scripts/bench-secret.sh [SIZE_MIB]      (default 1024)
#
# Prints a Markdown table (also copied to $BENCH_RESULTS, default
# /tmp/bench-secret-results.md): wall time, CPU time (user+sys), throughput
# by wall time and peak resident memory (GNU time %M). keyceremony's split
# also decrypts secret.age back to check it, and both keyceremony commands
# fsync their output; the age CLI does neither. Needs a release build, age,
# age-keygen, GNU time (apt-get install time) and python3. Uses about 4x SIZE
# of disk in a temporary folder, removed at the end (BENCH_KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB="${1:-1024}"
K="$PWD/target/release/keyceremony"
cargo build --release --locked --quiet
for tool in age age-keygen /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install age time)"; exit 1; }
done

WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/bench-secret.XXXXXX")"
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
age-keygen -o id.txt 2>/dev/null
R="$(grep -o 'age1[a-z0-9]*' id.txt)"
head -c "${SIZE_MIB}M" /dev/urandom > secret.bin
cat secret.bin > /dev/null   # warm the page cache

ROWS="$WORK/rows.md"
: > "$ROWS"
# measure LABEL CMD...
measure() {
    local label="$1"; shift
    sync
    /usr/bin/time -f '%e %U %S %M' -o t "$@" >/dev/null 2>err || { echo "FAILED: $label"; cat err; exit 1; }
    read -r wall user sys kb < t
    local cpu mbs
    cpu=$(python3 -c "print(f'{$user+$sys:.2f}')")
    mbs=$(python3 -c "print(f'{$SIZE_MIB*1.048576/max($wall,0.01):.0f}')")
    printf '| %s | %s | %s | %s | %s |\n' "$label" "$wall" "$cpu" "$mbs" "$((kb / 1024))" | tee -a "$ROWS"
}

measure "age -r (X25519 recipient)" age -r "$R" -o x.age secret.bin
measure "age -d" age -d -i id.txt -o x.out x.age
cmp secret.bin x.out
rm -f x.out x.age
measure "keyceremony split -t 2 -n 3 --secret-file (with read-back)" \
    "$K" split -t 2 -n 3 --out c --secret-file secret.bin
measure "keyceremony assemble --secret-output" \
    "$K" assemble c/shard-1.json c/shard-3.json c/ceremony.json --secret-output out.bin
cmp secret.bin out.bin

{
    echo "Secret: ${SIZE_MIB} MiB of random bytes; $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
    echo
    echo "| operation | wall s | CPU s | MB/s (wall) | peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|"
    cat "$ROWS"
} > results.md
echo
cat results.md
[ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $WORK"
cp results.md "${BENCH_RESULTS:-/tmp/bench-secret-results.md}"
