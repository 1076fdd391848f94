/* The console's views of sub-intents and model calls, driven through tmux
 * (send-keys in, capture-pane out) on records a real exec agent (python3)
 * wrote through `intentus route`: the detail screen's span view of a tree
 * two levels deep (every execution with its attempts on one time axis,
 * collapse, expand, Enter opening another span's execution), MODEL_CALL and
 * SUB_INTENT on the timeline, and the dashboard's model-call totals per
 * agent. Counted skips without tmux or python3. Every wait is bounded. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

struct con {
    char sock[64];
    char *dir;
    char recs[PATH_MAX], cfg[PATH_MAX];
    char root[64], mid[64], leaf[64];
};

static const char agent_py[] =
    "import json, sys\n"
    "env = json.loads(sys.stdin.readline())\n"
    "name = env['intent']['name']\n"
    "kids = {'t.root': ['t.mid'], 't.mid': ['t.leaf']}\n"
    "r = {'version': '1.0', 'status': 'success', 'payload': {'intent': name},\n"
    "     'metadata': {'agent': 'py', 'traceId': env['metadata']['traceId']}, 'error': None,\n"
    "     'modelCalls': [{'model': 'gpt-x', 'provider': 'acme', 'inputTokens': 100,\n"
    "                     'outputTokens': 20, 'latencyMs': 250}]}\n"
    "if name in kids and 'subResults' not in env:\n"
    "    r['subIntents'] = [{'intent': k} for k in kids[name]]\n"
    "    del r['modelCalls']\n"
    "print(json.dumps(r))\n";

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
capture(struct con *c, char *out, size_t size)
{
    TMUX(c, out, size, "capture-pane", "-p", "-t", "t");
}

static bool
wait_for(struct con *c, const char *text, int timeout_ms, char *screen, size_t size)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        struct timespec ts = { 0, 50 * 1000000L };
        capture(c, screen, size);
        if (strstr(screen, text) != NULL)
            return true;
        nanosleep(&ts, NULL);
    }
    return false;
}

static void
expect(struct con *c, const char *text, char *screen, size_t size)
{
    if (!wait_for(c, text, 8000, screen, size))
        fail_msg("screen never showed '%s'; it shows:\n%s", text, screen);
}

static bool
have(const char *prog)
{
    char *argv[] = { (char *)prog, (char *)(strcmp(prog, "tmux") == 0 ? "-V" : "--version"), NULL };
    struct tu_run r;
    bool ok = tu_run(argv, NULL, NULL, NULL, 10000, &r) == 0 && r.status == 0;

    if (ok)
        tu_run_free(&r);
    return ok;
}

/* Route t.root (it asks for t.mid, which asks for t.leaf) and find the
 * three ids through `records show --tree --json`. */
static void
route_tree(struct con *c)
{
    char *route[] = { (char *)tu_bin(), "route", "-c", c->cfg, "t.root", "-q", NULL };
    char *tree[] = { (char *)tu_bin(), "records", "list", "-d", c->recs, "--json", NULL };
    struct tu_run r;
    const char *p;

    assert_int_equal(tu_run(route, c->dir, NULL, NULL, 30000, &r), 0);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    assert_int_equal(tu_run(tree, c->dir, NULL, NULL, 30000, &r), 0);
    assert_int_equal(r.status, 0);
    /* One record of each intent: find each one's id. */
    for (int k = 0; k < 3; k++) {
        const char *intent = k == 0 ? "\"t.root\"" : k == 1 ? "\"t.mid\"" : "\"t.leaf\"";
        char *id = k == 0 ? c->root : k == 1 ? c->mid : c->leaf;
        const char *at = strstr(r.out, intent);
        assert_non_null(at);
        /* the object's "executionId" comes before its intent in the list's JSON */
        for (p = at; p > r.out && strncmp(p, "\"executionId\": \"", 16) != 0; p--)
            ;
        assert_int_equal(sscanf(p, "\"executionId\": \"%63[^\"]\"", id), 1);
    }
    tu_run_free(&r);
}

static int
setup(void **state)
{
    struct con *c = calloc(1, sizeof(*c));
    char path[PATH_MAX + 16], text[3 * PATH_MAX];

    assert_non_null(c);
    snprintf(c->sock, sizeof(c->sock), "intentus-sub-%d-%ld", (int)getpid(),
             (long)time(NULL) % 100000);
    c->dir = tu_mkdtemp();
    snprintf(c->recs, sizeof(c->recs), "%s/records", c->dir);
    snprintf(c->cfg, sizeof(c->cfg), "%s/cfg.json", c->dir);
    snprintf(path, sizeof(path), "%s/agent.py", c->dir);
    assert_int_equal(tu_write_file(path, agent_py, strlen(agent_py), 0700), 0);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"},\n"
             " \"agents\": [{\"name\": \"py\", \"kind\": \"exec\", \"argv\": [\"python3\", "
             "\"%s\"],\n"
             "   \"intents\": [\"t.root\", \"t.mid\", \"t.leaf\"]}]}\n",
             c->recs, path);
    assert_int_equal(tu_write_file(c->cfg, text, strlen(text), 0600), 0);
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

