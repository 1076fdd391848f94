#!/bin/sh
# `make fuzz` needs clang with libFuzzer (and the ASan/UBSan runtimes). Check
# by building a one-function harness; when that fails, install the Debian
# packages as root (as tests/deps.sh does), otherwise print the command.
set -u
: "${FUZZ_CC:=clang}"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
probe() {
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$tmp/p.c"
    "$FUZZ_CC" -fsanitize=fuzzer,address,undefined "$tmp/p.c" -o "$tmp/p" >/dev/null 2>&1
}
probe && exit 0
pkgs="clang"
if command -v apt-cache >/dev/null 2>&1; then
    # The runtime's package name follows the clang version (libclang-rt-14-dev).
    v=$("$FUZZ_CC" --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)
    [ -n "$v" ] && apt-cache show "libclang-rt-$v-dev" >/dev/null 2>&1 && pkgs="$pkgs libclang-rt-$v-dev"
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fuzz: installing: $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs >/dev/null \
        || { echo "fuzz: apt-get install failed for: $pkgs" >&2; exit 1; }
    probe && exit 0
    echo "fuzz: $FUZZ_CC still cannot link -fsanitize=fuzzer" >&2
    exit 1
fi
echo "fuzz: $FUZZ_CC cannot link -fsanitize=fuzzer (libFuzzer missing)" >&2
echo "fuzz: run: sudo apt-get update && sudo apt-get install -y $pkgs" >&2
exit 1
