/* The console's demo traffic (#22): the seeded generator and when the
 * console starts it. The console itself is driven in tests/tui/test_demo.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "tui/app.h"
#include "tui/demo_traffic.h"

static void
test_same_seed_same_stream(void **state)
{
    (void)state;
    uint64_t a = DEMO_TRAFFIC_SEED, b = DEMO_TRAFFIC_SEED, c = DEMO_TRAFFIC_SEED + 1;
    int differ = 0;

    for (int i = 0; i < 500; i++) {
        struct demo_pick pa, pb, pc;
        int64_t ga, gb, gc;
        demo_traffic_next(&a, 5.0, &pa, &ga);
        demo_traffic_next(&b, 5.0, &pb, &gb);
        demo_traffic_next(&c, 5.0, &pc, &gc);
        assert_string_equal(pa.what, pb.what);
        assert_int_equal(ga, gb);
        differ += strcmp(pa.what, pc.what) != 0 || ga != gc;
    }
    assert_true(differ > 100); /* another seed is another stream */
}

/* The default seed opens on flaky-b: the breaker of the demo configuration
 * (3 failures in a row) can open within the first second. */
static void
test_default_seed_starts_on_flaky(void **state)
{
    (void)state;
    static const char *const want[] = { "direct to flaky-b", "fallback past flaky-b",
                                        "fallback past flaky-b", "admin", "fallback past flaky-b" };
    uint64_t rng = DEMO_TRAFFIC_SEED;

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct demo_pick p;
        int64_t gap;
        demo_traffic_next(&rng, 5.0, &p, &gap);
        assert_string_equal(p.what, want[i]);
    }
}

/* Varied: every strategy, the fallback chain past flaky-b, a slow call, the
 * broken agent and a policy refusal all come within the first 60 intents;
 * gaps stay between half and one and a half times 1/rate. */
static void
test_stream_is_varied_and_gentle(void **state)
{
    (void)state;
    uint64_t rng = DEMO_TRAFFIC_SEED;
    bool strategy[STRATEGY_COUNT] = { false }, chain = false, slow = false, broken = false,
         refusal = false;

    for (int i = 0; i < 60; i++) {
        struct demo_pick p;
        int64_t gap;
        demo_traffic_next(&rng, 4.0, &p, &gap);
        assert_true(gap >= 125000 && gap < 375000);
        assert_true(p.strategy >= 0 && p.strategy < STRATEGY_COUNT);
        strategy[p.strategy] = true;
        chain = chain || (p.fallback[0] != NULL && strcmp(p.fallback[0], "flaky-b") == 0 &&
                          p.fallback[1] != NULL && strcmp(p.fallback[1], "echo-a") == 0 &&
                          p.fallback[2] == NULL && p.strategy == STRATEGY_FALLBACK);
        slow = slow || strcmp(p.intent, "demo.slow") == 0;
        broken = broken || strcmp(p.intent, "demo.fail") == 0;
        refusal = refusal || (strcmp(p.intent, "demo.admin") == 0 && p.tenant != NULL &&
                              strcmp(p.tenant, "guest") == 0);
    }
    for (int s = 0; s < STRATEGY_COUNT; s++)
        assert_true(strategy[s]);
    assert_true(chain);
    assert_true(slow);
    assert_true(broken);
    assert_true(refusal);
}

static void
test_when_the_console_starts_it(void **state)
{
    (void)state;
    struct intentus_err err = { 0 };
    struct config *demo = config_demo(&err);
    const char *text =
        "{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", \"intents\": [\"x\"]}]}";
    struct config *file = config_parse(text, strlen(text), "mine.json", &err);
    struct console_opts o = { 0 };
    char why[512];

    assert_non_null(demo);
    assert_non_null(file);
    unsetenv("INTENTUSNET_RECORDS_PATH");
    assert_int_equal(demo_traffic_wanted(&o, demo, why, sizeof(why)), 0);
    /* auto: the built-in demo on its own directory only */
    o.demo_traffic = DEMO_TRAFFIC_AUTO;
    assert_int_equal(demo_traffic_wanted(&o, demo, why, sizeof(why)), 1);
    assert_int_equal(demo_traffic_wanted(&o, file, why, sizeof(why)), 0);
    o.dir = "/tmp/elsewhere";
    assert_int_equal(demo_traffic_wanted(&o, demo, why, sizeof(why)), 0);
    o.dir = NULL;
    setenv("INTENTUSNET_RECORDS_PATH", "/tmp/elsewhere", 1);
    assert_int_equal(demo_traffic_wanted(&o, demo, why, sizeof(why)), 0);
    unsetenv("INTENTUSNET_RECORDS_PATH");
    o.read_only = true;
    assert_int_equal(demo_traffic_wanted(&o, demo, why, sizeof(why)), 0);
    /* asked for by name: on the demo, wherever it records; refused otherwise */
    o.demo_traffic = DEMO_TRAFFIC_ON;
    assert_int_equal(demo_traffic_wanted(&o, demo, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "--read-only"));
    o.read_only = false;
    o.dir = "/tmp/elsewhere";
    assert_int_equal(demo_traffic_wanted(&o, demo, why, sizeof(why)), 1);
    assert_int_equal(demo_traffic_wanted(&o, file, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "mine.json"));
    assert_non_null(strstr(why, "--demo-traffic"));
    config_free(demo);
    config_free(file);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_default_seed_starts_on_flaky),
        cmocka_unit_test(test_stream_is_varied_and_gentle),
        cmocka_unit_test(test_when_the_console_starts_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
