#!/bin/sh
# `make screenshot`: capture the console's first screen as `make run` shows it
# and put it in the README between the first-screen markers, so the quick
# start never goes stale. The real binary runs in tmux at 100x30 in a fresh
# directory (no config file: the built-in demo and its seeded demo traffic).
#   sh tests/first-screen.sh BIN "RUN_ARGS" SECONDS README.md
set -eu
bin=$1
args=$2
after=$3
readme=$4
command -v tmux >/dev/null || { echo "first-screen: tmux is needed (make deps)" >&2; exit 2; }
grep -q '^<!-- first-screen:begin' "$readme" || { echo "first-screen: no markers in $readme" >&2; exit 2; }
tmp=$(mktemp -d)
sock="intentus-first-screen-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
tmux -L "$sock" -f /dev/null new-session -d -s shot -x 100 -y 30 \
    "cd '$tmp' && env -u INTENTUS_CONFIG -u INTENTUSNET_RECORDS_PATH -u NO_COLOR HOME='$tmp' \
     XDG_CONFIG_HOME='$tmp' LANG=C.UTF-8 LC_ALL=C.UTF-8 '$bin' $args; sleep 30"
sleep "$after"
# Trailing blanks off each line, and the screen's empty lines off the end.
tmux -L "$sock" capture-pane -p -t shot | sed 's/[[:space:]]*$//' |
    awk '{ l[NR] = $0 } $0 != "" { last = NR } END { for (i = 1; i <= last; i++) print l[i] }' \
    >"$tmp/screen.txt"
tmux -L "$sock" send-keys -t shot Q
grep -q 'DEMO TRAFFIC' "$tmp/screen.txt" || { echo "first-screen: no demo traffic on screen:" >&2;
    cat "$tmp/screen.txt" >&2; exit 1; }
awk -v shot="$tmp/screen.txt" '
    /^<!-- first-screen:begin/ { print; print "```text"; while ((getline l < shot) > 0) print l;
                                 print "```"; skip = 1; next }
    /^<!-- first-screen:end/ { skip = 0 }
    !skip { print }' "$readme" >"$tmp/readme"
cat "$tmp/readme" >"$readme"
echo "first-screen: $readme updated ($(wc -l <"$tmp/screen.txt") lines after ${after}s)"
