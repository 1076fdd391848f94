/* End-to-end tests of GET /v1/events on `intentus serve` (the real binary,
 * $INTENTUS_BIN, on a free 127.0.0.1 port): curl -N reads the stream while
 * curl and `intentus route --server` send intents. Every wait is bounded
 * and the server is always killed at the end of a test. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/serve_testutil.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 30000
#define TOKEN_ALICE "alice-secret-7f3a9c"
#define TOKEN_BOB "bob-secret-2b8e41"
#define TOKEN_OPS "ops-secret-c0ffee"
#define TOKEN_CAROL "carol-secret-99d1e0"

/* The test config: alice (tenant acme, user), bob (tenant acme), ops
 * (admin); an echo agent, a failing agent with a breaker, a slow agent and
 * a 3-per-minute rule. extra_serve is spliced into "serve". */
static void
write_config(struct tu_serve *c, bool with_alice, const char *extra_serve)
{
    char a[65], b[65], o[65], k[65], alice[512] = "", text[PATH_MAX + 2048];

    tu_sha256_hex(TOKEN_CAROL, k);
    tu_sha256_hex(TOKEN_ALICE, a);
    tu_sha256_hex(TOKEN_BOB, b);
    tu_sha256_hex(TOKEN_OPS, o);
    if (with_alice)
        snprintf(alice, sizeof(alice),
                 "{\"sha256\": \"%s\", \"subject\": \"alice\", \"tenants\": [\"acme\"], "
                 "\"roles\": [\"user\"]},\n  {\"sha256\": \"%s\", \"subject\": \"carol\", "
                 "\"tenants\": [\"globex\"]},\n  ",
                 a, k);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"},\n"
             " \"agents\": [\n"
             "  {\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": [\"demo.echo\", "
             "\"t.limited\"]},\n"
             "  {\"name\": \"fail-b\", \"builtin\": \"fail\", \"intents\": [\"t.fail\"],\n"
             "   \"breaker\": {\"failure_threshold\": 2, \"cooldown\": \"60s\"}},\n"
             "  {\"name\": \"slow-c\", \"builtin\": \"slow\", \"delay_ms\": 300, \"intents\": "
             "[\"t.slow\"]},\n"
             "  {\"name\": \"slow-d\", \"builtin\": \"slow\", \"delay_ms\": 1500, \"intents\": "
             "[\"t.slower\"]}],\n"
             " \"policy\": {\"default\": \"allow\", \"rules\": [\n"
             "  {\"id\": \"three\", \"action\": \"allow\", \"intents\": [\"t.limited\"],\n"
             "   \"rate_limit_per_minute\": 3, \"rate_limit_key_template\": \"{intent}\"}]},\n"
             " \"serve\": {%s\"max_body\": \"4KiB\", \"tokens\": [\n"
             "  %s{\"sha256\": \"%s\", \"subject\": \"bob\", \"tenants\": [\"acme\"]},\n"
             "  {\"sha256\": \"%s\", \"subject\": \"ops\", \"tenants\": [\"*\"], \"roles\": "
             "[\"admin\"]}]}}\n",
             c->records, extra_serve != NULL ? extra_serve : "", alice, b, o);
    assert_int_equal(tu_write_file(c->config, text, strlen(text), 0600), 0);
}

static int
setup(void **state)
{
    struct tu_serve *c = tu_serve_new();

    write_config(c, true, NULL);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    tu_serve_free(*state);
    return 0;
}

static bool
file_has(const char *path, const char *needle)
{
    char *t = tu_read_file(path, NULL);
    bool has = t != NULL && strstr(t, needle) != NULL;
    free(t);
    return has;
}

static const char route_echo[] =
    "{\"intent\":\"demo.echo\",\"payload\":{\"x\":\"payload-marker\"}}";

/* curl -N on /v1/events into out (a file) for at most max_s seconds, in
 * the background; the child's pid. */
