#!/bin/sh
# The serve soak (`make bench-soak`): 64 keep-alive clients on an echo intent
# and one on an intent limited to 3 a minute, for 60 s (--quick: 10 s), a
# SIGHUP every 5 s (--quick: every 2 s), then SIGTERM. Passes when there was
# no error but the configured rate limit (a 200 whose response says
# RATE_LIMIT), every answer carried an executionId, every executionId has
# exactly one record (one <id>.json, no id answered twice, no record nobody
# was told of), every SIGHUP reloaded and serve exited 0. Figures
# (requests, req/s, p50/p99) are printed, never checked. The short version
# runs in make test (tests/cli/test_serve.c, test_soak_sighup*).
#
#   soak.sh [--quick] [--async] --bin INTENTUS --loadgen LOADGEN
set -eu

quick=0 mode=sync bin='' loadgen=''
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --async) mode=async ;;
    --bin) bin=$2; shift ;;
    --loadgen) loadgen=$2; shift ;;
    *) echo "soak.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
if [ ! -x "$bin" ] || [ ! -x "$loadgen" ]; then
    echo "soak.sh: --bin and --loadgen must be executables" >&2
    exit 2
fi
secs=60 hup=5 conns=64
[ $quick -eq 1 ] && secs=10 hup=2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/intentus-soak.XXXXXX")
serve_pid=
cleanup() {
    if [ -n "$serve_pid" ]; then kill -9 "$serve_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cat >"$tmp/intentus.json" <<EOF
{"recording": {"dir": "$tmp/records", "mode": "$mode"},
 "agents": [{"name": "echo", "builtin": "echo", "intents": ["soak.echo", "soak.limited"]}],
 "policy": {"default": "allow", "rules": [
   {"id": "three", "action": "allow", "intents": ["soak.limited"],
    "rate_limit_per_minute": 3, "rate_limit_key_template": "{intent}"}]},
 "serve": {"queue": 1000}}
EOF
printf '{"intent":"soak.echo","payload":{"x":1}}' >"$tmp/echo.json"
printf '{"intent":"soak.limited"}' >"$tmp/limited.json"

port=$((20000 + $$ % 20000))
while "$loadgen" --port "$port" -n 1 --method GET --path / 2>/dev/null | grep -q '"requests":1,'; do
    port=$((port + 1))
done
"$bin" serve --config "$tmp/intentus.json" --listen "127.0.0.1:$port" --no-auth 2>"$tmp/serve.log" &
serve_pid=$!
i=0
until "$loadgen" --port "$port" -n 1 --method GET --path /health 2>/dev/null | grep -q '"200":1'; do
    i=$((i + 1))
    if [ $i -ge 200 ] || ! kill -0 "$serve_pid" 2>/dev/null; then
        echo "soak: serve did not start" >&2
        cat "$tmp/serve.log" >&2
        exit 1
    fi
    sleep 0.05
done

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "soak: $conns clients + 1 rate-limited for $secs s, $mode writer, SIGHUP every $hup s (load $load0)"
"$loadgen" --port "$port" -c "$conns" -t 2 -d "$secs" --body-file "$tmp/echo.json" \
    --ids-out "$tmp/echo.ids" >"$tmp/echo.out" &
lg1=$!
"$loadgen" --port "$port" -c 1 -t 1 -d "$secs" -n 200 --body-file "$tmp/limited.json" \
    --ids-out "$tmp/limited.ids" >"$tmp/limited.out" &
lg2=$!
hups=0 t=0
while [ $t -lt "$secs" ]; do
    sleep "$hup"
    t=$((t + hup))
    [ $t -lt "$secs" ] || break
    kill -HUP "$serve_pid"
    hups=$((hups + 1))
done
wait "$lg1"
wait "$lg2"
sleep 0.2
reloads=$(grep -c 'config reloaded' "$tmp/serve.log" || true)
rejected=$(curl -s "http://127.0.0.1:$port/metrics" |
    sed -n 's/^intentus_rate_limit_rejections_total \([0-9]*\)$/\1/p')
kill -TERM "$serve_pid"
rc=0
wait "$serve_pid" || rc=$?
serve_pid=

fail=0
bad() { echo "soak: FAIL: $*"; fail=1; }
for f in echo limited; do
    j=$(cat "$tmp/$f.out")
    n=$(echo "$j" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
    ok=$(echo "$j" | sed -n 's/.*"200":\([0-9]*\).*/\1/p')
    e=$(echo "$j" | sed -n 's/.*"io_errors":\([0-9]*\).*/\1/p')
    ids=$(wc -l <"$tmp/$f.ids")
    echo "soak: $f: $j"
    [ "${ok:-0}" = "$n" ] || bad "$f: $n answers, ${ok:-0} of them 200"
    [ "$e" = 0 ] || bad "$f: $e I/O errors"
    [ "$ids" = "$n" ] || bad "$f: $n answers but $ids executionIds"
done
cat "$tmp/echo.ids" "$tmp/limited.ids" | sort >"$tmp/all.ids"
total=$(wc -l <"$tmp/all.ids")
uniq_n=$(sort -u "$tmp/all.ids" | wc -l)
[ "$total" = "$uniq_n" ] || bad "$((total - uniq_n)) executionIds answered twice"
find "$tmp/records" -maxdepth 1 -name '*.json' | sed 's|.*/||; s|\.json$||' | sort >"$tmp/records.ids"
missing=$(comm -23 "$tmp/all.ids" "$tmp/records.ids" | wc -l)
extra=$(comm -13 "$tmp/all.ids" "$tmp/records.ids" | wc -l)
[ "$missing" = 0 ] || bad "$missing answered executionIds have no record"
[ "$extra" = 0 ] || bad "$extra records nobody was told of"
n_lim=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$tmp/limited.out")
[ "$rejected" = "$((n_lim - 3))" ] || bad "$n_lim rate-limited requests, ${rejected:-?} rejections (3 a minute allowed)"
[ "$reloads" = "$hups" ] || bad "$hups SIGHUPs but $reloads reloads"
[ "$rc" = 0 ] || bad "serve exited with status $rc"
echo "soak: $total executions recorded once each, $hups reloads, serve exit $rc, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ $fail -ne 0 ]; then
    tail -5 "$tmp/serve.log"
    exit 1
fi
echo "soak: PASS"
