/* A short, seeded run of the console's pty fuzzer (tests/fuzz/console_pty.c)
 * in every `make test`: a few seconds of random keys, pastes and resizes
 * into the binary under test (the ASan one under `make asan`). `make fuzz`
 * runs it for FUZZ_SECONDS against the ASan build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

static void
run_seed(const char *seed)
{
    const char *build = getenv("BUILD");
    char fuzzer[600];
    char *argv[] = { fuzzer, "--seed", (char *)seed,     "--seconds",
                     "4",    "--bin",  (char *)tu_bin(), NULL };
    struct tu_run r;

    snprintf(fuzzer, sizeof(fuzzer), "%s/tests/fuzz/console_pty",
             build != NULL && build[0] ? build : "build");
    if (access(fuzzer, X_OK) != 0)
        fail_msg("%s missing: build it with make %s", fuzzer, fuzzer);
    /* 4 s of input, up to 20 s for each start and 8 s for the SIGTERM. */
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 60000, &r), 0);
    if (r.status != 0)
        fail_msg("console_pty --seed %s failed (status %d):\n%s\n%s", seed, r.status, r.out, r.err);
    assert_non_null(strstr(r.out, ": ok"));
    tu_run_free(&r);
}

static void
test_console_pty_short_run(void **state)
{
    (void)state;
    run_seed("1");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_pty_short_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
