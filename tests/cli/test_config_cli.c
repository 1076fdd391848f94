/* End-to-end tests of how the real binary ($INTENTUS_BIN) treats its config:
 * read-only commands need no agent secrets, a file without "agents" keeps
 * the demo agents, and exec agents die with a killed intentus. Each test
 * runs in its own temporary directory with HOME and XDG_CONFIG_HOME there
 * and INTENTUS_CONFIG cleared. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/agent_testutil.h"
#include "tests/support/cli_expect.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 15000

static char g_bin[PATH_MAX];

struct ctx {
    char *dir;
    char home[PATH_MAX + 8], xdg[PATH_MAX + 24];
};

static int
setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->dir = tu_mkdtemp();
    snprintf(c->home, sizeof(c->home), "HOME=%s", c->dir);
    snprintf(c->xdg, sizeof(c->xdg), "XDG_CONFIG_HOME=%s", c->dir);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct ctx *c = *state;

    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

static const char *
write_in(struct ctx *c, const char *name, const char *text)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", c->dir, name);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    return path;
}

/* Run intentus with args (NULL-terminated) in the test directory. */
static int
run(struct ctx *c, struct tu_run *r, const char *const *args)
{
    char *argv[32],
        *env[] = { c->home, c->xdg,
                   (char *)"INTENTUS_CONFIG=", (char *)"INTENTUSNET_RECORDS_PATH=", NULL };
    size_t n = 0;

    argv[n++] = g_bin;
    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, c->dir, NULL, env, TIMEOUT_MS, r), 0);
    return r->status;
}

static void
expect(const struct tu_run *r, int status, const char *out_part)
{
    if (r->status != status || (out_part != NULL && strstr(r->out, out_part) == NULL))
        fail_msg("exit %d (want %d), want \"%s\" in stdout:\n%s\nstderr:\n%s", r->status, status,
                 out_part != NULL ? out_part : "", r->out, r->err);
}

/* 14.4: with "$VAR" in a header and VAR unset, reading records (even with
 * ./intentus.json found by the search order) works; the agent is marked
 * unavailable, and calling it fails naming agent and variable. */
static void
test_read_only_commands_need_no_secrets(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char text[1024];
    const char *cfg;

    unsetenv("INTENTUS_TEST_TOKEN");
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s/rec\"}, \"agents\": ["
             "{\"name\": \"api\", \"kind\": \"http\", \"url\": \"http://127.0.0.1:9/x\","
             " \"intents\": [\"t.x\"], \"headers\": {\"Authorization\": \"$INTENTUS_TEST_TOKEN\"}},"
             "{\"name\": \"local\", \"builtin\": \"echo\", \"intents\": [\"t.x\"],"
             " \"nodePriority\": 200}]}",
             c->dir);
    cfg = write_in(c, "intentus.json", text);
    snprintf(text, sizeof(text), "%s/rec", c->dir);
    assert_int_equal(mkdir(text, 0700), 0);
    run(c, &r, ARGS("records", "list"));
    expect(&r, 0, NULL);
    tu_run_free(&r);
    run(c, &r, ARGS("records", "list", "-c", cfg));
    expect(&r, 0, NULL);
    tu_run_free(&r);
    run(c, &r, ARGS("recovery", "scan", "-c", cfg));
    expect(&r, 0, NULL);
    tu_run_free(&r);
    run(c, &r, ARGS("agents"));
    expect(&r, 0, "[unavailable: not set: INTENTUS_TEST_TOKEN (agents[0].headers.Authorization)]");
    tu_run_free(&r);
    /* Routing to it fails that call, naming agent and variable... */
    run(c, &r, ARGS("route", "t.x", "--target", "api"));
    expect(&r, 1, "\"AGENT_UNAVAILABLE\"");
    expect(&r, 1, "api: not called: environment variable INTENTUS_TEST_TOKEN");
    tu_run_free(&r);
    /* ...and fallback goes on to the next agent. */
    run(c, &r, ARGS("route", "t.x", "--strategy", "fallback"));
    expect(&r, 0, "\"agent\": \"local\"");
    tu_run_free(&r);
}

