#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the
# other, on the stable toolchain, and prints a line of figures per target.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # default 60 s each, all targets
#
# - cargo-fuzz drives nightly-only rustc flags (-Z sanitizer, coverage
#   instrumentation); RUSTC_BOOTSTRAP=1 lets the stable compiler accept
#   them. See docs/fuzzing.md.
# - One fuzzing process at a time, at the lowest CPU priority (the machine is
#   shared): libFuzzer's default of one job and one worker, under nice -n 19.
# - New inputs go into fuzz/corpus/TARGET/ (kept in the repository, minimised
#   with `FUZZ_CMIN=1`); crashes into fuzz/artifacts/TARGET/ (not kept:
#   each becomes a file in testdata/fuzz-regressions/TARGET/ and a fix).
# - FUZZ_SANITIZER=address for AddressSanitizer (about half the speed; the
#   parsers are safe Rust, so the default is none).
# Logs: fuzz/logs/TARGET.log. Exit status 1 when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
[[ $# -gt 0 ]] && shift
sanitizer="${FUZZ_SANITIZER:-none}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz (about 2 minutes)" >&2
    cargo install --locked --version 0.13.2 cargo-fuzz
fi
command -v c++ >/dev/null || { echo "fuzz.sh: libFuzzer needs a C++ compiler (apt-get install g++)" >&2; exit 1; }

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(cargo fuzz list)

nice -n 19 cargo fuzz build --sanitizer "$sanitizer" >&2
mkdir -p logs
crashed=0
printf '%-16s %8s %12s %10s %7s %7s %7s %9s %7s\n' target seconds execs exec/s cov ft files bytes crashes
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    dict=()
    [[ -e "dict/$t.dict" ]] && dict=("-dict=dict/$t.dict")
    before=$(find "artifacts/$t" -type f | wc -l)
    status=0
    nice -n 19 cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" >"logs/$t.log" 2>&1 || status=$?
    if [[ "${FUZZ_CMIN:-0}" == 1 ]]; then
        nice -n 19 cargo fuzz cmin --sanitizer "$sanitizer" "$t" "corpus/$t" >>"logs/$t.log" 2>&1
    fi
    after=$(find "artifacts/$t" -type f | wc -l)
    [[ $status -eq 0 && $after -eq $before ]] || crashed=1
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | tail -1 | grep -o '[0-9]*$' || echo '?')
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | tail -1 | grep -o '[0-9]*$' || echo '?')
    last=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE).*cov: ' "logs/$t.log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    files=$(find "corpus/$t" -type f | wc -l)
    bytes=$(find "corpus/$t" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    printf '%-16s %8s %12s %10s %7s %7s %7s %9s %7s\n' "$t" "$seconds" "$execs" "$rate" \
        "${cov:-?}" "${ft:-?}" "$files" "$bytes" "$((after - before))"
done
exit "$crashed"
