# intentus — build, test and install.
#   make run | test | deps | asan | valgrind | install | clean | bench | screenshot
# Everything builds into $(BUILD) (default build/); sanitizer builds use their
# own subdirectory so they never mix objects with the normal build.

PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
CC      ?= cc

PKGS      := libcjson libcrypto libcurl zlib sqlite3 libpq
TUI_PKGS  := ncursesw libmicrohttpd
TEST_PKGS := cmocka

OPT      ?= -O2
SAN      ?=
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CFLAGS   ?=
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) $(SAN) -MMD -MP -I.
LDFLAGS  += $(SAN)

PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
TUI_CFLAGS  = $(shell pkg-config --cflags $(TUI_PKGS) 2>/dev/null)
TUI_LIBS    = $(shell pkg-config --libs $(TUI_PKGS) 2>/dev/null)
TEST_CFLAGS = $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

CORE_SRC  := $(wildcard core/*.c) $(wildcard watch/*.c)
TUI_SRC   := $(wildcard tui/*.c)
TEST_SRC  := $(wildcard tests/core/test_*.c tests/watch/test_*.c tests/cli/test_*.c \
                          tests/stress/test_*.c)
# Tests of tui/ modules link the console's objects (and curses); core and
# watch tests never do.
TUI_TEST_SRC := $(wildcard tests/tui/test_*.c tests/fuzz/test_*.c)
TESTLIB_SRC := $(wildcard tests/support/*.c)

CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
TUI_OBJ   := $(TUI_SRC:%.c=$(BUILD)/%.o)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/%.o)
TEST_BIN  := $(TEST_SRC:%.c=$(BUILD)/%)
TUI_TEST_BIN := $(TUI_TEST_SRC:%.c=$(BUILD)/%)
CONSOLE_PTY := $(BUILD)/tests/fuzz/console_pty
TUI_LIB_OBJ := $(filter-out $(BUILD)/tui/main.o,$(TUI_OBJ))
TUI_LIB := $(BUILD)/libintentus_tui.a

LIB := $(BUILD)/libintentus.a
BIN := $(BUILD)/intentus

.PHONY: all run run-cmd screenshot test deps asan tsan valgrind install uninstall clean layer-check \
        bench bench-compare bench-serve bench-soak check-tests fuzz fuzz-build fuzz-pty-build format format-check cppcheck tidy check

all: $(LIB) $(BIN) intentus

# A convenience link at the top so `./intentus` works after `make`.
intentus: $(BIN)
	@ln -sf $(BIN) intentus

$(LIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BIN): $(TUI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(TUI_OBJ) $(LIB) $(TUI_LIBS) $(PKG_LIBS)

$(BUILD)/core/%.o $(BUILD)/watch/%.o: BASE_CFLAGS = $(PKG_CFLAGS)
$(BUILD)/tui/%.o: BASE_CFLAGS = $(PKG_CFLAGS) $(TUI_CFLAGS) -DINTENTUS_PREFIX='"$(PREFIX)"'
$(BUILD)/tests/%.o: BASE_CFLAGS = $(PKG_CFLAGS) $(TEST_CFLAGS)
$(BUILD)/tests/tui/%.o: BASE_CFLAGS = $(PKG_CFLAGS) $(TEST_CFLAGS) $(TUI_CFLAGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE_CFLAGS) -c $< -o $@

$(TUI_LIB): $(TUI_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/tests/tui/%: $(BUILD)/tests/tui/%.o $(TESTLIB_OBJ) $(TUI_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(TUI_LIB) $(LIB) $(TEST_LIBS) $(TUI_LIBS) $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TESTLIB_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(ALLOC_OBJ_$(notdir $@)) $(TESTLIB_OBJ) $(LIB) $(TEST_LIBS) $(PKG_LIBS)

# Tests that count heap requests link the malloc interposer
# (tests/support/alloc/malloc_count.h); no other binary does.
ALLOC_OBJ := $(BUILD)/tests/support/alloc/malloc_count.o
ALLOC_TESTS := core/test_record_build_reuse core/test_json_canon_stream core/test_route_allocs \
               core/test_record_allocs \
               watch/test_scan
$(foreach t,$(ALLOC_TESTS),$(eval ALLOC_OBJ_$(notdir $(t)) := $(ALLOC_OBJ)))
$(ALLOC_TESTS:%=$(BUILD)/tests/%): $(ALLOC_OBJ)

# core/ and watch/ never draw; core/ never reaches up into watch/ or tui/.
layer-check:
	@! grep -rnE '#include *[<"](n?curses|ncursesw/|tui/)' core watch || \
	    { echo "layer violation: core/ or watch/ includes curses or tui/"; exit 1; }
	@! grep -rnE '#include *"(watch|tui)/' core || \
	    { echo "layer violation: core/ includes watch/ or tui/"; exit 1; }

# clang-format (style in .clang-format, from shared/STYLE.md): `make format`
# rewrites, `make format-check` fails on any difference (CI, via make check).
FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	@clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run -Werror $(FORMAT_SRC)

# Static checks (shared/STYLE.md): cppcheck and clang-tidy (.clang-tidy) over
# core/, watch/ and tui/; findings are fixed or suppressed inline with a reason.
# `make check` = format-check + layer-check + cppcheck + tidy + the suite.
CHECK_SRC    = $(wildcard core/*.c watch/*.c tui/*.c)
cppcheck:
	@cppcheck --std=c11 --enable=warning,style,performance,portability --inline-suppr \
	    --error-exitcode=1 -q -I. -D_GNU_SOURCE \
	    --include=tests/static/cppcheck-macros.h core watch tui
tidy: export TIDY_FLAGS = -std=c11 -D_GNU_SOURCE -I. $(PKG_CFLAGS) $(TUI_CFLAGS) \
                         -DINTENTUS_PREFIX="$(PREFIX)"
tidy:
	@printf '%s\n' $(CHECK_SRC) | xargs -P2 -n6 sh tests/static/tidy.sh

check: deps
	@INTENTUS_CHECK_TOOLS=1 sh tests/deps.sh
	@$(MAKE) --no-print-directory format-check layer-check cppcheck tidy
	@$(MAKE) --no-print-directory check-tests

# Installs missing Debian packages when run as root, otherwise says exactly
# what to run. `make run` and `make test` depend on it.
DEPS_PKGS := libncurses-dev libcjson-dev libcmocka-dev libcurl4-openssl-dev \
             libssl-dev zlib1g-dev libsqlite3-dev libmicrohttpd-dev tmux pkg-config python3
deps:
	@INTENTUS_DEPS="$(DEPS_PKGS)" sh tests/deps.sh

# The real MCP servers and client tests/cli/test_gateway_mcp.c drives
# (versions pinned in tests/mcp/package-lock.json). Needs npm and the
# registry; the tests themselves never install anything and skip, saying
# why, when the packages are missing. .ci/run calls it.
.PHONY: mcp-deps
# `make test` runs it too: installed once (again only when the lock file
# changes); without npm or the registry the tests skip and say why.
mcp-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
	    echo "mcp-deps: npm not found: the MCP gateway tests will skip"; \
	elif [ tests/mcp/node_modules/.package-lock.json -nt tests/mcp/package-lock.json ]; then :; \
	else cd tests/mcp && npm ci --no-audit --no-fund --loglevel=error || \
	    echo "mcp-deps: npm ci failed: the MCP gateway tests will skip"; fi

# `make run` opens the console with demo traffic (--demo-traffic=auto: the
# console fires it only when it runs the built-in demo configuration on its
# own record directory, never with a config file, --dir or
# $$INTENTUSNET_RECORDS_PATH). ARGS that start with a command (route, records,
# ...) are passed through as they are; console options are added after it.
RUN_ARGS = $(if $(filter-out -% console,$(firstword $(ARGS))),$(ARGS),console --demo-traffic=auto \
           $(if $(filter console,$(firstword $(ARGS))),$(wordlist 2,$(words $(ARGS)),$(ARGS)),$(ARGS)))
RUN_CMD  = ./intentus $(strip $(RUN_ARGS))

run: deps
	@$(MAKE) --no-print-directory all
	$(RUN_CMD)

# What `make run` would run (tests/tui/test_demo.c runs exactly this).
run-cmd:
	@echo '$(RUN_CMD)'

# The README's first screen: the real console in tmux at 100x30, run as
# `make run` runs it, on a fresh directory (seeded demo traffic), captured
# after SCREENSHOT_AFTER seconds and written between the README's markers.
SCREENSHOT_AFTER ?= 3
screenshot: all
	@sh tests/first-screen.sh "$(abspath $(BIN))" "$(RUN_ARGS)" $(SCREENSHOT_AFTER) README.md

test: deps mcp-deps
	@$(MAKE) --no-print-directory check-tests

check-tests: layer-check $(LIB) $(BIN) $(TEST_BIN) $(TUI_TEST_BIN) $(CONSOLE_PTY)
	@INTENTUS_BIN="$(abspath $(BIN))" BUILD="$(BUILD)" VALGRIND="$(VALGRIND)" \
	    sh tests/run.sh $(TEST_BIN) $(TUI_TEST_BIN)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 CC=$(CC) \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    check-tests

# ThreadSanitizer: the whole suite; the worker pool, breakers and watcher are
# the parts that share state between threads.
tsan: deps
	@$(MAKE) --no-print-directory BUILD=build/tsan OPT=-O1 CC=$(CC) \
	    SAN="-fsanitize=thread -fno-omit-frame-pointer" check-tests

# --child-silent-after-fork: an exec agent's shepherd is a fork that never
# execs (core/exec_shepherd.c); its exit would print a leak report of the
# copied heap, other threads' blocks included.
VALGRIND_CMD := valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
                --error-exitcode=99 --suppressions=$(abspath tests/valgrind.supp) \
                --child-silent-after-fork=yes
valgrind: deps
	@command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind"; exit 2; }
	@$(MAKE) --no-print-directory BUILD=build/valgrind OPT=-O0 \
	    VALGRIND="$(VALGRIND_CMD)" check-tests

# Benchmarks (bench/Makefile): one table on stdout and bench/results.json, in
# under 10 minutes on 2 cores. `make bench BENCH_ARGS=--quick` for a small run.
bench: deps all
	@$(MAKE) --no-print-directory -C bench BUILD="$(abspath $(BUILD))" CC="$(CC)"

# Issue 16's table: the reference's router (../shared/reference/python, its
# FileExecutionStore, the same payloads, fresh tmpfs directories) and
# intentus in one run, ratios printed (bench/bench_compare.c). `make bench`
# runs it too, as one of intentus-bench's sections.
bench-compare: deps all
	@$(MAKE) --no-print-directory -C bench BUILD="$(abspath $(BUILD))" CC="$(CC)" compare

# `intentus serve` alone (bench/serve/run.sh): the floor, serve with recording
# off, sync and async at 1, 4, 16 and 64 connections, and the ratios; and the
# 60 s soak (bench/serve/soak.sh). BENCH_ARGS=--quick for short runs.
bench-serve: deps all
	@$(MAKE) --no-print-directory -C bench BUILD="$(abspath $(BUILD))" CC="$(CC)" serve
bench-soak: deps all
	@$(MAKE) --no-print-directory -C bench BUILD="$(abspath $(BUILD))" CC="$(CC)" soak

# Headers keep their core/ prefix (they include each other as "core/x.h"):
# embedders compile with $$(pkg-config --cflags --libs intentus).
install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/intentus/core
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/intentus
	install -m 0644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libintentus.a
	install -m 0644 core/*.h $(DESTDIR)$(PREFIX)/include/intentus/core/
	printf '%s\n' 'prefix=$(PREFIX)' 'Name: intentus' \
	    'Description: IntentusNet runtime: deterministic intent router and records' \
	    'Version: 0.1.0' 'Requires.private: $(PKGS)' \
	    'Cflags: -I$${prefix}/include/intentus' \
	    'Libs: -L$${prefix}/lib -lintentus -lpthread -lm' \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/intentus.pc
	install -m 0644 tui/intentus.1 $(DESTDIR)$(PREFIX)/share/man/man1/intentus.1
	install -d $(DESTDIR)$(PREFIX)/share/intentus/themes
	install -m 0644 themes/*.theme $(DESTDIR)$(PREFIX)/share/intentus/themes/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/intentus $(DESTDIR)$(PREFIX)/lib/libintentus.a \
	    $(DESTDIR)$(PREFIX)/share/man/man1/intentus.1 \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/intentus.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/intentus $(DESTDIR)$(PREFIX)/share/intentus

clean:
	rm -rf build intentus

# ---- Reliability: fuzz replay in `make test`, `make fuzz` -------------------
# The fuzz entry points (tests/fuzz/fuzz_entry.c) are shared by the libFuzzer
# harnesses and by tests/fuzz/test_fuzz_replay.c, which replays every seed and
# kept reproducer in the normal suite; they reach tui/ parsers, so the replay
# test links like a tui test.
FUZZ_ENTRY_OBJ := $(BUILD)/tests/fuzz/fuzz_entry.o

$(BUILD)/tests/fuzz/%: $(BUILD)/tests/fuzz/%.o $(FUZZ_ENTRY_OBJ) $(TESTLIB_OBJ) $(TUI_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(FUZZ_ENTRY_OBJ) $(TESTLIB_OBJ) $(TUI_LIB) $(LIB) $(TEST_LIBS) \
	    $(TUI_LIBS) $(PKG_LIBS)

# `make fuzz [FUZZ_SECONDS=N]`: every tests/fuzz/fuzz_<name>.c is a libFuzzer
# target, built by clang with ASan+UBSan over the project's sources compiled
# with the same instrumentation (into $(BUILD)/fuzz/, never mixed with the
# gcc build), then run for N seconds each (default 30). Any crash fails.
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -MMD -MP -I. $(FUZZ_SAN) \
                -fsanitize=fuzzer-no-link
FUZZ_HARNESS := $(filter-out tests/fuzz/fuzz_entry.c,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIB_SRC := $(CORE_SRC) tui/theme.c tui/query.c tui/editor.c tests/fuzz/fuzz_entry.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN     := $(FUZZ_HARNESS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) $(TUI_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(TUI_LIBS) $(PKG_LIBS)

# The pty fuzzer is a program, not a libFuzzer target or a cmocka test.
$(CONSOLE_PTY): $(BUILD)/tests/fuzz/console_pty.o $(TESTLIB_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(LIB) $(TEST_LIBS) $(PKG_LIBS) -lutil

# Keep the instrumented objects between runs (make would delete them as intermediates).
.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_HARNESS:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_ENTRY_OBJ)

fuzz-build: $(FUZZ_BIN)

# The console's input handling: tests/fuzz/console_pty.c runs the real
# console, built with ASan + UBSan as `make asan` builds it (in $(FUZZ_PTY_BUILD),
# shared with `make asan`), in a pseudo-terminal and feeds it random keys,
# pastes and resizes for FUZZ_SECONDS; `make test` runs it for a few seconds
# on the build under test (tests/fuzz/test_console_pty.c).
FUZZ_PTY_BUILD := $(BUILD)/asan
FUZZ_PTY_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SEED      ?=
fuzz-pty-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_PTY_BUILD) OPT=-O1 CC=$(CC) SAN="$(FUZZ_PTY_SAN)" \
	    $(FUZZ_PTY_BUILD)/intentus $(FUZZ_PTY_BUILD)/tests/fuzz/console_pty

fuzz:
	@FUZZ_CC="$(FUZZ_CC)" sh tests/fuzz/deps.sh
	@$(MAKE) --no-print-directory fuzz-build
	@$(MAKE) --no-print-directory fuzz-pty-build
	@rc=0; BUILD="$(BUILD)" FUZZ_SECONDS="$(FUZZ_SECONDS)" sh tests/fuzz/run.sh $(FUZZ_BIN) || rc=1; \
	    echo "fuzz: console (pty, ASan) for $(FUZZ_SECONDS)s"; \
	    FUZZ_SEED="$(FUZZ_SEED)" $(FUZZ_PTY_BUILD)/tests/fuzz/console_pty \
	        --bin $(FUZZ_PTY_BUILD)/intentus --seconds $(FUZZ_SECONDS) || rc=1; \
	    exit $$rc

-include $(FUZZ_ENTRY_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_HARNESS:%.c=$(FUZZ_BUILD)/obj/%.d)

-include $(CORE_OBJ:.o=.d) $(TUI_OBJ:.o=.d) $(TESTLIB_OBJ:.o=.d) $(TEST_BIN:=.d) $(TUI_TEST_BIN:=.d) $(CONSOLE_PTY).d
