#!/bin/bash
# Milliseconds from starting `intentus console ARGS...` in a fresh tmux
# server (200x50) to the first frame whose title bar shows TEXT, polling
# capture-pane every 20 ms (at most 180 s); then the console's VmHWM.
#   bench/console_first_frame.sh BIN TEXT ARGS...
#   bench/console_first_frame.sh build/intentus ' 1000000 records' --store sqlite:/dev/shm/s.db
set -u
BIN=$1 WANT=$2
shift 2
S=ff$$
t0=$(date +%s%N)
tmux -L "$S" new-session -d -x 200 -y 50 "$BIN console $*"
end=$((t0 + 180000000000))
while :; do
    if tmux -L "$S" capture-pane -p 2>/dev/null | head -1 | grep -qF -- "$WANT"; then
        echo "$((($(date +%s%N) - t0) / 1000000)) ms"
        break
    fi
    if [ "$(date +%s%N)" -gt "$end" ]; then
        echo "timeout: $(tmux -L "$S" capture-pane -p | head -1)"
        break
    fi
    sleep 0.02
done
P=$(tmux -L "$S" list-panes -F '#{pane_pid}' 2>/dev/null)
[ -n "$P" ] && grep VmHWM "/proc/$P/status"
tmux -L "$S" kill-server
