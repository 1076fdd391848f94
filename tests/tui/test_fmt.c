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

static const char *
esc(const char *s, unsigned flags, char *out, size_t size)
{
    size_t used = fmt_escape(s, strlen(s), flags, out, size);

    assert_int_equal(used, strlen(s)); /* everything fit */
    return out;
}

/* Control characters are made visible; valid UTF-8 text stays as it is. */
static void
test_escape(void **state)
{
    char b[256];
    size_t used;

    (void)state;
    /* the title-setting OSC and screen-clearing CSI */
    assert_string_equal(esc("x\x1b]2;PWNTITLE\x07\x1b[2Jy", 0, b, sizeof(b)),
                        "x\\e]2;PWNTITLE\\x07\\e[2Jy");
    assert_string_equal(esc("a\nb\tc\rd", 0, b, sizeof(b)), "a\\nb\\tc\\rd");
    assert_string_equal(esc("a\nb\tc\rd", FMT_ESC_KEEP_LINES, b, sizeof(b)), "a\nb\tc\\rd");
    assert_string_equal(esc("del\x7f nul\x01", 0, b, sizeof(b)), "del\\x7f nul\\x01");
    /* C1 controls as UTF-8 (U+009B is a CSI for some terminals) */
    assert_string_equal(esc("\xc2\x9b"
                            "31m \xc2\x80",
                            0, b, sizeof(b)),
                        "\\u009b31m \\u0080");
    /* printable UTF-8 kept, U+00A0 (just past C1) included; backslashes kept */
    assert_string_equal(
        esc("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0 C:\\x", 0, b, sizeof(b)),
        "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0 C:\\x");
    /* invalid UTF-8 byte by byte: a stray continuation, an overlong ESC
     * (C0 9B), a surrogate, a truncated sequence, past U+10FFFF */
    assert_string_equal(
        esc("\x80|\xc0\x9b|\xed\xa0\x80|\xe2\x82|\xf4\x90\x80\x80", 0, b, sizeof(b)),
        "\\x80|\\xc0\\x9b|\\xed\\xa0\\x80|\\xe2\\x82|\\xf4\\x90\\x80\\x80");
    /* a small buffer: stops before an escape that does not fit, says how far */
    used = fmt_escape("ab\x1b"
                      "c",
                      4, 0, b, 4);
    assert_int_equal(used, 2);
    assert_string_equal(b, "ab");
    used = fmt_escape("\xe2\x82\xac", 3, 0, b, 3); /* a 3-byte character needs 4 */
    assert_int_equal(used, 0);
    assert_string_equal(b, "");
    assert_int_equal(fmt_escape(NULL, 5, 0, b, sizeof(b)), 0);
    assert_string_equal(b, "");
    /* the worst case fits FMT_ESC_SIZE */
    {
        char in[8], out[FMT_ESC_SIZE(8)];
        memset(in, 0x01, sizeof(in));
        assert_int_equal(fmt_escape(in, sizeof(in), 0, out, sizeof(out)), sizeof(in));
        assert_int_equal(strlen(out), 4 * sizeof(in));
    }
}

/* UUIDv7s of one minute share their first 8 characters: the suffix that
 * tells them apart, never shorter than asked, never longer than the id. */
static void
test_unique_suffix(void **state)
{
    const char *same_minute[] = { "01a23077-9c00-7000-8000-00000000000b",
                                  "01a23077-9c01-7000-8000-00000000ab0b",
                                  "01a23077-9c02-7000-8000-0000000000c1" };
    const char *dup[] = { "abc", "abc" };

    (void)state;
    /* ...000b and ...ab0b share "0b": 3 characters tell them apart */
    assert_int_equal(fmt_unique_suffix_len(same_minute, 3, 1), 3);
    assert_int_equal(fmt_unique_suffix_len(same_minute, 3, 4), 4);
    assert_int_equal(fmt_unique_suffix_len(same_minute, 1, 4), 4);
    assert_int_equal(fmt_unique_suffix_len(dup, 2, 1), 3); /* identical: the whole id */
    assert_int_equal(fmt_unique_suffix_len(NULL, 0, 4), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unique_suffix),
        cmocka_unit_test(test_durations_and_cells),
        cmocka_unit_test(test_latency_summary),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
