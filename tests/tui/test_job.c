/* The console's job API (tui/job.h) with real threads, a real eventfd and
 * the real loop; and the race it closes: a background WAL scan reading the
 * configuration while the loop reloads it (issue 18 P1.2). `make tsan` and
 * `make asan` run this: a worker reading a freed generation is a report. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/recovery.h"
#include "core/runtime.h"
#include "tests/support/testutil.h"
#include "tui/job.h"
#include "tui/loop.h"

struct probe {
    pthread_t main;
    atomic_int worked;
    int done_calls;
    bool done_on_main, done_after_work;
};

static void
probe_work(void *arg, const struct job_ctl *ctl)
{
    struct probe *p = arg;

    (void)ctl;
    atomic_store(&p->worked, 1);
}

static void
probe_done(void *arg)
{
    struct probe *p = arg;

    p->done_calls++;
    p->done_on_main = pthread_equal(pthread_self(), p->main) != 0;
    p->done_after_work = atomic_load(&p->worked) == 1;
}

/* The completion comes back through the loop, on the loop's thread. */
static void
test_done_runs_on_the_loop_thread(void **state)
{
    struct loop *l = loop_new();
    struct jobs *j = jobs_new(l);
    struct probe p = { .main = pthread_self() };
    int64_t t0 = clock_mono_us();

    (void)state;
    assert_non_null(j);
    atomic_init(&p.worked, 0);
    assert_int_equal(job_run(j, probe_work, probe_done, &p), 0);
    assert_int_equal(p.done_calls, 0); /* never called from job_run */
    while (p.done_calls == 0 && clock_mono_us() - t0 < 10000000)
        loop_turn(l, 100);
    assert_int_equal(p.done_calls, 1);
    assert_true(p.done_on_main);
    assert_true(p.done_after_work);
    assert_int_equal(jobs_pending(j), 0);
    jobs_free(j);
    loop_free(l);
}

static void
long_work(void *arg, const struct job_ctl *ctl)
{
    struct probe *p = arg;
    int64_t t0 = clock_mono_us();

    /* Until told to stop (bounded: 10 s, which would fail the test). */
    while (!job_cancelled(ctl) && clock_mono_us() - t0 < 10000000) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    atomic_store(&p->worked, job_cancelled(ctl) ? 1 : 2);
}

/* Closing the console cancels running jobs, waits for them and still runs
 * their done callbacks (they free what the job owned). */
static void
test_free_cancels_and_delivers(void **state)
{
    struct loop *l = loop_new();
    struct jobs *j = jobs_new(l);
    struct probe p = { .main = pthread_self() };
    int64_t t0;

    (void)state;
    atomic_init(&p.worked, 0);
    assert_int_equal(job_run(j, long_work, probe_done, &p), 0);
    assert_int_equal(jobs_pending(j), 1);
    t0 = clock_mono_us();
    jobs_free(j);
    assert_true(clock_mono_us() - t0 < 5000000);
    assert_int_equal(atomic_load(&p.worked), 1); /* it saw the cancel */
    assert_int_equal(p.done_calls, 1);
    assert_true(p.done_on_main);
    loop_free(l);
}

/* What the console's WAL scan job does: read the config through its own
 * reference, scan the WAL directory it names. */
struct scan {
    struct runtime *rt;
    struct runtime_config_ref *ref;
    const struct config *cfg;
    size_t found;
    int rc;
    int *delivered;
};

static void
scan_work(void *arg, const struct job_ctl *ctl)
{
    struct scan *s = arg;
    struct recovery_item *items = NULL;
    struct intentus_err err = { 0 };
    size_t n = 0;

    (void)ctl;
    /* Read the config repeatedly while the loop reloads it. */
    for (int k = 0; k < 50; k++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s", s->cfg->wal.dir);
        s->rc = recovery_scan(dir, &items, &n, &err);
        if (s->rc == 0)
            recovery_items_free(items, n);
        items = NULL;
        s->found += strlen(s->cfg->source) > 0 && registry_count(s->cfg->registry) == 1;
    }
}

static void
scan_done(void *arg)
{
    struct scan *s = arg;

    runtime_config_release(s->rt, s->ref);
    (*s->delivered)++;
    free(s);
}

static void
test_reload_racing_background_scan(void **state)
{
    char *dir = tu_mkdtemp(), path[600], wal[600], text[2048];
    struct intentus_err err = { 0 };
    struct runtime *rt;
    struct loop *l = loop_new();
    struct jobs *j = jobs_new(l);
    int delivered = 0, started = 0;
    int64_t t0;

    (void)state;
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    assert_int_equal(mkdir(wal, 0700), 0);
    snprintf(text, sizeof(text),
             "{\"wal\": {\"enabled\": true, \"dir\": \"%s\"}, \"recording\": {\"dir\": \"%s/rec\"},"
             " \"agents\": [{\"name\":\"a\",\"builtin\":\"echo\",\"intents\":[\"t.x\"]}]}",
             wal, dir);
    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    rt = runtime_open(path, NULL, &err);
    if (rt == NULL)
        fail_msg("runtime_open: %s", err.msg);
    for (int round = 0; round < 8; round++) {
        for (int k = 0; k < 4; k++) {
            struct scan *s = calloc(1, sizeof(*s));
            assert_non_null(s);
            s->rt = rt;
            s->delivered = &delivered;
            s->cfg = runtime_config_acquire(rt, &s->ref);
            assert_int_equal(job_run(j, scan_work, scan_done, s), 0);
            started++;
        }
        /* The loop reloads while the scans read: each reload replaces the
         * generation the scans started with. */
        for (int k = 0; k < 5; k++) {
            assert_int_equal(runtime_reload(rt, &err), 0);
            loop_turn(l, 0);
        }
    }
    t0 = clock_mono_us();
    while (delivered < started && clock_mono_us() - t0 < 30000000)
        loop_turn(l, 100);
    assert_int_equal(delivered, started);
    jobs_free(j);
    loop_free(l);
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_done_runs_on_the_loop_thread),
        cmocka_unit_test(test_free_cancels_and_delivers),
        cmocka_unit_test(test_reload_racing_background_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
