/* The records filter (tui/query.h): a copy of a parsed filter keeps its
 * terms when the original's text goes away (query_copy), as the Records
 * screen, its page jobs and the detail's stepping hold it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tui/query.h"

static void
test_query_copy_owns_its_terms(void **state)
{
    struct query src, dst, again;
    char err[200];

    (void)state;
    assert_int_equal(query_parse("intent:demo.other agent:echo-b status:error error:TIMEOUT word",
                                 1700000000000000LL, &src, err, sizeof(err)),
                     0);
    query_copy(&dst, &src);
    /* the source's text overwritten (a local gone out of scope, reused) */
    memset(&src, 'x', sizeof(src));
    assert_string_equal(dst.filter.intent, "demo.other");
    assert_string_equal(dst.filter.agent, "echo-b");
    assert_string_equal(dst.filter.status, "error");
    assert_string_equal(dst.filter.error_code, "TIMEOUT");
    assert_string_equal(dst.filter.text, "word");
    assert_true(dst.filter.intent >= dst.buf && dst.filter.intent < dst.buf + sizeof(dst.buf));
    assert_null(dst.filter.failed_agent);
    /* a copy of a copy, and of an empty filter */
    query_copy(&again, &dst);
    memset(&dst, 0, sizeof(dst));
    assert_string_equal(again.filter.intent, "demo.other");
    assert_string_equal(again.filter.text, "word");
    assert_int_equal(query_parse("", 0, &src, err, sizeof(err)), 0);
    query_copy(&dst, &src);
    assert_null(dst.filter.intent);
    assert_null(dst.filter.text);
    assert_int_equal(dst.filter.since_us, 0);
    /* since: keeps its time */
    assert_int_equal(query_parse("since:1h", 1700000000000000LL, &src, err, sizeof(err)), 0);
    query_copy(&dst, &src);
    assert_int_equal(dst.filter.since_us, 1700000000000000LL - 3600LL * 1000000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_copy_owns_its_terms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
