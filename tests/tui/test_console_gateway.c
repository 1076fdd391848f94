/* The console shows MCP gateway executions like any other: the dashboard
 * lists each tool as an agent (mcp:NAME/TOOL) with its calls and failures,
 * the records browser lists them with the tool as the intent, and the
 * detail screen opens one. The executions come from the real binary
 * (`intentus gateway --wrap`) in front of a small MCP server written in sh;
 * the console is driven through tmux (tests/support/tmux_testutil.h). */
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
#include "tests/support/tmux_testutil.h"

static int
setup(void **state)
{
    *state = tu_con_new();
    return *state != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
    tu_con_free(*state);
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
    struct tu_con *c = *state;
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

    tu_con_start(c, NULL, NULL, 200, 40);
    /* The dashboard: one agent row per tool. */
    tu_con_expect(c, "2 records");
    tu_con_expect(c, "mcp:shsrv/lookup");
    tu_con_expect(c, "mcp:shsrv/broken");
    tu_con_expect(c, "AGENT_ERROR");
    /* The records browser: the tool is the intent; the detail opens. */
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(
        c, "of 2 records  sort:"); /* the browser's title: "lookup" is on the dashboard too */
    tu_con_expect(c, "lookup");
    tu_con_expect(c, "broken");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "Execution ");
    tu_con_expect(c, "mcp:shsrv/");
    tu_con_expect(c, "(mcp gateway)"); /* the timeline's decision line */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_console_shows_gateway_executions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
