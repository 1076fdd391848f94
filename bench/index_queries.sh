#!/bin/sh
# Warm timings of the read commands through the persistent index, against
# the index's own reconcile (`intentus index stats`: open + reconcile, no
# query) measured in the same rounds, so query = command - reconcile.
#   bench/index_queries.sh DIR [ROUNDS] [BIN]
# DIR: a record directory (bench/index_gen.py N DIR TEMPLATES... makes one).
# Prints per command the median wall time and the median CPU time
# (user + system; less disturbed by a loaded machine), each with its range,
# and the index size per record. NO_INDEX=1 adds each command with
# --no-index (one round: it reads every file).
set -eu
dir=$1
rounds=${2:-5}
bin=${3:-build/intentus}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names="reconcile list20 stats gc7d list_intent"

cmd_of() {
    case $1 in
    reconcile) echo "index stats" ;;
    list20) echo "records list --limit 20" ;;
    stats) echo "records stats" ;;
    gc7d) echo "records gc --dry-run --older-than 7d" ;;
    list_intent) echo "records list --limit 20 --intent no.such.intent" ;;
    esac
}

run() { # name args...: appends "wall cpu" in ms to $tmp/name
    name=$1
    shift
    /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$bin" "$@" --dir "$dir" >/dev/null
    awk '{ printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000 }' "$tmp/t" >>"$tmp/$name"
}

"$bin" index stats --dir "$dir" >/dev/null # warm: the index is current
i=0
while [ "$i" -lt "$rounds" ]; do
    for name in $names; do
        # shellcheck disable=SC2046 # the command's words
        run "$name" $(cmd_of "$name")
    done
    i=$((i + 1))
done
if [ "${NO_INDEX:-0}" = 1 ]; then
    for name in list20 stats gc7d; do
        # shellcheck disable=SC2046
        run "$name-no-index" $(cmd_of "$name") --no-index
    done
    names="$names list20-no-index stats-no-index gc7d-no-index"
fi
echo "# $(basename "$dir"): $("$bin" index stats --dir "$dir" | grep -E '^(records|size):' | tr -s ' ' | tr '\n' ' ')"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds"
for name in $names; do
    for col in 1 2; do
        cut -d' ' -f$col "$tmp/$name" | sort -n | tr '\n' ' ' >"$tmp/col$col"
        echo >>"$tmp/col$col"
    done
    awk -v n="$name" 'NR == 1 { nw = split($0, w, " ") } NR == 2 { nc = split($0, c, " ") } END {
        printf "%-18s wall %6d ms (%d-%d)   cpu %6d ms (%d-%d)\n", n, w[int((nw + 1) / 2)], w[1],
               w[nw], c[int((nc + 1) / 2)], c[1], c[nc] }' "$tmp/col1" "$tmp/col2"
done
