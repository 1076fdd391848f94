/* Circuit breaker state machine, driven with explicit clock values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/breaker.h"

#define MS 1000

static void
test_consecutive_failures_open_then_probe_closes(void **state)
{
    (void)state;
    struct breaker_policy p = { .enabled = true,
                                .failure_threshold = 3,
                                .window = 10,
                                .failure_rate = 0,
                                .cooldown_ms = 100,
                                .half_open_probes = 1 };
    struct breaker *b = breaker_new(&p);
    struct breaker_change ch;
    struct breaker_stats st;
    int64_t t = 1000 * MS;

    for (int i = 0; i < 2; i++) {
        assert_true(breaker_allow(b, t, &ch));
        breaker_record(b, false, t, &ch);
        assert_false(ch.changed);
    }
    assert_true(breaker_allow(b, t, &ch));
    breaker_record(b, false, t, &ch);
    assert_true(ch.changed);
    assert_int_equal(ch.from, BREAKER_CLOSED);
    assert_int_equal(ch.to, BREAKER_OPEN);
    assert_string_equal(ch.reason, "3 consecutive failures");
    /* Open: refused until the cool-down has passed. */
    assert_false(breaker_allow(b, t + 99 * MS, &ch));
    breaker_snapshot(b, t + 50 * MS, &st);
    assert_int_equal(st.state, BREAKER_OPEN);
    assert_int_equal(st.next_probe_us, t + 100 * MS);
    assert_int_equal(st.rejected, 1);
    /* Cool-down over: one probe goes through as HALF_OPEN, a second waits. */
    assert_true(breaker_allow(b, t + 100 * MS, &ch));
    assert_true(ch.changed);
    assert_int_equal(ch.to, BREAKER_HALF_OPEN);
    assert_false(breaker_allow(b, t + 101 * MS, &ch));
    breaker_record(b, true, t + 102 * MS, &ch);
    assert_true(ch.changed);
    assert_int_equal(ch.from, BREAKER_HALF_OPEN);
    assert_int_equal(ch.to, BREAKER_CLOSED);
    assert_true(breaker_allow(b, t + 103 * MS, &ch));
    breaker_free(b);
}

static void
test_probe_failure_reopens(void **state)
{
    (void)state;
    struct breaker_policy p = { .enabled = true,
                                .failure_threshold = 1,
                                .window = 10,
                                .cooldown_ms = 10,
                                .half_open_probes = 2 };
    struct breaker *b = breaker_new(&p);
    struct breaker_change ch;

    breaker_allow(b, 0, &ch);
    breaker_record(b, false, 0, &ch);
    assert_int_equal(ch.to, BREAKER_OPEN);
    assert_true(breaker_allow(b, 10 * MS, &ch)); /* probe 1 */
    assert_true(breaker_allow(b, 10 * MS, &ch)); /* probe 2: two allowed */
    assert_false(breaker_allow(b, 10 * MS, &ch));
    breaker_record(b, true, 11 * MS, &ch);
    assert_false(ch.changed); /* needs two successes */
    breaker_record(b, false, 12 * MS, &ch);
    assert_true(ch.changed);
    assert_int_equal(ch.to, BREAKER_OPEN);
    assert_string_equal(ch.reason, "probe failed");
    /* The cool-down restarts from the failed probe. */
    assert_false(breaker_allow(b, 21 * MS, &ch));
    assert_true(breaker_allow(b, 22 * MS, &ch));
    breaker_free(b);
}

static void
test_failure_rate_over_window(void **state)
{
    (void)state;
    struct breaker_policy p = { .enabled = true,
                                .failure_threshold = 0,
                                .window = 4,
                                .failure_rate = 0.5,
                                .cooldown_ms = 1000,
                                .half_open_probes = 1 };
    struct breaker *b = breaker_new(&p);
    struct breaker_change ch;
    bool pattern[] = { false, true, true, false }; /* 2 of 4 fail, never 2 in a row... */

    for (int i = 0; i < 3; i++) {
        breaker_allow(b, 0, &ch);
        breaker_record(b, pattern[i], 0, &ch);
        assert_false(ch.changed); /* window not full yet */
    }
    breaker_allow(b, 0, &ch);
    breaker_record(b, pattern[3], 0, &ch);
    assert_true(ch.changed);
    assert_string_equal(ch.reason, "2 of the last 4 calls failed");
    breaker_free(b);
}

static void
test_reset_and_disabled(void **state)
{
    (void)state;
    struct breaker_policy p = { .enabled = true,
                                .failure_threshold = 1,
                                .window = 4,
                                .cooldown_ms = 100000,
                                .half_open_probes = 1 };
    struct breaker_policy off = { .enabled = false, .failure_threshold = 1, .window = 4 };
    struct breaker *b = breaker_new(&p), *d = breaker_new(&off);
    struct breaker_change ch;

    breaker_allow(b, 0, &ch);
    breaker_record(b, false, 0, &ch);
    assert_false(breaker_allow(b, 1, &ch));
    breaker_reset(b, &ch);
    assert_true(ch.changed);
    assert_string_equal(ch.reason, "reset by operator");
    assert_true(breaker_allow(b, 2, &ch));
    breaker_reset(b, &ch);
    assert_false(ch.changed); /* already closed */
    for (int i = 0; i < 10; i++) {
        assert_true(breaker_allow(d, 0, &ch));
        breaker_record(d, false, 0, &ch);
        assert_false(ch.changed);
    }
    /* NULL is a breaker that is always closed (agents with it disabled). */
    assert_true(breaker_allow(NULL, 0, &ch));
    breaker_free(b);
    breaker_free(d);
    breaker_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consecutive_failures_open_then_probe_closes),
        cmocka_unit_test(test_probe_failure_reopens),
        cmocka_unit_test(test_failure_rate_over_window),
        cmocka_unit_test(test_reset_and_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