static pid_t
stream_start(struct tu_serve *c, const char *token, const char *last_id, const char *out, int max_s)
{
    char url[128], auth[256], last[64], secs[16];
    pid_t pid;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/events", c->port);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    snprintf(last, sizeof(last), "Last-Event-ID: %s", last_id != NULL ? last_id : "");
    snprintf(secs, sizeof(secs), "%d", max_s);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (last_id != NULL)
            execlp("curl", "curl", "-sN", "--max-time", secs, "-o", out, "-H", auth, "-H", last,
                   url, (char *)NULL);
        else
            execlp("curl", "curl", "-sN", "--max-time", secs, "-o", out, "-H", auth, url,
                   (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Wait at most ms for needle in path. */
static bool
wait_file(const char *path, const char *needle, long ms)
{
    for (long i = 0; i < ms / 50; i++) {
        if (file_has(path, needle))
            return true;
        tu_sleep_ms(50);
    }
    return file_has(path, needle);
}

static void
stream_end(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* The stream is open once the server has greeted it. */
static void
stream_ready(const char *out)
{
    assert_true(wait_file(out, ": intentus events", 10000));
}

/* An admin stream sees the execution (id, intent, tenant, agent, status,
 * attempts; no payload, no token) and the breaker of a failing agent
 * opening with its cool-down. */
static void
test_events_execution_and_breaker(void **state)
{
    struct tu_serve *c = *state;
    char out[PATH_MAX], *body = NULL, *t;
    pid_t pid;

    snprintf(out, sizeof(out), "%s/events.txt", c->dir);
    tu_serve_start(c, NULL);
    pid = stream_start(c, TOKEN_OPS, NULL, out, 30);
    stream_ready(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &body), 200);
    free(body);
    assert_true(wait_file(out, "\"intent\":\"demo.echo\"", 10000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, "{\"intent\":\"t.fail\"}", &body),
            200);
        free(body);
    }
    assert_true(wait_file(out, "\"from\":\"CLOSED\",\"to\":\"OPEN\"", 10000));
    stream_end(pid);
    t = tu_read_file(out, NULL);
    assert_non_null(t);
    assert_non_null(strstr(t, "id: 1\nevent: execution\ndata: {\"executionId\":\""));
    assert_non_null(strstr(t, "\"tenant\":\"acme\",\"status\":\"success\",\"agent\":\"echo-a\""));
    assert_non_null(strstr(t, "\"attempts\":1"));
    assert_non_null(strstr(t, "\"errorCode\":\"AGENT_ERROR\""));
    assert_non_null(strstr(t, "event: breaker\ndata: {\"agent\":\"fail-b\""));
    assert_non_null(strstr(t, "\"cooldownMs\":60000"));
    assert_non_null(strstr(t, "\"nextProbeAt\":\""));
    assert_null(strstr(t, "payload-marker")); /* never payloads */
    assert_null(strstr(t, TOKEN_ALICE));      /* never tokens */
    free(t);
    assert_int_equal(tu_serve_stop(c), 0);
}

/* A non-admin token sees its own tenants' executions only, and no control
 * events. */
static void
test_events_tenant_filter(void **state)
{
    struct tu_serve *c = *state;
    char out[PATH_MAX], admin[PATH_MAX], *body = NULL, *t;
    pid_t pid, apid;

    snprintf(out, sizeof(out), "%s/carol.txt", c->dir);
    snprintf(admin, sizeof(admin), "%s/ops.txt", c->dir);
    tu_serve_start(c, NULL);
    pid = stream_start(c, TOKEN_CAROL, NULL, out, 30);
    apid = stream_start(c, TOKEN_OPS, NULL, admin, 30);
    stream_ready(out);
    stream_ready(admin);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, "{\"intent\":\"t.fail\"}", &body),
            200);
        free(body);
    }
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_CAROL, route_echo, &body), 200);
    free(body);
    assert_true(wait_file(out, "\"tenant\":\"globex\"", 10000));
    /* by now the admin stream has all four events; carol's must have one */
    assert_true(wait_file(admin, "\"tenant\":\"globex\"", 10000));
    assert_true(file_has(admin, "\"tenant\":\"acme\""));
    /* Breaker changes are published by whichever thread looks next (at most
     * every 5 ms), not necessarily before the next execution's event. */
    assert_true(wait_file(admin, "event: breaker", 10000));
    stream_end(pid);
    stream_end(apid);
    t = tu_read_file(out, NULL);
    assert_non_null(t);
    assert_null(strstr(t, "acme"));
    assert_null(strstr(t, "event: breaker"));
    assert_null(strstr(t, "fail-b"));
    free(t);
    assert_int_equal(tu_serve_stop(c), 0);
}

