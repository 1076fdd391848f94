/* Pure formatting helpers of the CLI and the console. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tui/fmt.h"

static void
test_durations_and_cells(void **state)
{
    char b[64];

    (void)state;
    fmt_duration_us(-1, b, sizeof(b));
    assert_string_equal(b, "-");
    fmt_duration_us(850, b, sizeof(b));
    assert_string_equal(b, "850us");
    fmt_duration_us(12300, b, sizeof(b));
    assert_string_equal(b, "12.3ms");
    fmt_duration_us(4200000, b, sizeof(b));
    assert_string_equal(b, "4.20s");
    fmt_duration_us(185000000, b, sizeof(b));
    assert_string_equal(b, "3m05s");
    fmt_cell("h\xc3\xa9llo world", 5, b, sizeof(b)); /* 4 characters and an ellipsis */
    assert_string_equal(b, "h\xc3\xa9ll\xe2\x80\xa6");
    assert_int_equal(fmt_width(b), 5);
    fmt_cell("short", 10, b, sizeof(b));
    assert_string_equal(b, "short");
}

static void
test_latency_summary(void **state)
{
    int64_t us[100];
    char b[128];

    (void)state;
    for (int i = 0; i < 100; i++)
        us[i] = (100 - i) * 1000; /* 100 ms down to 1 ms, unsorted on purpose */
    fmt_latency_summary(us, 100, b, sizeof(b));
    assert_string_equal(b, "p50 51.0ms  p95 95.0ms  p99 99.0ms");
    assert_true(us[0] <= us[99]); /* sorted in place */
    fmt_latency_summary(us, 0, b, sizeof(b));
    assert_string_equal(b, "no latencies");
    us[0] = 7;
    fmt_latency_summary(us, 1, b, sizeof(b));
    assert_string_equal(b, "p50 7us  p95 7us  p99 7us");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations_and_cells),
        cmocka_unit_test(test_latency_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
