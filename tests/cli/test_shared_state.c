/* Shared state (serve.shared_state, watch/shared_pg.c) against a real
 * PostgreSQL server (tests/support/pg_testutil.h, one for the binary): two
 * limiters on one database admit one bucket's worth between them, two
 * breakers agree on an open and a closed circuit, an outage falls back to
 * the local decision at once; and end to end, two `intentus serve`
 * processes with the same config enforce one rate limit per key and share
 * an open circuit. The cost per shared token is measured beside the local
 * one. Counted skip where the PostgreSQL binaries are absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/breaker.h"
#include "core/ratelimit.h"
#include "core/shared_state.h"
#include "tests/support/pg_testutil.h"
#include "tests/support/serve_testutil.h"
#include "tests/support/testutil.h"
#include "watch/shared_pg.h"

struct env {
    struct pgt_server *srv;
    int skipped, ndb;
    char why[1024];
    struct tu_serve *serves[2]; /* freed (killed) by teardown if a test fails */
};

static int
setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    int rc = pgt_start(&e->srv, e->why, sizeof(e->why));

    if (rc == 1) {
        printf("# skipping the shared-state tests: %s\n", e->why);
        e->skipped = 1;
    } else if (rc != 0) {
        printf("# PostgreSQL test server: %s\n", e->why);
        free(e);
        return -1;
    }
    *state = e;
    return 0;
}

static int
teardown(void **state)
{
    struct env *e = *state;

    for (int i = 0; i < 2; i++)
        tu_serve_free(e->serves[i]);
    pgt_free(e->srv);
    free(e);
    return 0;
}

static char *
fresh_db(struct env *e)
{
    char name[32], why[512], *url;

    if (e->skipped)
        skip();
    /* A test that failed during an outage left the server stopped. */
    if (pgt_restart(e->srv) != 0)
        fail_msg("restarting the PostgreSQL test server failed");
    snprintf(name, sizeof(name), "s%d", ++e->ndb);
    url = pgt_create_db(e->srv, name, why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    return url;
}

static struct shared_pg *
open_shared(const char *url, int64_t refresh_ms)
{
    struct intentus_err err = { 0 };
    struct shared_pg *sp = shared_pg_open(url, refresh_ms, &err);

    if (sp == NULL)
        fail_msg("shared_pg_open %s: %s", url, err.msg);
    return sp;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_two_limiters_share_one_bucket(void **state)
{
    struct env *e = *state;
    char *url = fresh_db(e);
    struct shared_pg *a = open_shared(url, 0), *b = open_shared(url, 0);
    struct ratelimit *ra = ratelimit_new(NULL), *rb = ratelimit_new(NULL);
    int allowed = 0, allowed_other = 0;

    ratelimit_set_shared(ra, shared_pg_state(a));
    ratelimit_set_shared(rb, shared_pg_state(b));
    /* 40 a minute: two routers asking 50 times each get 40 together (a
     * refill of 40/min adds well under one token in this loop's time). */
    for (int i = 0; i < 50; i++) {
        allowed += ratelimit_check(ra, "tenant:acme", 40);
        allowed += ratelimit_check(rb, "tenant:acme", 40);
        allowed_other += ratelimit_check(rb, "tenant:globex", 40);
    }
    assert_int_equal(allowed, 40);
    assert_int_equal(allowed_other, 40); /* one bucket per key */
    /* The shared decision was taken, not the local buckets'. */
    assert_int_equal(ratelimit_size(ra), 0);
    assert_int_equal(ratelimit_size(rb), 0);

    /* Cost per request: a shared token against a local one, same run. */
    {
        struct ratelimit *local = ratelimit_new(NULL);
        const int n = 2000;
        double t0 = now_s(), shared_s, local_s, la[3];
        for (int i = 0; i < n; i++)
            ratelimit_check(ra, "cost", 1000000);
        shared_s = now_s() - t0;
        t0 = now_s();
        for (int i = 0; i < n; i++)
            ratelimit_check(local, "cost", 1000000);
        local_s = now_s() - t0;
        getloadavg(la, 3);
        printf("# rate limit cost per request: shared (PostgreSQL, loopback) %.1f us, local %.2f "
               "us (load %.2f)\n",
               shared_s / n * 1e6, local_s / n * 1e6, la[0]);
        ratelimit_free(local);
    }
    ratelimit_free(ra);
    ratelimit_free(rb);
    shared_pg_close(a);
    shared_pg_close(b);
    free(url);
}

static void
test_outage_falls_back_to_local(void **state)
{
    struct env *e = *state;
    char *url = fresh_db(e);
    struct shared_pg *a = open_shared(url, 0);
    struct ratelimit *ra = ratelimit_new(NULL);
    uint64_t calls = 0, unavailable = 0;
    double t0;

    ratelimit_set_shared(ra, shared_pg_state(a));
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_check(ra, "k", 3));
    assert_false(ratelimit_check(ra, "k", 3)); /* shared bucket empty */
    assert_int_equal(pgt_stop(e->srv), 0);
    /* Down: the local bucket (fresh, full) decides, and quickly. */
    t0 = now_s();
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_check(ra, "k", 3));
    assert_false(ratelimit_check(ra, "k", 3));
    assert_true(now_s() - t0 < 3.0);
    shared_pg_counts(a, &calls, &unavailable);
    assert_true(unavailable >= 4);
    assert_int_equal(pgt_restart(e->srv), 0);
    /* Back: after the backoff the shared bucket decides again (still empty). */
    t0 = now_s();
    uint64_t before = unavailable;
    while (now_s() - t0 < 10) {
        bool ok = ratelimit_check(ra, "k2", 1);
        shared_pg_counts(a, &calls, &unavailable);
        if (unavailable == before && ok)
            break;
        before = unavailable;
        usleep(50000);
    }
    assert_false(ratelimit_check(ra, "k2", 1)); /* the shared k2 bucket had its one token */
    ratelimit_free(ra);
    shared_pg_close(a);
    free(url);
}

