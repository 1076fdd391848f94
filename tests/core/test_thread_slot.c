/* core/thread_slot: one value per thread, the same one on every call of that
 * thread, destroyed when the thread exits, and NULL (asked again next time)
 * while it cannot be made. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/thread_slot.h"

static atomic_int made, destroyed;
static atomic_bool refuse;

static void *
make(void)
{
    int *v;

    if (atomic_load(&refuse))
        return NULL;
    v = malloc(sizeof(*v));
    if (v != NULL) {
        *v = atomic_fetch_add(&made, 1);
    }
    return v;
}

static void
destroy(void *p)
{
    atomic_fetch_add(&destroyed, 1);
    free(p);
}

static struct thread_slot slot = THREAD_SLOT(make, destroy);

struct seen {
    int *first, *again;
};

static void *
thread_main(void *arg)
{
    struct seen *s = arg;

    s->first = thread_slot_get(&slot);
    s->again = thread_slot_get(&slot);
    return NULL;
}

static void
test_one_value_per_thread_destroyed_at_exit(void **state)
{
    enum { N = 6 };
    pthread_t t[N];
    struct seen s[N];
    int before = atomic_load(&destroyed);

    (void)state;
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, &s[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_non_null(s[i].first);
        assert_ptr_equal(s[i].first, s[i].again);
    }
    /* Every thread had its own, and each went with its thread. */
    assert_int_equal(atomic_load(&destroyed) - before, N);
}

static void
test_main_thread_keeps_its_value(void **state)
{
    int *a = thread_slot_get(&slot), *b = thread_slot_get(&slot);

    (void)state;
    assert_non_null(a);
    assert_ptr_equal(a, b);
}

static void *
refused_then_made(void *arg)
{
    int **out = arg;

    atomic_store(&refuse, true);
    out[0] = thread_slot_get(&slot);
    atomic_store(&refuse, false);
    out[1] = thread_slot_get(&slot);
    out[2] = thread_slot_get(&slot);
    return NULL;
}

static void
test_value_that_cannot_be_made_is_asked_for_again(void **state)
{
    pthread_t t;
    int *got[3];

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, refused_then_made, got), 0);
    pthread_join(t, NULL);
    assert_null(got[0]);
    assert_non_null(got[1]);
    assert_ptr_equal(got[1], got[2]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_value_per_thread_destroyed_at_exit),
        cmocka_unit_test(test_main_thread_keeps_its_value),
        cmocka_unit_test(test_value_that_cannot_be_made_is_asked_for_again),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
