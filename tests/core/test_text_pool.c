/* core/text_pool: what is kept comes back whole and empty, what is not worth
 * keeping is freed (ASan and valgrind see a leak or a double free), the
 * pool never holds more than TEXT_POOL_MAX, and threads may give and take
 * at once (make tsan). */
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/text_pool.h"

/* Take everything the pool holds (other tests leave nothing behind). */
static size_t
drain(void)
{
    size_t n = 0;
    struct buf b = BUF_INIT;

    while (text_pool_take(&b)) {
        buf_free(&b);
        n++;
    }
    return n;
}

static char *
filled(size_t size, char c)
{
    char *p = malloc(size);

    assert_non_null(p);
    memset(p, c, size);
    p[size - 1] = '\0';
    return p;
}

static void
test_kept_buffer_comes_back_empty_and_usable(void **state)
{
    struct buf b = BUF_INIT;
    char *text = filled(4096, 'r');

    (void)state;
    drain();
    text_pool_give(text);
    assert_true(text_pool_take(&b));
    assert_ptr_equal(b.data, text);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_true(b.cap >= 4096);
    assert_int_equal(b.failed, 0);
    /* It is an ordinary buffer now: appends, grows, frees. */
    buf_puts(&b, "{\"a\": 1}");
    assert_string_equal(b.data, "{\"a\": 1}");
    assert_int_equal(buf_reserve(&b, 100000), 0);
    buf_free(&b);
    assert_false(text_pool_take(&b));
}

static void
test_sizes_not_worth_keeping_are_freed(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    drain();
    text_pool_give(filled(100, 's'));                /* too small */
    text_pool_give(filled((size_t)200 * 1024, 'l')); /* too large */
    text_pool_give(NULL);
    assert_false(text_pool_take(&b));
    assert_null(b.data);
}

static void
test_take_leaves_an_allocated_buffer_alone(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    drain();
    buf_puts(&b, "mine");
    text_pool_give(filled(2048, 'k'));
    assert_false(text_pool_take(&b));
    assert_string_equal(b.data, "mine");
    buf_free(&b);
    assert_int_equal(drain(), 1);
}

static void
test_pool_is_bounded(void **state)
{
    (void)state;
    drain();
    for (int i = 0; i < TEXT_POOL_MAX + 10; i++)
        text_pool_give(filled(2048, 'b'));
    assert_int_equal(drain(), TEXT_POOL_MAX);
}

#define ROUNDS 2000

static void *
giver(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++)
        text_pool_give(filled(1024 + (size_t)(i % 7) * 1000, 'g'));
    return NULL;
}

static void *
taker(void *arg)
{
    size_t *took = arg;

    for (int i = 0; i < ROUNDS; i++) {
        struct buf b = BUF_INIT;
        if (text_pool_take(&b)) {
            /* Whole and ours: written end to end. */
            memset(b.data, 't', b.cap);
            b.data[b.cap - 1] = '\0';
            (*took)++;
        }
        buf_free(&b);
    }
    return NULL;
}

static void
test_threads_give_and_take_at_once(void **state)
{
    pthread_t g[2], t[2];
    size_t took[2] = { 0, 0 };

    (void)state;
    drain();
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&g[i], NULL, giver, NULL), 0);
        assert_int_equal(pthread_create(&t[i], NULL, taker, &took[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(g[i], NULL);
        pthread_join(t[i], NULL);
    }
    /* Whatever was not taken is still there, no more than the bound. */
    assert_true(drain() <= TEXT_POOL_MAX);
    assert_true(took[0] + took[1] <= (size_t)2 * ROUNDS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_buffer_comes_back_empty_and_usable),
        cmocka_unit_test(test_sizes_not_worth_keeping_are_freed),
        cmocka_unit_test(test_take_leaves_an_allocated_buffer_alone),
        cmocka_unit_test(test_pool_is_bounded),
        cmocka_unit_test(test_threads_give_and_take_at_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