static void
test_two_breakers_agree(void **state)
{
    struct env *e = *state;
    char *url = fresh_db(e);
    struct shared_pg *a = open_shared(url, 50), *b = open_shared(url, 50);
    struct breaker_policy pol = { .enabled = true,
                                  .failure_threshold = 2,
                                  .window = 10,
                                  .cooldown_ms = 60000,
                                  .half_open_probes = 1 };
    struct breaker *ba = breaker_new(&pol), *bb = breaker_new(&pol);
    struct breaker_change ch;
    struct breaker_stats st;
    int64_t t = 1000000000;

    assert_int_equal(breaker_set_shared(ba, shared_pg_state(a), "remote-x"), 0);
    assert_int_equal(breaker_set_shared(bb, shared_pg_state(b), "remote-x"), 0);
    assert_true(breaker_allow(bb, t, &ch)); /* B looks once: nothing known */
    /* Two failures on A open its circuit... */
    for (int i = 0; i < 2; i++) {
        assert_true(breaker_allow(ba, t, &ch));
        breaker_record(ba, false, t, &ch);
    }
    breaker_snapshot(ba, t, &st);
    assert_int_equal(st.state, BREAKER_OPEN);
    /* ...and B, within its refresh, skips the agent too. */
    t += 60 * 1000;
    assert_false(breaker_allow(bb, t, &ch));
    assert_true(ch.changed);
    assert_int_equal(ch.to, BREAKER_OPEN);
    assert_non_null(strstr(ch.reason, "another router"));
    breaker_snapshot(bb, t, &st);
    assert_int_equal(st.state, BREAKER_OPEN);
    /* Open on B until about when A probes: within a second of A's cool-down. */
    assert_true(st.next_probe_us - t > 58 * 1000000LL);
    assert_true(st.next_probe_us - t <= 60 * 1000000LL);
    /* An operator resets it on B: A closes too. */
    breaker_reset(bb, &ch);
    t += 60 * 1000;
    assert_true(breaker_allow(ba, t, &ch));
    breaker_snapshot(ba, t, &st);
    assert_int_equal(st.state, BREAKER_CLOSED);
    breaker_free(ba);
    breaker_free(bb);
    shared_pg_close(a);
    shared_pg_close(b);
    free(url);
}

/* ---- end to end: two serve processes ---- */

