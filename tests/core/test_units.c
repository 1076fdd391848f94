#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/units.h"

static void
test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } ok[] = { { "0", 0 },        { "250", 250 },      { "250ms", 250 },
               { "1.5s", 1500 },  { "30s", 30000 },    { "5m", 300000 },
               { "2h", 7200000 }, { "7d", 604800000 }, { "30d", 2592000000LL } };
    static const char *const bad[] = { "", "s", "-5s", "5 s", "5w", "1e3", "abc", "5ms ", "5sm" };
    struct intentus_err err = { 0 };
    int64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(units_parse_duration_ms(ok[i].text, &v, &err), 0);
        assert_int_equal(v, ok[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(units_parse_duration_ms(bad[i], &v, &err), -1);
        assert_non_null(strstr(err.msg, "not a duration"));
    }
}

static void
test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } ok[] = { { "0", 0 },
               { "4096", 4096 },
               { "512K", 524288 },
               { "512KB", 524288 },
               { "512KiB", 524288 },
               { "10M", 10485760 },
               { "1G", 1073741824ULL },
               { "1.5G", 1610612736ULL },
               { "2t", 2199023255552ULL },
               { "100B", 100 } };
    static const char *const bad[] = { "", "K", "-1", "10X", "1 G", "1GG" };
    struct intentus_err err = { 0 };
    uint64_t v;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(units_parse_size(ok[i].text, &v, &err), 0);
        assert_true(v == ok[i].bytes);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(units_parse_size(bad[i], &v, &err), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
