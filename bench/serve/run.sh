#!/bin/sh
# The serve benchmark (`make bench-serve`, and the end of `make bench`).
#
#   run.sh [--quick] --bin INTENTUS --bench INTENTUS_BENCH --loadgen LOADGEN
#          --floor FLOOR [--out FILE]
#
# On loopback, keep-alive, the echo agent, no tokens (--no-auth):
#   1. the floor (intentus-floor: libmicrohttpd with serve's daemon flags,
#      answering the bytes serve answers) and serve with recording off
#      (sample_rate 0, sample_errors false: no record is built), one level
#      after the other at 1, 4, 16 and 64 connections, so each serve/floor
#      ratio compares two runs taken back to back;
#   2. serve with recording on, sync and async writer (no fsync), each level
#      right after the in-process route + record figure of the same config
#      (intentus-bench --route-inproc) with as many threads as serve has
#      connections (at most 16, serve's HTTP threads).
# Prints one table and writes every figure to FILE (default
# bench/serve-results.json; with --quick $BUILD-relative serve-results-quick.json
# next to the load generator). Figures are reported, never checked.
set -eu

quick=0 bin='' bench='' loadgen='' floor='' out=''
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --bin) bin=$2; shift ;;
    --bench) bench=$2; shift ;;
    --loadgen) loadgen=$2; shift ;;
    --floor) floor=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