static void
write_config(struct tu_serve *s, const char *db_url)
{
    char text[8192];

    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"},\n"
             " \"agents\": [\n"
             "  {\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": [\"t.limited\"]},\n"
             "  {\"name\": \"fail-b\", \"builtin\": \"fail\", \"intents\": [\"t.fail\"],\n"
             "   \"breaker\": {\"failure_threshold\": 2, \"cooldown\": \"60s\"}}],\n"
             " \"policy\": {\"default\": \"allow\", \"rules\": [\n"
             "  {\"id\": \"five\", \"action\": \"allow\", \"intents\": [\"t.limited\"],\n"
             "   \"rate_limit_per_minute\": 5, \"rate_limit_key_template\": \"{intent}\"}]},\n"
             " \"serve\": {\"shared_state\": {\"url\": \"%s\", \"breaker_refresh\": \"100ms\"}}}\n",
             s->records, db_url);
    assert_int_equal(tu_write_file(s->config, text, strlen(text), 0600), 0);
}

static int
route(struct tu_serve *s, const char *intent, const char *want)
{
    char body[128], *out = NULL;
    int hit;

    snprintf(body, sizeof(body), "{\"intent\":\"%s\"}", intent);
    assert_int_equal(tu_serve_http(s, "POST", "/v1/route", NULL, body, &out), 200);
    hit = strstr(out, want) != NULL;
    free(out);
    return hit;
}

static void
test_two_serves_one_limit_one_circuit(void **state)
{
    struct env *e = *state;
    char *url = fresh_db(e);
    struct tu_serve **s = e->serves;
    const char *const noauth[] = { "--no-auth", NULL };
    int ok = 0, limited = 0;
    char *out = NULL;

    for (int i = 0; i < 2; i++) {
        s[i] = tu_serve_new();
        write_config(s[i], url);
        tu_serve_start(s[i], noauth);
    }
    /* 12 requests, alternating: 5 pass in all, not 5 on each. */
    for (int i = 0; i < 12; i++) {
        if (route(s[i % 2], "t.limited", "\"status\":\"success\""))
            ok++;
        else
            limited++;
    }
    assert_int_equal(ok, 5);
    assert_int_equal(limited, 7);
    /* The circuit: two failures through the first open it... */
    route(s[0], "t.fail", "");
    route(s[0], "t.fail", "");
    assert_int_equal(tu_serve_http(s[0], "GET", "/v1/agents", NULL, NULL, &out), 200);
    assert_non_null(strstr(out, "\"name\":\"fail-b\",\"enabled\":true,\"breaker\":\"OPEN\""));
    free(out);
    /* ...and the second, which never saw a failure, skips the agent. */
    tu_sleep_ms(150);
    route(s[1], "t.fail", "");
    assert_int_equal(tu_serve_http(s[1], "GET", "/v1/agents", NULL, NULL, &out), 200);
    assert_non_null(strstr(out, "\"name\":\"fail-b\",\"enabled\":true,\"breaker\":\"OPEN\""));
    free(out);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tu_serve_stop(s[i]), 0);
        tu_serve_free(s[i]);
        s[i] = NULL;
    }
    free(url);
}

static void
test_bad_shared_state_config(void **state)
{
    struct env *e = *state;
    struct tu_serve *s = tu_serve_new();
    struct tu_run r;
    char port[16];
    char *const argv[] = { (char *)tu_bin(), "serve", "--config",  s->config,
                           "--listen",       port,    "--no-auth", NULL };

    (void)e;
    snprintf(port, sizeof(port), "127.0.0.1:%d", tu_free_port());
    /* Not PostgreSQL: a config error (2) naming the key. */
    write_config(s, "sqlite:/tmp/x.db");
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 20000, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "serve.shared_state.url"));
    tu_run_free(&r);
    /* Nobody listening there: a failed start (1) naming the URL. */
    write_config(s, "postgres://postgres@127.0.0.1:1/none");
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 20000, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "127.0.0.1:1"));
    tu_run_free(&r);
    tu_serve_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_limiters_share_one_bucket),
        cmocka_unit_test(test_outage_falls_back_to_local),
        cmocka_unit_test(test_two_breakers_agree),
        cmocka_unit_test(test_two_serves_one_limit_one_circuit),
        cmocka_unit_test(test_bad_shared_state_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
