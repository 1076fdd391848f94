#!/bin/sh
# Run each libFuzzer binary for $FUZZ_SECONDS seconds over its seeds
# (tests/fuzz/corpus/<name>, read-only) and regressions
# (tests/fuzz/regressions/<name>), growing a scratch corpus under
# $BUILD/fuzz/work/<name>. Any crash, leak, timeout or sanitizer report fails
# the run; the reproducer is kept under $BUILD/fuzz/artifacts/<name>/ and
# belongs in tests/fuzz/regressions/<name>/ once fixed, so the replay test
# (make test) keeps it fixed. Ends with one line per target: runs and execs/s.
set -u
: "${BUILD:=build}"
: "${FUZZ_SECONDS:=30}"
: "${FUZZ_ARGS:=}"
failed=0
summary=""
for bin in "$@"; do
    name=$(basename "$bin" | sed 's/^fuzz_//')
    work="$BUILD/fuzz/work/$name"
    art="$BUILD/fuzz/artifacts/$name/"
    log="$BUILD/fuzz/logs/$name.log"
    mkdir -p "$work" "$art" "$(dirname "$log")"
    dirs=""
    for d in tests/fuzz/corpus/$name tests/fuzz/regressions/$name; do
        [ -d "$d" ] && dirs="$dirs $d"
    done
    case $name in
    theme | query) dict="tests/fuzz/$name.dict" ;;
    *) dict="tests/fuzz/json.dict" ;;
    esac
    [ -f "$dict" ] && dict="-dict=$dict" || dict=""
    echo "fuzz: $name for ${FUZZ_SECONDS}s"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$art" $dict $FUZZ_ARGS "$work" $dirs >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -aE '^#[0-9]+' "$log" | tail -1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    line=$(printf '%-8s %10s runs %8s exec/s  cov %s' "$name" "${runs:-?}" "${eps:-?}" "${cov:-?}")
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + 1))
        line="$line  FAILED (status $rc)"
        echo "fuzz: $name FAILED; log $log; reproducer(s):"
        ls "$art" | sed "s|^|    $art|"
        grep -aE 'ERROR|SUMMARY|invariant|runtime error' "$log" | head -10 | sed 's/^/    /'
        echo "    copy the reproducer to tests/fuzz/regressions/$name/ once fixed"
    fi
    summary="$summary$line
"
done
printf '%s' "$summary"
echo "fuzz: $# targets, $failed failed"
[ "$failed" -eq 0 ]
