#!/usr/bin/env bash
# Benchmark of bundle create/open against the age CLI and tar -cz, side by
# side in one run, on random and on text-like data.
#
#   scripts/bench-bundle.sh [SIZE_MIB]      (default 1024)
#
# Prints a Markdown table (also left in $WORK/results.md): wall time, CPU time
# (user+sys, less sensitive to a busy machine), throughput by wall time, peak
# resident memory (GNU time %M) and output size. Needs a release build, age,
# age-keygen, GNU time, tar, gzip, python3. Uses about 6x SIZE of disk in a
# temporary folder, removed at the end (BENCH_KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB="${1:-1024}"
ROOT="$PWD"
K="$ROOT/target/release/keyceremony"
cargo build --release --locked --quiet
for tool in age age-keygen /usr/bin/time tar gzip python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (scripts/ensure-bundle-interop.sh; apt-get install time)"; exit 1; }
done

WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/bench-bundle.XXXXXX")"
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
age-keygen -o "$WORK/id.txt" 2>/dev/null
R="$(grep -o 'age1[a-z0-9]*' "$WORK/id.txt")"
printf 'benchmark passphrase\n' > "$WORK/pass.txt"
cp testdata/known-key/key.hex "$WORK/key.hex"

mkdir -p "$WORK/random/data" "$WORK/text/data"
head -c "${SIZE_MIB}M" /dev/urandom > "$WORK/random/data/payload"
# Text-like: log lines with timestamps, ids, words and numbers (about 3:1 under gzip).
python3 - "$WORK/text/data/payload" "$SIZE_MIB" <<'PY'
import random, sys
path, size = sys.argv[1], int(sys.argv[2]) << 20
rnd = random.Random(7)
words = ["nexus", "secret", "key", "rotate", "backup", "restore", "shard", "policy", "audit",
         "user", "admin", "token", "session", "error", "warning", "info", "debug", "request",
         "response", "latency", "store", "keyring", "ceremony", "custodian", "threshold"]
block = []
n = 0
while n < 32 << 20:
    line = "2026-11-%02dT%02d:%02d:%02d.%03dZ %s id=%08x %s %s %s value=%d\n" % (
        rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59),
        rnd.randint(0, 999), rnd.choice(["INFO", "WARN", "DEBUG"]), rnd.getrandbits(32),
        rnd.choice(words), rnd.choice(words), rnd.choice(words), rnd.randint(0, 100000))
    block.append(line)
    n += len(line)
data = "".join(block).encode()
with open(path, "wb") as f:
    written = 0
    while written < size:
        # A 32 MiB block repeated: far beyond deflate's 32 KiB window, so it compresses like fresh text.
        piece = data[: size - written]
        f.write(piece)
        written += len(piece)
PY

ROWS="$WORK/rows.md"
: > "$ROWS"
# measure DATASET LABEL OUTPUT CMD...   (runs in $WORK/DATASET)
measure() {
    local ds="$1" label="$2" out="$3"; shift 3
    sync
    ( cd "$WORK/$ds" && /usr/bin/time -f '%e %U %S %M' -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" ) \
        || { echo "FAILED: $label"; cat "$WORK/err"; exit 1; }
    read -r wall user sys kb < "$WORK/t"
    local cpu size
    cpu=$(python3 -c "print(f'{$user+$sys:.2f}')")
    size="-"
    if [ -n "$out" ] && [ -e "$WORK/$ds/$out" ]; then
        size=$(du -sb "$WORK/$ds/$out" | cut -f1)
        size=$(python3 -c "print(f'{$size/1048576:.0f} MiB')")
    fi
    local mbs
    mbs=$(python3 -c "print(f'{$SIZE_MIB*1.048576/$wall:.0f}')")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$ds" "$label" "$wall" "$cpu" "$mbs" \
        "$((kb / 1024))" "$size" | tee -a "$ROWS"
}

for ds in random text; do
    D="$WORK/$ds"
    cat "$D/data/payload" > /dev/null   # warm the page cache
    # --- age format
    measure $ds "age CLI: age -r (raw file)" x.age age -r "$R" -o x.age data/payload
    measure $ds "age CLI: tar -c \| age -r" x.tar.age bash -c "tar -c data | age -r '$R' -o x.tar.age"
    measure $ds "keyceremony bundle create (age)" kc.tar.age \
        "$K" bundle create --key-file ../key.hex --output kc.tar.age --recipient "$R" --include data
    measure $ds "age CLI: age -d (raw file)" x.out age -d -i ../id.txt -o x.out x.age
    rm -f "$D/x.out"
    measure $ds "age CLI: age -d \| tar -x" xo bash -c "mkdir xo && age -d -i ../id.txt x.tar.age | tar -x -C xo"
    rm -rf "$D/xo"
    measure $ds "keyceremony bundle verify (age)" "" \
        "$K" bundle verify kc.tar.age --identity ../id.txt
    measure $ds "keyceremony bundle open (age, fsync)" ko \
        "$K" bundle open kc.tar.age --identity ../id.txt --out ko
    rm -rf "$D/ko" "$D/x.age" "$D/x.tar.age" "$D/kc.tar.age"
    # --- backup format
    measure $ds "tar -cz (reference)" x.tar.gz tar -czf x.tar.gz data
    measure $ds "tar -cz \| age -r" x.tar.gz.age bash -c "tar -cz data | age -r '$R' -o x.tar.gz.age"
    measure $ds "keyceremony bundle create --nexus-backup" kc.tar.gz.enc \
        "$K" bundle create --key-file ../key.hex --output kc.tar.gz.enc --nexus-backup \
        --passphrase-file ../pass.txt --include data
    measure $ds "tar -xzf (reference)" to bash -c "mkdir to && tar -xzf x.tar.gz -C to"
    rm -rf "$D/to"
    measure $ds "age -d \| tar -xz" ao bash -c "mkdir ao && age -d -i ../id.txt x.tar.gz.age | tar -xz -C ao"
    rm -rf "$D/ao"
    measure $ds "keyceremony bundle verify (nexus)" "" \
        "$K" bundle verify kc.tar.gz.enc --passphrase-file ../pass.txt
    measure $ds "keyceremony bundle open (nexus, fsync)" ko \
        "$K" bundle open kc.tar.gz.enc --passphrase-file ../pass.txt --out ko
    rm -rf "$D/ko" "$D"/x.* "$D"/kc.*
done

{
    echo "Payload: ${SIZE_MIB} MiB per data set; $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
    echo
    echo "| data | operation | wall s | CPU s | MB/s (wall) | peak RSS MiB | output |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    cat "$ROWS"
} > "$WORK/results.md"
echo
cat "$WORK/results.md"
[ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $WORK"
cp "$WORK/results.md" "${BENCH_RESULTS:-/tmp/bench-bundle-results.md}"
