#!/bin/sh
# Check the build and test dependencies; install the missing Debian packages
# when running as root, otherwise print the exact command and fail.
set -u
missing=""
have_pc() { pkg-config --exists "$1" 2>/dev/null; }
need() { missing="$missing $1"; }

command -v pkg-config >/dev/null 2>&1 || need pkg-config
have_pc ncursesw || need libncurses-dev
have_pc libcjson || need libcjson-dev
have_pc cmocka || need libcmocka-dev
have_pc libcurl || need libcurl4-openssl-dev
have_pc libcrypto || need libssl-dev
have_pc zlib || need zlib1g-dev
have_pc sqlite3 || need libsqlite3-dev
have_pc libpq || need libpq-dev
have_pc libmicrohttpd || need libmicrohttpd-dev
command -v tmux >/dev/null 2>&1 || need tmux
command -v python3 >/dev/null 2>&1 || need python3
command -v cc >/dev/null 2>&1 || need gcc
# make check's static tools (format-check, cppcheck, tidy).
if [ -n "${INTENTUS_CHECK_TOOLS:-}" ]; then
    command -v clang-format >/dev/null 2>&1 || need clang-format
    command -v clang-tidy >/dev/null 2>&1 || need clang-tidy
    command -v cppcheck >/dev/null 2>&1 || need cppcheck
fi

# The PostgreSQL engine's tests start a real server (tests/support/pg_testutil.c);
# without one they are counted skips, so the server is installed when we can
# (root) and only reported otherwise.
optional=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
    || optional="$optional postgresql"
if [ -n "$optional" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        missing="$missing$optional"
    else
        echo "deps: optional:$optional (the PostgreSQL tests skip without it)" >&2
    fi
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null \
        || { echo "deps: apt-get install failed for:$missing" >&2; exit 1; }
    exit 0
fi
echo "deps: missing:$missing" >&2
echo "deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
exit 1
