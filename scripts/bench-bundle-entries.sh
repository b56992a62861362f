#!/usr/bin/env bash
# Benchmark of bundle create/verify/open against the number of entries: bundles
# of tiny files (5k, 20k and 100k by default), each step timed separately, so a
# step that grows faster than the entry count shows up. Not a timed test.
#
#   scripts/bench-bundle-entries.sh [COUNT...]      (default 2 5000 20000 100000;
# 2 entries, the key and one file, give the fixed cost: Argon2 and start-up)
#
# Prints a Markdown table: entries, then wall seconds for create, verify and
# open, the CPU seconds of another open (user + system: what the disk does
# not decide), the open time per 1000 entries, and beside it the peer: GNU tar
# extracting the same files from a plain .tar.gz, then `sync -f` (open puts
# every file on disk with one syncfs before the folder appears; tar alone
# would leave them in the page cache), run right after in the same loop. Uses a release build (KEYCEREMONY_BIN
# to time another binary) and python3 to make the files. Works in a temporary
# folder, removed at the end (BENCH_KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
if [ -n "${KEYCEREMONY_BIN:-}" ]; then
    K="$KEYCEREMONY_BIN"
else
    cargo build --release --locked --quiet --bin keyceremony
    K="$ROOT/target/release/keyceremony"
fi
command -v python3 >/dev/null || { echo "missing python3"; exit 1; }
[ "$#" -gt 0 ] || set -- 2 5000 20000 100000

WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/bench-entries.XXXXXX")"
[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
cp testdata/known-key/key.hex "$WORK/key.hex"
printf 'benchmark passphrase\n' > "$WORK/pass.txt"

# Seconds (3 decimals) that the command takes; its output goes to $WORK/log.
seconds() {
    local start end
    start=$(date +%s.%N)
    "$@" >"$WORK/log" 2>&1 || { echo "failed: $*" >&2; cat "$WORK/log" >&2; exit 1; }
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
}

# CPU seconds (user + system) the command takes, whatever the disk does.
cpu_seconds() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.3f}")
PY
}

echo "| entries | create s | verify s | open s | open CPU s | open ms per 1000 entries | tar -xzf + sync -f s |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for n in "$@"; do
    d="$WORK/n$n"
    mkdir -p "$d"
    # n-1 tiny files in folders of 1000: with the key, n entries listed.
    python3 - "$d/data" "$((n - 1))" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(root, f"d{i // 1000:03d}")
    if i % 1000 == 0:
        os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i:06d}"), "w") as f:
        f.write(f"{i}\n")
PY
    create=$(cd "$d" && seconds "$K" bundle create --key-file "$WORK/key.hex" \
        --include data --out b.tar.gz.enc --nexus-backup --passphrase-file "$WORK/pass.txt")
    verify=$(seconds "$K" bundle verify "$d/b.tar.gz.enc" --passphrase-file "$WORK/pass.txt")
    cpu=$(cpu_seconds "$K" bundle open "$d/b.tar.gz.enc" --passphrase-file "$WORK/pass.txt" --out "$d/cpu")
    open=$(seconds "$K" bundle open "$d/b.tar.gz.enc" --passphrase-file "$WORK/pass.txt" --out "$d/out")
    per=$(python3 -c "print(f'{$open * 1e6 / $n:.1f}')")
    (cd "$d" && tar -czf plain.tar.gz data)
    mkdir "$d/peer"
    peer=$(seconds sh -c 'tar -xzf "$1" -C "$2" && sync -f "$2"' sh "$d/plain.tar.gz" "$d/peer")
    echo "| $n | $create | $verify | $open | $cpu | $per | $peer |"
    rm -rf "$d"
done
