/* core/intern.h: one copy of each string for the life of the process,
 * bounded, thread-safe. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/intern.h"

static void
test_one_copy_of_each(void **state)
{
    (void)state;
    char a[] = "agent-one", b[] = "agent-one";
    const char *x = intern_string(a), *y = intern_string(b), *z = intern_string("agent-two");

    assert_non_null(x);
    assert_ptr_equal(x, y);
    assert_ptr_not_equal(x, a); /* a copy, not the caller's bytes */
    assert_string_equal(x, "agent-one");
    assert_non_null(z);
    assert_ptr_not_equal(x, z);
    assert_string_equal(z, "agent-two");
    a[0] = 'X'; /* the caller's buffer changing changes nothing kept */
    assert_string_equal(x, "agent-one");
    assert_ptr_equal(intern_string(""), intern_string(""));
}

static void
test_refuses_null_and_long(void **state)
{
    (void)state;
    static char longest[INTERN_MAX_LEN + 2];

    assert_null(intern_string(NULL));
    memset(longest, 'n', INTERN_MAX_LEN + 1);
    assert_null(intern_string(longest)); /* one byte over */
    longest[INTERN_MAX_LEN] = '\0';
    assert_non_null(intern_string(longest)); /* exactly the limit */
    assert_int_equal(strlen(intern_string(longest)), INTERN_MAX_LEN);
}

#define THREADS 4
#define NAMES 300

static void *
intern_many(void *arg)
{
    const char **out = arg;
    char name[32];

    for (int i = 0; i < NAMES; i++) {
        snprintf(name, sizeof(name), "threaded-%d", i);
        out[i] = intern_string(name);
    }
    return NULL;
}

/* Threads interning the same names at once (the table growing under them)
 * all get the same pointers. */
static void
test_threads_agree(void **state)
{
    (void)state;
    static const char *got[THREADS][NAMES];
    pthread_t t[THREADS];

    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, intern_many, got[i]), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int n = 0; n < NAMES; n++) {
        char name[32];
        snprintf(name, sizeof(name), "threaded-%d", n);
        assert_non_null(got[0][n]);
        assert_string_equal(got[0][n], name);
        for (int i = 1; i < THREADS; i++)
            assert_ptr_equal(got[i][n], got[0][n]);
    }
}

/* Last: it fills the table. New strings are refused at the bound, the
 * bytes never pass it, and what was interned is still found. */
static void
test_bounded(void **state)
{
    (void)state;
    const char *kept = intern_string("kept-before-full");
    char name[600];
    size_t strings, bytes, i;

    assert_non_null(kept);
    memset(name, 'b', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    for (i = 0; i < 2 * INTERN_MAX_BYTES / (sizeof(name) - 16); i++) {
        snprintf(name, 16, "%015zu", i);
        name[15] = 'b';
        if (intern_string(name) == NULL)
            break;
    }
    assert_true(i < 2 * INTERN_MAX_BYTES / (sizeof(name) - 16)); /* it did fill */
    intern_stats(&strings, &bytes);
    assert_true(bytes <= INTERN_MAX_BYTES);
    assert_true(bytes + sizeof(name) > INTERN_MAX_BYTES); /* full, not refusing early */
    assert_true(strings > i);
    memcpy(name, "never-seen-before", 17); /* as long as those refused */
    assert_null(intern_string(name));
    assert_ptr_equal(intern_string("kept-before-full"), kept);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_copy_of_each),
        cmocka_unit_test(test_refuses_null_and_long),
        cmocka_unit_test(test_threads_agree),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