/* Last-Event-ID: a reconnecting client gets what came after that id. */
static void
test_events_resume(void **state)
{
    struct tu_serve *c = *state;
    char out[PATH_MAX], again[PATH_MAX], *body = NULL, *t;
    pid_t pid;

    snprintf(out, sizeof(out), "%s/first.txt", c->dir);
    snprintf(again, sizeof(again), "%s/again.txt", c->dir);
    tu_serve_start(c, NULL);
    pid = stream_start(c, TOKEN_OPS, NULL, out, 30);
    stream_ready(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &body), 200);
    free(body);
    assert_true(wait_file(out, "id: 1\n", 10000));
    stream_end(pid); /* the client goes away; two more happen meanwhile */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_BOB, route_echo, &body), 200);
        free(body);
    }
    pid = stream_start(c, TOKEN_OPS, "1", again, 30);
    assert_true(wait_file(again, "id: 3\n", 10000));
    stream_end(pid);
    t = tu_read_file(again, NULL);
    assert_non_null(t);
    assert_null(strstr(t, "id: 1\n"));
    assert_non_null(strstr(t, "id: 2\nevent: execution"));
    assert_true(strstr(t, "id: 2\n") < strstr(t, "id: 3\n"));
    free(t);
    assert_int_equal(tu_serve_stop(c), 0);
}

static void
test_events_unauthorized(void **state)
{
    struct tu_serve *c = *state;
    char *body = NULL;

    tu_serve_start(c, NULL);
    assert_int_equal(tu_serve_http(c, "GET", "/v1/events", NULL, NULL, &body), 401);
    assert_non_null(strstr(body, "\"UNAUTHORIZED\""));
    free(body);
    assert_int_equal(tu_serve_http(c, "GET", "/v1/events", "not-a-token", NULL, &body), 401);
    free(body);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/events", TOKEN_OPS, "{}", &body), 405);
    free(body);
    assert_int_equal(tu_serve_stop(c), 0);
}

/* SIGTERM with event streams open: they end at once and serve exits 0
 * well inside the drain grace (which would otherwise be waited out). */
static void
test_events_sigterm(void **state)
{
    struct tu_serve *c = *state;
    char out[PATH_MAX], out2[PATH_MAX];
    pid_t pid, pid2;
    struct timespec a, b;
    int st = 0;
    double secs;

    snprintf(out, sizeof(out), "%s/s1.txt", c->dir);
    snprintf(out2, sizeof(out2), "%s/s2.txt", c->dir);
    tu_serve_start(c, (const char *const[]){ "--grace", "20s", NULL });
    pid = stream_start(c, TOKEN_OPS, NULL, out, 60);
    pid2 = stream_start(c, TOKEN_CAROL, NULL, out2, 60);
    stream_ready(out);
    stream_ready(out2);
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(tu_serve_stop(c), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    print_message("serve stopped %.3f s after SIGTERM with 2 open streams\n", secs);
    assert_true(secs < 5.0);
    /* the clients saw their streams end (curl exits 0 at a clean end) */
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(waitpid(pid2, &st, 0), pid2);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_true(file_has(out, ": the service is stopping"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_execution_and_breaker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_tenant_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_unauthorized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_sigterm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
