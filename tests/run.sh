#!/bin/sh
# Run every cmocka test binary with TAP output, keep each log under
# $BUILD/tests/, name the failing cases and end with one summary line.
# A binary that crashes or exits non-zero without a "not ok" still counts as
# a failure, so a test cannot pass by dying.
set -u
: "${BUILD:=build}"
# The console keeps preferences in $XDG_STATE_HOME (else $HOME/.local/state):
# the tests give each console a HOME of its own, so a state directory from
# the caller's environment must not be read or written by them.
unset XDG_STATE_HOME
logdir="$BUILD/tests/logs"
mkdir -p "$logdir"
passed=0
failed=0
skipped=0
# Every binary is bounded in time, so a hang fails the suite instead of
# stalling it: 15 minutes each (an hour under valgrind); TEST_TIMEOUT
# (seconds) overrides.
if [ -n "${VALGRIND:-}" ]; then limit=${TEST_TIMEOUT:-3600}; else limit=${TEST_TIMEOUT:-900}; fi
for t in "$@"; do
    name=$(echo "$t" | sed "s|^$BUILD/tests/||")
    log="$logdir/$(echo "$name" | tr '/' '_').log"
    CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 10 "$limit" ${VALGRIND:-} "$t" >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "# timed out after $limit s (TEST_TIMEOUT)" >>"$log"
    fi
    # cmocka marks skipped tests "# SKIP"; they are neither passes nor failures.
    s=$(grep -acE '^(not )?ok .*# SKIP' "$log")
    p=$(grep -a '^ok ' "$log" | grep -vc '# SKIP')
    f=$(grep -a '^not ok ' "$log" | grep -vc '# SKIP')
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    if [ "$f" -gt 0 ]; then
        grep -a '^not ok ' "$log" | grep -v '# SKIP' | sed "s|^|  FAIL $name: |"
        grep -aE '^#' "$log" | head -20 | sed 's|^|    |'
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "  FAIL $name: exited with status $rc (see $log)"
        tail -20 "$log" | sed 's|^|    |'
        failed=$((failed + 1))
    fi
    printf '%-40s %3d passed, %d failed\n' "$name" "$p" "$f"
    # A skip is printed with its reason (never a silent pass).
    if [ "$s" -gt 0 ]; then
        grep -aE '^(not )?ok .*# SKIP|^# SKIP' "$log" | sed -E 's/^(not )?ok [0-9]+ # SKIP/ test:/; s/^# SKIP//' |
            head -8 | sed "s|^|  SKIP $name:|"
    fi
done
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
