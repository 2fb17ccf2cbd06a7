#!/bin/sh
# run.sh - build the libFuzzer drivers with clang and run each on its seed corpus plus new inputs
#
#   sh tests/fuzz/run.sh [SECONDS]     (default: $FUZZ_SECONDS, else 20)
#
# Drivers run two at a time (the test machine has 2 cores). Each starts from tests/fuzz/corpus-NAME
# and keeps what it finds in build-fuzz/corpus-NAME (so a long `make fuzz` run carries on from the
# last); a crash, leak or sanitizer report fails the run and names the reproducer, to replay with
#   build-fuzz/tests/fuzz_NAME REPRODUCER
# Prints libFuzzer's "#N DONE" line (runs, coverage) of each driver.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_BUILD:-$SRC/build-fuzz}
SECS=${1:-${FUZZ_SECONDS:-20}}
TARGETS="proto http httpwire engine conf list snapshot control banlog"
JOBS=${FUZZ_JOBS:-2}

CC=clang cmake -S "$SRC" -B "$OUT" -DCMAKE_BUILD_TYPE=Debug -DFG_FUZZ=ON -DFG_TESTS=ON \
    -DFG_WERROR="${WERROR:-OFF}" >/dev/null || exit 1
cmake --build "$OUT" -j 2 $(for t in $TARGETS; do printf ' --target fuzz_%s' "$t"; done) >"$OUT/build.log" 2>&1 ||
    { tail -40 "$OUT/build.log"; exit 1; }

# corpus folder of a driver (the policy protocol's is the older tests/fuzz/corpus)
seeds() { [ "$1" = proto ] && echo "$SRC/tests/fuzz/corpus" || echo "$SRC/tests/fuzz/corpus-$1"; }

# one - run driver $1; its log in $OUT/fuzz-$1.log, its exit status in $OUT/fuzz-$1.rc
one() {
    mkdir -p "$OUT/corpus-$1" "$OUT/crashes"
    ASAN_OPTIONS=abort_on_error=1:quarantine_size_mb=32 LSAN_OPTIONS=suppressions=$SRC/tests/fuzz/lsan.supp \
    UBSAN_OPTIONS=print_stacktrace=1 \
        "$OUT/tests/fuzz_$1" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/crashes/$1-" "$OUT/corpus-$1" "$(seeds "$1")" </dev/null >"$OUT/fuzz-$1.log" 2>&1
    echo $? >"$OUT/fuzz-$1.rc"
}

set -- $TARGETS
while [ $# -gt 0 ]; do
    pids=""
    i=0
    while [ $# -gt 0 ] && [ $i -lt "$JOBS" ]; do
        one "$1" & pids="$pids $!"
        shift
        i=$((i + 1))
    done
    wait $pids
done

failed=0
for t in $TARGETS; do
    rc=$(cat "$OUT/fuzz-$t.rc")
    done_line=$(grep -a '^#[0-9]*[[:space:]]*DONE' "$OUT/fuzz-$t.log" | tail -1)
    if [ "$rc" = 0 ]; then
        echo "fuzz_$t: ok, ${SECS}s: $done_line"
    else
        failed=1
        echo "fuzz_$t: FAILED (exit $rc), log $OUT/fuzz-$t.log"
        grep -a -E 'ERROR: |SUMMARY: |runtime error' "$OUT/fuzz-$t.log" | head -5
        grep -a 'Test unit written to' "$OUT/fuzz-$t.log" | sed 's/.*written to /  reproducer: /'
    fi
done
exit $failed
