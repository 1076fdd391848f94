/* The registry: routing order kept by registry_add (appends and inserts)
 * and registry_add_all (one sort and merge), names found through the hash,
 * and a refused batch leaving the registry as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/registry.h"
#include "tests/support/agent_testutil.h"

static struct agent *
make(const char *name, int priority)
{
    struct intentus_err err = { 0 };
    char text[256];
    struct agent *a;

    snprintf(text, sizeof(text),
             "{\"name\":\"%s\",\"builtin\":\"echo\",\"intents\":[\"x\"],\"nodePriority\":%d}", name,
             priority);
    a = tu_agent_new(text, &err);
    if (a == NULL)
        fail_msg("%s", err.msg);
    return a;
}

static void
expect_order(const struct registry *r, const char *const *names)
{
    size_t n = 0;

    for (; names[n] != NULL; n++) {
        const struct agent *a = registry_at(r, n);
        assert_non_null(a);
        assert_string_equal(a->name, names[n]);
        assert_ptr_equal(registry_find(r, names[n]), a);
    }
    assert_int_equal(registry_count(r), n);
}

static void
test_add_keeps_routing_order(void **state)
{
    (void)state;
    struct registry *r = registry_new();
    struct intentus_err err = { 0 };
    struct agent *dup;

    assert_int_equal(registry_add(r, make("m", 5), &err), 0);
    assert_int_equal(registry_add(r, make("z", 5), &err), 0); /* appended */
    assert_int_equal(registry_add(r, make("a", 5), &err), 0); /* inserted first */
    assert_int_equal(registry_add(r, make("b", 1), &err), 0);
    assert_int_equal(registry_add(r, make("q", 5), &err), 0);
    expect_order(r, (const char *const[]){ "b", "a", "m", "q", "z", NULL });
    dup = make("q", 0);
    assert_int_equal(registry_add(r, dup, &err), -1);
    assert_string_equal(err.msg, "Agent 'q' is already registered");
    agent_free(dup);
    assert_null(registry_find(r, "nobody"));
    /* Growing past the first table keeps every name findable. */
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof(name), "n%03d", 99 - i);
        assert_int_equal(registry_add(r, make(name, 7), &err), 0);
    }
    assert_int_equal(registry_count(r), 105);
    for (size_t i = 1; i < registry_count(r); i++)
        assert_true(registry_compare(registry_at(r, i - 1), registry_at(r, i)) < 0);
    assert_non_null(registry_find(r, "n000"));
    assert_non_null(registry_find(r, "n099"));
    registry_free(r);
}

static void
test_add_all_merges_or_takes_nothing(void **state)
{
    (void)state;
    struct registry *r = registry_new();
    struct intentus_err err = { 0 };
    struct agent *batch[4];
    size_t bad = 99;

    assert_int_equal(registry_add(r, make("c", 5), &err), 0);
    assert_int_equal(registry_add(r, make("f", 5), &err), 0);
    /* A name repeated inside the batch: the second is refused, none taken. */
    batch[0] = make("e", 5);
    batch[1] = make("a", 5);
    batch[2] = make("e", 1);
    assert_int_equal(registry_add_all(r, batch, 3, &bad, &err), -1);
    assert_int_equal(bad, 2);
    assert_string_equal(err.msg, "Agent 'e' is already registered");
    expect_order(r, (const char *const[]){ "c", "f", NULL });
    assert_null(registry_find(r, "e"));
    assert_null(registry_find(r, "a"));
    agent_free(batch[2]);
    /* A name already registered. */
    batch[2] = make("f", 0);
    assert_int_equal(registry_add_all(r, batch, 3, &bad, &err), -1);
    assert_int_equal(bad, 2);
    assert_null(registry_find(r, "e"));
    agent_free(batch[2]);
    batch[2] = make("d", 9);
    batch[3] = make("b", 0);
    assert_int_equal(registry_add_all(r, batch, 4, &bad, &err), 0);
    expect_order(r, (const char *const[]){ "b", "a", "c", "e", "f", "d", NULL });
    registry_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_keeps_routing_order),
        cmocka_unit_test(test_add_all_merges_or_takes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
