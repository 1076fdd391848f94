/* The event loop with real pipes and a real timerfd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "tui/loop.h"

struct counts {
    int reads, ticks, sleeps;
    struct loop *l;
};

static void
on_read(void *ctx, int fd)
{
    struct counts *c = ctx;
    char b[16];

    if (read(fd, b, sizeof(b)) > 0)
        c->reads++;
    if (c->reads == 2)
        loop_stop(c->l);
}

static void
on_tick(void *ctx)
{
    ((struct counts *)ctx)->ticks++;
}

static void
on_sleep(void *ctx)
{
    ((struct counts *)ctx)->sleeps++;
}

static void
test_fds_ticks_and_hook(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct counts c = { 0, 0, 0, l };
    int p[2];

    assert_int_equal(pipe(p), 0);
    assert_int_equal(loop_add_fd(l, p[0], on_read, &c), 0);
    assert_int_equal(loop_set_tick(l, 10, on_tick, &c), 0);
    loop_set_before_sleep(l, on_sleep, &c);
    /* Nothing to read: the tick fires within a bounded wait. */
    for (int i = 0; i < 50 && c.ticks == 0; i++)
        loop_turn(l, 100);
    assert_true(c.ticks >= 1);
    assert_int_equal(c.reads, 0);
    assert_int_equal(write(p[1], "a", 1), 1);
    loop_turn(l, 1000);
    assert_int_equal(c.reads, 1);
    assert_int_equal(write(p[1], "b", 1), 1);
    loop_run(l); /* stops itself at the second read */
    assert_int_equal(c.reads, 2);
    assert_true(loop_is_stopped(l));
    assert_true(c.sleeps >= 2);
    loop_remove_fd(l, p[0]);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

static void
test_wake_within_bounds_the_wait(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct counts c = { 0, 0, 0, l };

    loop_set_before_sleep(l, on_sleep, &c);
    loop_wake_within(l, 5);
    /* Without the wake request this would block for 10 s. */
    assert_int_equal(loop_turn(l, 10000), 0);
    assert_int_equal(c.sleeps, 1);
    loop_free(l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fds_ticks_and_hook),
        cmocka_unit_test(test_wake_within_bounds_the_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