for v in "$bin" "$bench" "$loadgen" "$floor"; do
    [ -x "$v" ] || { echo "run.sh: '$v' is not an executable (see --help of bench/Makefile)" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$out" ]; then
    if [ $quick -eq 1 ]; then out=$(dirname "$loadgen")/serve-results-quick.json
    else out=$here/../serve-results.json; fi
fi
secs=5
[ $quick -eq 1 ] && secs=1
levels="1 4 16 64"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/intentus-bench-serve.XXXXXX")
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

printf '{"intent":"bench.echo","payload":{"x":1}}' >"$tmp/body.json"
config() { # config NAME RECORDING-EXTRA
    cat >"$tmp/$1.json" <<EOF
{"recording": {"dir": "$tmp/rec-$1"$2},
 "agents": [{"name": "echo", "builtin": "echo", "intents": ["bench.echo"]}],
 "policy": {"default": "allow"}}
EOF
}
config off ', "sample_rate": 0, "sample_errors": false'
config sync ', "mode": "sync"'
config async ', "mode": "async"'
config inproc-sync ', "mode": "sync"'
config inproc-async ', "mode": "async"'

# A port nobody listens on: the loader's connect is refused there.
port_base=$((20000 + $$ % 20000))
free_port() {
    p=$port_base
    while "$loadgen" --port "$p" -n 1 --method GET --path / 2>/dev/null | grep -q '"requests":1,'; do
        p=$((p + 1))
    done
    port_base=$((p + 1))
    echo "$p"
}
wait_up() { # wait_up PORT PID
    i=0
    while [ $i -lt 200 ]; do
        if "$loadgen" --port "$1" -n 1 --method GET --path /health 2>/dev/null | grep -q '"200":1'; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || { echo "run.sh: the server on port $1 died" >&2; exit 1; }
        sleep 0.05
        i=$((i + 1))
    done
    echo "run.sh: nothing answers on port $1" >&2
    exit 1
}
start_serve() { # start_serve NAME -> SERVE_PORT SERVE_PID
    SERVE_PORT=$(free_port)
    "$bin" serve --config "$tmp/$1.json" --listen "127.0.0.1:$SERVE_PORT" --no-auth \
        2>>"$tmp/serve-$1.log" &
    SERVE_PID=$!
    pids="$pids $SERVE_PID"
    wait_up "$SERVE_PORT" "$SERVE_PID"
}
stop_pid() {
    kill "$1"
    wait "$1" || { echo "run.sh: a server exited with status $?" >&2; exit 1; }
}
field() { # field NAME JSON
    echo "$2" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"
}
# One load run: prints "rps p50 p99 bad" (bad: I/O errors plus non-200).
load() { # load PORT CONNS
    t=$2
    [ "$t" -gt 2 ] && t=2
    j=$("$loadgen" --port "$1" -c "$2" -t "$t" -d "$secs" --body-file "$tmp/body.json")
    ok=$(echo "$j" | sed -n 's/.*"200":\([0-9]*\).*/\1/p')
    n=$(field requests "$j")
    e=$(field io_errors "$j")
    echo "$(field rps "$j") $(field p50_us "$j") $(field p99_us "$j") $((n - ${ok:-0} + e))"
}
inproc() { # inproc NAME THREADS -> "rps p50 p99 0"
    j=$("$bench" --route-inproc "$tmp/$1.json" "$secs" "$2")
    rm -rf "$tmp/rec-$1"
    echo "$(field rps "$j") $(field p50_us "$j") $(field p99_us "$j") $(field failures "$j")"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

results="$tmp/results"
: >"$results"
row() { # row LABEL CONNS "rps p50 p99 bad" RATIO RATIO-NAME
    # shellcheck disable=SC2086 # $3 is "rps p50 p99 bad": four fields on purpose
    set -- "$1" "$2" $3 "$4" "$5"
    printf '%-34s %5s %9s %9s %9s %5s %7s %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8"
    printf '{"run":"%s","conns":%s,"rps":%s,"p50_us":%s,"p99_us":%s,"bad":%s,"ratio":"%s","ratio_of":"%s"}\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" >>"$results"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'serve benchmark: %s s per run, load average %s at start\n' "$secs" "$load0"
printf '%-34s %5s %9s %9s %9s %5s %7s %s\n' run conns req/s p50_us p99_us bad ratio of

# 1. floor and serve, recording off, level by level
start_serve off
off_port=$SERVE_PORT off_pid=$SERVE_PID
curl -s -o "$tmp/response.json" -d @"$tmp/body.json" "http://127.0.0.1:$off_port/v1/route" ||
    { echo "run.sh: curl could not fetch serve's answer" >&2; exit 1; }
floor_port=$(free_port)
"$floor" --port "$floor_port" --response "$tmp/response.json" --threads 16 2>>"$tmp/floor.log" &
floor_pid=$!
pids="$pids $floor_pid"
wait_up "$floor_port" "$floor_pid"
for c in $levels; do
    f=$(load "$floor_port" "$c")
    s=$(load "$off_port" "$c")
    row "floor (bare libmicrohttpd)" "$c" "$f" "" ""
    row "serve, recording off" "$c" "$s" "$(ratio "${s%% *}" "${f%% *}")" "serve/floor"
done
stop_pid "$floor_pid"
stop_pid "$off_pid"
pids=

# 2. recording on: serve beside the in-process route + record figure, level
# by level: the in-process run uses as many threads as serve has
# connections (up to serve's 16 HTTP threads), so both keep the same number
# of executions, and of record files, in flight.
for mode in sync async; do
    start_serve "$mode"
    for c in $levels; do
        t=$c
        [ "$t" -gt 16 ] && t=16
        ip=$(inproc "inproc-$mode" "$t")
        s=$(load "$SERVE_PORT" "$c")
        row "in-process route+record, $mode" "$c" "$ip" "" "($t threads)"
        row "serve, recording $mode" "$c" "$s" "$(ratio "${s%% *}" "${ip%% *}")" "serve/in-process"
    done
    stop_pid "$SERVE_PID"
    pids=
    n_rec=$(find "$tmp/rec-$mode" -name '*.json' | wc -l)
    rm -rf "$tmp/rec-$mode"
    printf '%-34s %s records written by serve\n' "" "$n_rec"
done

load1=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'load average %s at end; figures in %s\n' "$load1" "$out"
{
    printf '{"date":"%s","git_revision":"%s","seconds_per_run":%s,' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$(git -C "$here" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)" "$secs"
    printf '"cpus":%s,"loadavg_start":"%s","loadavg_end":"%s","runs":[\n' "$(nproc)" "$load0" "$load1"
    sed '$!s/$/,/' "$results"
    printf ']}\n'
} >"$out"
