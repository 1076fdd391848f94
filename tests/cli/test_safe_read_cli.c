/* End-to-end: a FIFO (or another non-file) planted where intentus reads a
 * file makes every reader return promptly with an error naming the file,
 * instead of blocking in open(2) forever. Each run has a short time bound:
 * a hang is a kill and a failed assertion, never a stuck suite. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 4000

#define CONTAINS(hay, needle)                                                                      \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("'%s' not in:\n%s", (needle), (hay));                                         \
    } while (0)

/* Run intentus with args (NULL-terminated) in dir, stdin from stdin_text. */
static void
run_in(const char *dir, const char *stdin_text, struct tu_run *r, ...)
{
    char *argv[32], home[PATH_MAX + 8], xdg[PATH_MAX + 20];
    char *const env[] = { home, xdg, "INTENTUS_CONFIG=", "INTENTUSNET_RECORDS_PATH=", NULL };
    int64_t t0 = clock_mono_us();
    va_list ap;
    int n = 0;

    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", dir);
    argv[n++] = (char *)tu_bin();
    va_start(ap, r);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 31;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, stdin_text, env, TIMEOUT_MS, r), 0);
    if (r->status == 128 + 9)
        fail_msg("intentus %s %s hung (killed after %d ms)", argv[1], n > 2 ? argv[2] : "",
                 TIMEOUT_MS);
    /* Promptly: well inside the bound. */
    assert_true(clock_mono_us() - t0 < (int64_t)TIMEOUT_MS * 1000);
}
#define run(dir, r, ...) run_in(dir, NULL, r, __VA_ARGS__)

/* Route once with the WAL on; the execution id from route's stderr. */
static void
route_one(const char *dir, char id[64])
{
    static const char cfg[] = "{\"wal\": {\"enabled\": true, \"dir\": \"wal\"},"
                              " \"agents\": [{\"name\":\"b\",\"builtin\":\"echo\","
                              "\"intents\":[\"t.x\"]}]}";
    char path[PATH_MAX];
    struct tu_run r;
    const char *p;

    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, cfg, strlen(cfg), 0600), 0);
    run(dir, &r, "route", "t.x", NULL);
    assert_int_equal(r.status, 0);
    p = strstr(r.err, "execution ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s", id), 1);
    tu_run_free(&r);
}

/* mkfifo wal/<id>.wal in place of an existing record's log. */
static void
fifo_in_place(const char *dir, const char *rel)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
}

static void
test_wal_fifo_wal_verify(void **state)
{
    char *dir = tu_mkdtemp(), id[64], rel[128], want[256];
    struct tu_run r;

    (void)state;
    route_one(dir, id);
    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    fifo_in_place(dir, rel);
    run(dir, &r, "wal", "verify", id, NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "%s is not a regular file (a FIFO)", rel);
    CONTAINS(r.err, want);
    tu_run_free(&r);
    run(dir, &r, "wal", "inspect", id, "--json", NULL);
    assert_int_equal(r.status, 1);
    CONTAINS(r.out, "not a regular file");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_wal_fifo_recovery_scan(void **state)
{
    char *dir = tu_mkdtemp(), id[64], rel[128], want[256];
    struct tu_run r;

    (void)state;
    route_one(dir, id);
    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    fifo_in_place(dir, rel);
    run(dir, &r, "recovery", "scan", NULL);
    /* Listed as an unreadable log, the file named in the reason. */
    snprintf(want, sizeof(want), "%s is not a regular file (a FIFO)", rel);
    CONTAINS(r.out, want);
    CONTAINS(r.out, id);
    CONTAINS(r.out, "1 incomplete execution");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_wal_fifo_records_verify(void **state)
{
    char *dir = tu_mkdtemp(), id[64], rel[128], want[256];
    struct tu_run r;

    (void)state;
    route_one(dir, id);
    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    fifo_in_place(dir, rel);
    run(dir, &r, "records", "verify", NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "FAIL %s: wal_corrupted: %s is not a regular file (a FIFO)", id,
             rel);
    CONTAINS(r.out, want);
    CONTAINS(r.out, "0 passed, 1 failed");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* The record itself as a FIFO (the record store already used O_NONBLOCK;
 * it now goes through the same helper). */
static void
test_record_fifo(void **state)
{
    char *dir = tu_mkdtemp(), id[64], rel[160];
    struct tu_run r;

    (void)state;
    route_one(dir, id);
    snprintf(rel, sizeof(rel), ".intentusnet/records/%s.json", id);
    fifo_in_place(dir, rel);
    run(dir, &r, "records", "show", id, NULL);
    assert_int_equal(r.status, 1);
    CONTAINS(r.err, "is not a regular file (a FIFO)");
    tu_run_free(&r);
    run(dir, &r, "records", "verify", NULL);
    assert_int_equal(r.status, 1);
    CONTAINS(r.out, "is not a regular file (a FIFO)");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* The other files intentus reads: the config, a policy file, a payload
 * file, redact's input and rules. */
static void
test_other_readers_fifo(void **state)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX];
    static const char pol_cfg[] = "{\"policy\": {\"file\": \"pol.json\"}}";
    struct tu_run r;

    (void)state;
    snprintf(path, sizeof(path), "%s/cfg.json", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    run(dir, &r, "agents", "--config", "cfg.json", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "cfg.json is not a regular file (a FIFO)");
    tu_run_free(&r);

    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, pol_cfg, strlen(pol_cfg), 0600), 0);
    snprintf(path, sizeof(path), "%s/pol.json", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    run(dir, &r, "agents", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "pol.json is not a regular file (a FIFO)");
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(unlink(path), 0);

    snprintf(path, sizeof(path), "%s/p.json", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    run(dir, &r, "route", "demo.echo", "--payload", "@p.json", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "p.json is not a regular file (a FIFO)");
    tu_run_free(&r);
    run(dir, &r, "redact", "p.json", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "p.json is not a regular file (a FIFO)");
    tu_run_free(&r);
    run_in(dir, "{}", &r, "redact", "--rules", "p.json", "-", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "p.json is not a regular file (a FIFO)");
    tu_run_free(&r);
    /* /dev/zero as a payload would be read to the limit, then rejected. */
    run(dir, &r, "route", "demo.echo", "--payload", "@/dev/zero", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "/dev/zero is not a regular file (a character device)");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* wal gc reads every log it judges: a FIFO under a log's name is listed
 * as damaged at once, never waited on, and left alone. */
static void
test_wal_fifo_wal_gc(void **state)
{
    char *dir = tu_mkdtemp(), id[64], rel[128], path[PATH_MAX];
    struct tu_run r;
    struct stat st;

    (void)state;
    route_one(dir, id);
    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    fifo_in_place(dir, rel);
    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, id);
    assert_int_equal(unlink(path), 0); /* its record gone: gc looks at the log */
    run(dir, &r, "wal", "gc", "--yes", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "not a regular file (a FIFO)");
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_fifo_wal_verify),
        cmocka_unit_test(test_wal_fifo_wal_gc),
        cmocka_unit_test(test_wal_fifo_recovery_scan),
        cmocka_unit_test(test_wal_fifo_records_verify),
        cmocka_unit_test(test_record_fifo),
        cmocka_unit_test(test_other_readers_fifo),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
