/* `intentus console --server URL` attached to a real `intentus serve` on a
 * free 127.0.0.1 port, driven through tmux (send-keys in, capture-pane
 * out); the breaker is opened by `intentus route --server` from outside
 * and checked with `intentus agents --server`. Every wait is bounded; the
 * server and the tmux server are always killed at the end. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/serve_testutil.h"
#include "tests/support/testutil.h"

#define TOKEN_OPS "ops-secret-c0ffee"

struct con {
    char sock[64];
    char *dir;
    char config[PATH_MAX], records[PATH_MAX], log[PATH_MAX], url[64];
    int port;
    pid_t pid;
};

static int
tmux(struct con *c, char *out, size_t size, const char *a1, const char *a2, const char *a3,
     const char *a4, const char *a5, const char *a6, const char *a7, const char *a8)
{
    char *argv[16] = { "tmux",     "-L",       c->sock,    (char *)a1, (char *)a2, (char *)a3,
                       (char *)a4, (char *)a5, (char *)a6, (char *)a7, (char *)a8, NULL };
    struct tu_run r;
    int rc;

    if (tu_run(argv, NULL, NULL, NULL, 10000, &r) != 0)
        return -1;
    if (out != NULL)
        snprintf(out, size, "%s", r.out);
    rc = r.status;
    tu_run_free(&r);
    return rc;
}

static void
capture(struct con *c, char *out, size_t size)
{
    tmux(c, out, size, "capture-pane", "-p", "-t", "t", NULL, NULL, NULL, NULL);
}

static bool
wait_for(struct con *c, const char *text, int timeout_ms, char *screen, size_t size)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        capture(c, screen, size);
        if (strstr(screen, text) != NULL)
            return true;
        tu_sleep_ms(50);
    }
    return false;
}

static void
expect(struct con *c, const char *text)
{
    static char screen[65536];

    if (!wait_for(c, text, 10000, screen, sizeof(screen)))
        fail_msg("screen never showed '%s'; it shows:\n%s", text, screen);
}

static void
keys(struct con *c, const char *k1, const char *k2, const char *k3)
{
    tmux(c, NULL, 0, "send-keys", "-t", "t", k1, k2, k3, NULL, NULL);
}

/* The service: an echo agent and a failing one whose breaker opens after
 * two failures and stays open a minute; one admin token. */
static void
start_server(struct con *c)
{
    char text[PATH_MAX + 1024], hash[65], listen[64], cmd[128];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "printf %%s '%s' | sha256sum", TOKEN_OPS);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(hash, sizeof(hash), p));
    pclose(p);
    hash[64] = '\0';
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"},\n"
             " \"agents\": [\n"
             "  {\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": [\"demo.echo\"]},\n"
             "  {\"name\": \"fail-b\", \"builtin\": \"fail\", \"intents\": [\"t.fail\"],\n"
             "   \"breaker\": {\"failure_threshold\": 2, \"cooldown\": \"60s\"}}],\n"
             " \"serve\": {\"tokens\": [{\"sha256\": \"%s\", \"subject\": \"ops\", "
             "\"tenants\": [\"*\"], \"roles\": [\"admin\"]}]}}\n",
             c->records, hash);
    assert_int_equal(tu_write_file(c->config, text, strlen(text), 0600), 0);
    if (c->port == 0) /* else: restarted on the same port */
        c->port = tu_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", c->port);
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d", c->port);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        FILE *f = freopen(c->log, "a", stderr);
        (void)f;
        execl(tu_bin(), tu_bin(), "serve", "--config", c->config, "--listen", listen, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !tu_can_connect(c->port); i++) {
        int st;
        assert_int_equal(waitpid(c->pid, &st, WNOHANG), 0);
        tu_sleep_ms(50);
    }
    assert_true(tu_can_connect(c->port));
}

/* A CLI client of the service: `intentus ARGS... --server URL`. */
static void
client(struct con *c, const char *a1, const char *a2, struct tu_run *r)
{
    char *argv[] = { (char *)tu_bin(), (char *)a1, (char *)a2, "--server", c->url, NULL };
    char *env[] = { "INTENTUS_TOKEN=" TOKEN_OPS, NULL };

    if (a2 == NULL) {
        argv[2] = "--server";
        argv[3] = c->url;
        argv[4] = NULL;
    }
    assert_int_equal(tu_run(argv, c->dir, NULL, env, 20000, r), 0);
}

