/* The console shows MCP gateway executions like any other: the dashboard
 * lists each tool as an agent (mcp:NAME/TOOL) with its calls and failures,
 * the records browser lists them with the tool as the intent, and the
 * detail screen opens one. The executions come from the real binary
 * (`intentus gateway --wrap`) in front of a small MCP server written in sh;
 * the console is driven through tmux like tests/tui/test_console.c. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

struct con {
    char sock[64];
    char *dir;
    char recs[PATH_MAX];
};

static int
tmux(struct con *c, char *out, size_t size, const char *const *args)
{
    char *argv[16] = { "tmux", "-L", c->sock };
    struct tu_run r;
    size_t n = 3;
    int rc;

    for (size_t i = 0; args[i] != NULL && n + 1 < 16; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    if (tu_run(argv, NULL, NULL, NULL, 10000, &r) != 0)
        return -1;
    if (out != NULL)
        snprintf(out, size, "%s", r.out);
    rc = r.status;
    tu_run_free(&r);
    return rc;
}

#define TMUX(c, out, size, ...) tmux((c), (out), (size), (const char *const[]){ __VA_ARGS__, NULL })

static void
expect(struct con *c, const char *text)
{
    static char screen[65536];

    for (int waited = 0; waited <= 10000; waited += 50) {
        struct timespec ts = { 0, 50 * 1000000L };
        TMUX(c, screen, sizeof(screen), "capture-pane", "-p", "-t", "t");
        if (strstr(screen, text) != NULL)
            return;
        nanosleep(&ts, NULL);
    }
    fail_msg("screen never showed '%s'; it shows:\n%s", text, screen);
}

static int
setup(void **state)
{
    struct con *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    snprintf(c->sock, sizeof(c->sock), "intentus-gw-%d-%ld", (int)getpid(),
             (long)time(NULL) % 100000);
    c->dir = tu_mkdtemp();
    snprintf(c->recs, sizeof(c->recs), "%s/records", c->dir);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct con *c = *state;

    TMUX(c, NULL, 0, "kill-server");
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

/* Answers tools/call "lookup" with a result, "broken" with a JSON-RPC
 * error (both carrying id 1 or 2, as the requests below do). */
static const char server_sh[] =
    "#!/bin/sh\n"
    "while IFS= read -r line; do\n"
    "  case \"$line\" in\n"
    "  *lookup*) printf '%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":"
    "[{\"type\":\"text\",\"text\":\"found\"}]}}' ;;\n"
    "  *broken*) printf '%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32603,"
    "\"message\":\"it broke\"}}' ;;\n"
    "  esac\n"
    "done\n";

static void
test_console_shows_gateway_executions(void **state)
{
    struct con *c = *state;
    char server[PATH_MAX + 16], cfg[PATH_MAX + 16], cmd[4 * PATH_MAX + 300], text[2 * PATH_MAX];
    struct tu_run r;
    const char *argv[] = { "sh", "-c", cmd, NULL };

    snprintf(server, sizeof(server), "%s/server.sh", c->dir);
    assert_int_equal(tu_write_file(server, server_sh, sizeof(server_sh) - 1, 0700), 0);
    snprintf(cfg, sizeof(cfg), "%s/intentus.json", c->dir);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"}, \"wal\": {\"dir\": \"%s/wal\"}}\n", c->recs,
             c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(cmd, sizeof(cmd),
             "printf '%%s\\n' "
             "'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"lookup\",\"arguments\":{\"q\":\"x\"}}}' "
             "'{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"broken\",\"arguments\":{}}}' "
             "| '%s' gateway --config '%s' --name shsrv --wrap '%s'",
             tu_bin(), cfg, server);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, 60000, &r), 0);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(c->recs, ".json"), 2);

    snprintf(cmd, sizeof(cmd),
             "env HOME=%s XDG_CONFIG_HOME=%s %s console --dir %s; echo CONSOLE-EXITED-$?; "
             "sleep 30",
             c->dir, c->dir, tu_bin(), c->recs);
    assert_int_equal(TMUX(c, NULL, 0, "new-session", "-d", "-s", "t", "-x", "200", "-y", "40"), 0);
    TMUX(c, NULL, 0, "send-keys", "-t", "t", cmd, "Enter");
    /* The dashboard: one agent row per tool. */
    expect(c, "2 records");
    expect(c, "mcp:shsrv/lookup");
    expect(c, "mcp:shsrv/broken");
    expect(c, "AGENT_ERROR");
    /* The records browser: the tool is the intent; the detail opens. */
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "2");
    expect(c, "of 2 records  sort:"); /* the browser's title: "lookup" is on the dashboard too */
    expect(c, "lookup");
    expect(c, "broken");
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Enter");
    expect(c, "Execution ");
    expect(c, "mcp:shsrv/");
    expect(c, "(mcp gateway)"); /* the timeline's decision line */
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Q");
    expect(c, "CONSOLE-EXITED-0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_console_shows_gateway_executions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