static void
start(struct con *c)
{
    char cmd[6 * PATH_MAX];

    snprintf(cmd, sizeof(cmd),
             "env HOME=%s XDG_CONFIG_HOME=%s %s console --ascii -c %s --dir %s; echo "
             "CONSOLE-EXITED-$?; sleep 30",
             c->dir, c->dir, tu_bin(), c->cfg, c->recs);
    assert_int_equal(TMUX(c, NULL, 0, "new-session", "-d", "-s", "t", "-x", "170", "-y", "50"), 0);
    TMUX(c, NULL, 0, "send-keys", "-t", "t", cmd, "Enter");
}

/* The line of the screen holding text (a copy), or fail. */
static void
line_with(const char *screen, const char *text, char *out, size_t size)
{
    const char *p = strstr(screen, text), *b, *e;

    if (p == NULL)
        fail_msg("no line with '%s' in:\n%s", text, screen);
    for (b = p; b > screen && b[-1] != '\n'; b--)
        ;
    e = strchr(p, '\n');
    snprintf(out, size, "%.*s", (int)(e != NULL ? e - b : (long)strlen(b)), b);
}

/* Column of the first bar cell ('=' in --ascii) right of the label. */
static int
bar_start(const char *line)
{
    const char *p = strstr(line, "==");

    return p != NULL ? (int)(p - line) : -1;
}

static void
test_span_view_of_a_tree(void **state)
{
    struct con *c = *state;
    static char screen[65536];
    char l_root[512], l_mid[512], l_leaf[512], want[128];

    if (!have("tmux") || !have("python3"))
        skip();
    route_tree(c);
    start(c);
    expect(c, "3 records", screen, sizeof(screen));
    /* The middle execution from the records list. */
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "2");
    expect(c, "3 of 3 records", screen, sizeof(screen));
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "/", "intent:t.mid", "Enter");
    expect(c, "filter: intent:t.mid", screen, sizeof(screen));
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Enter");
    snprintf(want, sizeof(want), "Execution %s", c->mid);
    expect(c, want, screen, sizeof(screen));
    expect(c, "Sub-intents  3 executions", screen, sizeof(screen));
    /* Parent, child, grandchild, each with its attempt, indented by depth;
     * this execution marked. */
    line_with(screen, "- t.root", l_root, sizeof(l_root));
    line_with(screen, "- t.mid", l_mid, sizeof(l_mid));
    line_with(screen, "- t.leaf", l_leaf, sizeof(l_leaf));
    assert_non_null(strstr(l_mid, " >  - t.mid"));
    assert_non_null(strstr(l_root, "  - t.root           py           ok"));
    assert_non_null(strstr(l_leaf, "      - t.leaf"));
    assert_non_null(strstr(screen, "     attempt py"));
    assert_non_null(strstr(screen, "       attempt py"));
    assert_non_null(strstr(screen, "         attempt py"));
    /* One time axis: each child starts after its parent. */
    assert_true(bar_start(l_root) > 0);
    assert_true(bar_start(l_mid) > bar_start(l_root));
    assert_true(bar_start(l_leaf) > bar_start(l_mid));
    /* The timeline names the sub-intent it ran. */
    assert_non_null(strstr(screen, "sub-intent py -> t.leaf ok"));

    /* Collapse the root: its descendants and attempts go; expand: back. */
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "/", "- t.root", "Enter");
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "z");
    expect(c, "+ t.root", screen, sizeof(screen));
    {
        const char *sec = strstr(screen, "Sub-intents"), *tl = strstr(screen, " Timeline");
        assert_non_null(sec);
        assert_non_null(tl);
        assert_true(strstr(sec, "t.leaf") == NULL || strstr(sec, "t.leaf") > tl);
        assert_true(strstr(sec, "attempt py") == NULL || strstr(sec, "attempt py") > tl);
    }
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "z");
    expect(c, "- t.leaf", screen, sizeof(screen));
    /* Enter on the root's span opens the root execution. */
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "/", "- t.root", "Enter");
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Enter");
    snprintf(want, sizeof(want), "Execution %s", c->root);
    expect(c, want, screen, sizeof(screen));
    expect(c, " >- t.root", screen, sizeof(screen));
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Q");
    expect(c, "CONSOLE-EXITED-0", screen, sizeof(screen));
}

static void
test_model_calls_on_timeline_and_dashboard(void **state)
{
    struct con *c = *state;
    static char screen[65536];

    if (!have("tmux") || !have("python3"))
        skip();
    route_tree(c);
    start(c);
    expect(c, "3 records", screen, sizeof(screen));
    /* The dashboard totals the agent's model calls: t.root, t.mid and
     * t.leaf each reported one of 120 tokens and 250 ms. */
    expect(c, "Model calls  AGENT                 CALLS   TOKENS    LATENCY       MEAN", screen,
           sizeof(screen));
    expect(c, "              py                        3      360    750.0ms    250.0ms", screen,
           sizeof(screen));
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "2");
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "/", "intent:t.leaf", "Enter");
    expect(c, "filter: intent:t.leaf", screen, sizeof(screen));
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Enter");
    expect(c, "model call py: gpt-x @ acme  tokens 100 in, 20 out  250.0ms", screen,
           sizeof(screen));
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Q");
    expect(c, "CONSOLE-EXITED-0", screen, sizeof(screen));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_span_view_of_a_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_calls_on_timeline_and_dashboard, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