static int
setup(void **state)
{
    struct con *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    snprintf(c->sock, sizeof(c->sock), "intentus-srv-%d-%ld", (int)getpid(),
             (long)time(NULL) % 100000);
    c->dir = tu_mkdtemp();
    snprintf(c->config, sizeof(c->config), "%s/intentus.json", c->dir);
    snprintf(c->records, sizeof(c->records), "%s/records", c->dir);
    snprintf(c->log, sizeof(c->log), "%s/serve.log", c->dir);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct con *c = *state;

    tmux(c, NULL, 0, "kill-server", NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

static bool
have_tmux(void)
{
    char *argv[] = { "tmux", "-V", NULL };
    struct tu_run r;
    bool ok = tu_run(argv, NULL, NULL, NULL, 5000, &r) == 0 && r.status == 0;

    if (ok)
        tu_run_free(&r);
    return ok;
}

/* The console in a 140x40 tmux pane, attached to the service; records from
 * the event stream (no readable local directory) or from dir. */
static void
start_console(struct con *c, const char *dir)
{
    char cmd[PATH_MAX * 4 + 512];

    snprintf(cmd, sizeof(cmd),
             "env HOME=%s XDG_CONFIG_HOME=%s INTENTUS_TOKEN=%s %s console --config %s --dir %s "
             "--server %s; echo CONSOLE-EXITED-$?; sleep 30",
             c->dir, c->dir, TOKEN_OPS, tu_bin(), c->config, dir, c->url);
    assert_int_equal(tmux(c, NULL, 0, "new-session", "-d", "-s", "t", "-x", "140", "-y", "40"), 0);
    tmux(c, NULL, 0, "send-keys", "-t", "t", cmd, "Enter", NULL, NULL, NULL);
}

/* The breaker opening on the service shows live on the dashboard (with its
 * cool-down and next probe), 'r' + 'y' resets it on the service, and the
 * feed is filled from the event stream. */
static void
test_breaker_opens_live_and_resets(void **state)
{
    struct con *c = *state;
    char nowhere[PATH_MAX + 16], screen[65536];
    struct tu_run r;

    if (!have_tmux())
        skip(); /* tmux missing: make deps installs it */
    start_server(c);
    snprintf(nowhere, sizeof(nowhere), "%s/not-here", c->dir);
    start_console(c, nowhere);
    expect(c, "attached to http://127.0.0.1:");
    expect(c, "records: from the event stream");
    expect(c, "fail-b");
    assert_true(wait_for(c, "CLOSED", 10000, screen, sizeof(screen)));
    for (int i = 0; i < 3; i++) {
        client(c, "route", "t.fail", &r);
        assert_int_equal(r.status, 1); /* the agent fails: an error response */
        tu_run_free(&r);
    }
    expect(c, "OPEN 5"); /* OPEN with the cool-down left: 60 s, counting down */
    expect(c, "next probe ");
    expect(c, "AGENT_ERROR"); /* the feed, from the event stream */
    /* fail-b is the second row (rows sort by name) */
    keys(c, "Down", NULL, NULL);
    keys(c, "r", NULL, NULL);
    expect(c, "reset the breaker of fail-b on the service? (y/n)");
    keys(c, "y", NULL, NULL);
    expect(c, "fail-b: reset done on the service");
    client(c, "agents", NULL, &r);
    assert_int_equal(r.status, 0);
    {
        const char *row = strstr(r.out, "fail-b");
        assert_non_null(row);
        assert_non_null(strstr(row, "CLOSED"));
    }
    tu_run_free(&r);
    /* The row follows at the console's next look at the service (at once
     * after an action, then every second): wait for it, bounded. */
    for (int i = 0; i < 100; i++) {
        capture(c, screen, sizeof(screen));
        if (strstr(screen, "OPEN 5") == NULL)
            break;
        tu_sleep_ms(50);
    }
    assert_null(strstr(screen, "OPEN 5"));
    /* 'd' then anything but 'y' changes nothing */
    keys(c, "d", NULL, NULL);
    expect(c, "disable fail-b on the service? (y/n)");
    keys(c, "n", NULL, NULL);
    expect(c, "cancelled");
    keys(c, "Q", NULL, NULL);
    expect(c, "CONSOLE-EXITED-0");
}

/* Fire goes through the service (POST /v1/route): the service records it
 * in its directory, which the console reads here as its local one. */
static void
test_fire_through_service(void **state)
{
    struct con *c = *state;

    if (!have_tmux())
        skip();
    start_server(c);
    start_console(c, c->records);
    expect(c, "attached to http://127.0.0.1:");
    keys(c, "f", NULL, NULL);
    expect(c, "Fire an intent");
    keys(c, "C-u", "demo.echo", NULL);
    expect(c, "intent     demo.echo");
    keys(c, "C-r", NULL, NULL);
    expect(c, "success from echo-a");
    for (int i = 0; i < 100 && tu_count_files(c->records, ".json") < 1; i++)
        tu_sleep_ms(50);
    assert_int_equal(tu_count_files(c->records, ".json"), 1);
    expect(c, "1 records");
    keys(c, "Escape", NULL, NULL); /* a text field has the focus: Q would be text */
    tu_sleep_ms(200);              /* not read as Alt-Q */
    keys(c, "Q", NULL, NULL);
    expect(c, "CONSOLE-EXITED-0");
}

/* The service goes away while the console runs: the header says so and the
 * console keeps running; when the service is back it reattaches by itself. */
static void
test_service_lost_and_back(void **state)
{
    struct con *c = *state;
    char nowhere[PATH_MAX + 16];

    if (!have_tmux())
        skip();
    start_server(c);
    snprintf(nowhere, sizeof(nowhere), "%s/not-here", c->dir);
    start_console(c, nowhere);
    expect(c, "records: from the event stream");
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
    expect(c, ": reconnecting: ");
    expect(c, "Failed to connect");
    start_server(c); /* the same port */
    expect(c, "records: from the event stream");
    keys(c, "Q", NULL, NULL);
    expect(c, "CONSOLE-EXITED-0");
}

/* An unreachable service or a refused token: exit 1 at start, naming the URL
 * (before any terminal is needed). */
static void
test_unreachable_and_401(void **state)
{
    struct con *c = *state;
    char url[64];
    char *argv[] = { (char *)tu_bin(), "console", "--server", url, NULL };
    char *wrong[] = { "INTENTUS_TOKEN=not-the-token", NULL };
    struct tu_run r;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", tu_free_port());
    assert_int_equal(tu_run(argv, c->dir, NULL, (char *[]){ "INTENTUS_TOKEN=x", NULL }, 20000, &r),
                     0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, url));
    tu_run_free(&r);
    start_server(c);
    snprintf(url, sizeof(url), "%s", c->url);
    assert_int_equal(tu_run(argv, c->dir, NULL, wrong, 20000, &r), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, url));
    assert_non_null(strstr(r.err, "HTTP 401"));
    assert_null(strstr(r.err, "not-the-token"));
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_breaker_opens_live_and_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fire_through_service, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_lost_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_and_401, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