/* 13.13: a file that sets only "recording" still routes demo.echo. */
static void
test_recording_only_config_keeps_demo_agents(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char text[600];

    snprintf(text, sizeof(text), "{\"recording\": {\"dir\": \"%s/rec\"}}", c->dir);
    write_in(c, "intentus.json", text);
    run(c, &r, ARGS("route", "demo.echo", "--payload", "{\"text\":\"hi\"}"));
    expect(&r, 0, "\"agent\": \"echo-a\"");
    tu_run_free(&r);
    run(c, &r, ARGS("agents"));
    expect(&r, 0, "(no \"agents\" key: the demo agents)");
    tu_run_free(&r);
    /* A duplicate key is refused with its path, exit 2. */
    write_in(c, "intentus.json", "{\"recording\": {\"mode\": \"sync\", \"mode\": \"async\"}}");
    run(c, &r, ARGS("agents"));
    if (r.status != 2 || strstr(r.err, "intentus.json: recording.mode: duplicate key") == NULL)
        fail_msg("exit %d, stderr: %s", r.status, r.err);
    tu_run_free(&r);
}

/* Whether pid runs (not gone, not a zombie). */
static bool
alive(pid_t pid)
{
    return !tu_wait_gone(pid, 0);
}

/* 14.6: kill -9 of intentus route while a slow exec agent runs: the agent,
 * its process group and a child that left the group (setsid) all die. */
static void
test_agents_die_with_a_killed_intentus(void **state)
{
    struct ctx *c = *state;
    char text[4 * PATH_MAX + 1024], pidfile[PATH_MAX], *pids = NULL;
    const char *cfg;
    pid_t route, p[3] = { 0 };
    int st, n = 0;

    snprintf(pidfile, sizeof(pidfile), "%s/pids", c->dir);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s/rec\"}, \"agents\": [{\"name\": \"slow\","
             " \"kind\": \"exec\", \"intents\": [\"t.slow\"], \"timeout\": \"60s\", \"argv\":"
             " [\"/bin/sh\", \"-c\", \"sleep 302 & g=$!; setsid sh -c 'exec sleep 303' "
             "</dev/null >/dev/null 2>&1 & e=$!; echo $$ $g $e > %s.tmp; mv %s.tmp %s; "
             "sleep 300\"]}]}",
             c->dir, pidfile, pidfile, pidfile);
    cfg = write_in(c, "slow.json", text);
    route = fork();
    assert_true(route >= 0);
    if (route == 0) {
        char *env[] = { c->home, c->xdg, NULL };
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execle(g_bin, g_bin, "route", "t.slow", "-c", cfg, (char *)NULL, env);
        _exit(127);
    }
    for (int i = 0; i < 1000 && n < 3; i++) {
        free(pids);
        pids = tu_read_file(pidfile, NULL);
        if (pids != NULL)
            n = sscanf(pids, "%d %d %d", &p[0], &p[1], &p[2]);
        if (n < 3)
            usleep(10000);
    }
    free(pids);
    if (n < 3) {
        kill(route, SIGKILL);
        waitpid(route, &st, 0);
        fail_msg("the agent did not start");
    }
    /* The setsid child has a session of its own by now: give it a moment
     * to be exec'd as sleep 303 (not needed for correctness). */
    usleep(50000);
    assert_int_equal(kill(route, SIGKILL), 0);
    assert_int_equal(waitpid(route, &st, 0), route);
    for (int i = 0; i < 3; i++) {
        if (!tu_wait_gone(p[i], 5000)) {
            /* Leave nothing behind: the agent's group (its own sleep 300
             * too) and each process by pid. */
            if (alive(p[0]))
                kill(-p[0], SIGKILL);
            for (int k = 0; k < 3; k++) {
                if (alive(p[k]))
                    kill(p[k], SIGKILL);
            }
            fail_msg("process %d (%s) outlived intentus", (int)p[i],
                     i == 0   ? "the agent"
                     : i == 1 ? "its child in the group"
                              : "its setsid child");
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_only_commands_need_no_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording_only_config_keeps_demo_agents, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_agents_die_with_a_killed_intentus, setup, teardown),
    };

    if (realpath(tu_bin(), g_bin) == NULL) {
        fprintf(stderr, "intentus binary %s: %s\n", tu_bin(), strerror(errno));
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
