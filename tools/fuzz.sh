#!/usr/bin/env bash
# Runs each libFuzzer harness (fuzz/<name>.c, built as BUILD/fuzz-<name>) for SECONDS on its
# corpus BUILD/corpus/<name> (seeded from real files by tools/fuzz-seeds.sh the first time),
# crashes into BUILD/crashes/<name>/. Prints one line per harness (executions, crashes) and
# exits 1 when any harness crashed. Run from the repository's root.
#   tools/fuzz.sh BUILD SECONDS NAME...
# FUZZ_RUNS=N (environment) stops each harness after N executions instead (SECONDS still caps it).
set -uo pipefail
build=$1 secs=$2
shift 2
[ -d "$build/corpus" ] || tools/fuzz-seeds.sh "$build/corpus" || exit 1
failed=0
summary="$build/fuzz-summary.txt"
: > "$summary"
for name in "$@"; do
    mkdir -p "$build/corpus/$name" "$build/crashes/$name"
    log="$build/fuzz-$name.log"
    "$build/fuzz-$name" -max_total_time="$secs" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
        -print_final_stats=1 -max_len=65536 \
        -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$build/crashes/$name/" \
        "$build/corpus/$name" > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    crashes=$(find "$build/crashes/$name" -type f | wc -l)
    secs_used=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    line="fuzz $name: ${execs:-0} executions in ${secs_used:-$secs}s, $crashes crash file(s), exit $rc"
    echo "$line" | tee -a "$summary"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        tail -30 "$log" >&2
    fi
done
exit $failed
