/* End-to-end tests of sub-intents, model calls and determinism checks with
 * the real binary ($INTENTUS_BIN) and a real exec agent (a python3 script,
 * a counted skip without python3): sub-intents two levels deep (records
 * linked by traceId and parentExecutionId, `records show --tree`, the
 * reference's loader reading them), a loop of intents and the depth limit
 * refused and recorded, the parent's deadline handed down, MODEL_CALL events
 * recorded and malformed ones refused by name, `check determinism` passing
 * on builtin agents and failing, with the difference named, on the flaky
 * one, and `records fingerprint`. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/json.h"
#include "tests/support/cli_expect.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 60000
#define MAX_ARGS 32

struct ctx {
    char *dir;
    char env_home[PATH_MAX + 16];
    char env_xdg[PATH_MAX + 32];
    char cfg[PATH_MAX], recs[PATH_MAX];
};

/* The agent: t.root asks for t.mid, t.mid for t.leaf (each reporting one
 * model call), t.loop and t.loop2 ask for each other; t.slow sleeps first;
 * t.badmodel reports a malformed model call. The second call of a parent
 * (with subResults) answers with what its children said. */
static const char agent_py[] =
    "import json, sys, time\n"
    "env = json.loads(sys.stdin.readline())\n"
    "name = env['intent']['name']\n"
    "def reply(payload, **extra):\n"
    "    r = {'version': '1.0', 'status': 'success', 'payload': payload,\n"
    "         'metadata': {'agent': 'py', 'traceId': env['metadata']['traceId']}, 'error': None}\n"
    "    r.update(extra)\n"
    "    print(json.dumps(r))\n"
    "kids = {'t.root': ['t.mid'], 't.mid': ['t.leaf'], 't.loop': ['t.loop2'],\n"
    "        't.loop2': ['t.loop'], 't.slow': ['t.leaf']}\n"
    "mc = [{'model': 'gpt-x', 'provider': 'acme', 'parameters': {'temperature': 0},\n"
    "       'promptHash': 'p-' + name, 'responseHash': 'r-' + name,\n"
    "       'inputTokens': 11, 'outputTokens': 7, 'latencyMs': 40}]\n"
    "if name == 't.slow' and 'subResults' not in env:\n"
    "    time.sleep(0.3)\n"
    "if name == 't.badmodel':\n"
    "    reply({}, modelCalls=[{'provider': 'acme'}])\n"
    "elif name in kids and 'subResults' not in env:\n"
    "    reply({}, subIntents=[{'intent': k, 'payload': {'from': name}} for k in kids[name]],\n"
    "          modelCalls=mc)\n"
    "else:\n"
    "    reply({'intent': name, 'children': [\n"
    "        {'intent': s['intent'], 'status': s['response']['status'],\n"
    "         'code': (s['response'].get('error') or {}).get('code')}\n"
    "        for s in env.get('subResults', [])]}, modelCalls=mc if name == 't.leaf' else None)\n";

static bool
have_python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 || access("/bin/python3", X_OK) == 0;
}

static void
write_text(const char *path, const char *text)
{
    assert_int_equal(tu_write_file(path, text, strlen(text), 0700), 0);
}

static void
write_config(struct ctx *c, const char *defaults)
{
    char path[PATH_MAX + 16], text[3 * PATH_MAX + 2048];

    snprintf(path, sizeof(path), "%s/agent.py", c->dir);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"}%s%s,\n"
             " \"agents\": [\n"
             "  {\"name\": \"py\", \"kind\": \"exec\", \"argv\": [\"python3\", \"%s\"],\n"
             "   \"intents\": [\"t.root\", \"t.mid\", \"t.leaf\", \"t.loop\", \"t.loop2\",\n"
             "                 \"t.slow\", \"t.badmodel\"]},\n"
             "  {\"name\": \"fan\", \"builtin\": \"fanout\", \"emit\": [\"demo.echo\", "
             "\"demo.upper\"],\n"
             "   \"intents\": [\"demo.fan\"]},\n"
             "  {\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": [\"demo.echo\"]},\n"
             "  {\"name\": \"upper-u\", \"builtin\": \"upper\", \"intents\": [\"demo.upper\"]},\n"
             "  {\"name\": \"flaky-b\", \"builtin\": \"flaky\", \"fail_rate\": 0.5, \"seed\": 7,\n"
             "   \"intents\": [\"demo.flaky\"]}]}\n",
             c->recs, defaults ? ",\n \"defaults\": " : "", defaults ? defaults : "", path);
    write_text(c->cfg, text);
}

static int
ctx_setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    char path[PATH_MAX + 16];

    assert_non_null(c);
    c->dir = tu_mkdtemp();
    snprintf(c->env_home, sizeof(c->env_home), "HOME=%s", c->dir);
    snprintf(c->env_xdg, sizeof(c->env_xdg), "XDG_CONFIG_HOME=%s", c->dir);
    snprintf(c->cfg, sizeof(c->cfg), "%s/cfg.json", c->dir);
    snprintf(c->recs, sizeof(c->recs), "%s/recs", c->dir);
    snprintf(path, sizeof(path), "%s/agent.py", c->dir);
    write_text(path, agent_py);
    write_config(c, NULL);
    *state = c;
    return 0;
}

static int
ctx_teardown(void **state)
{
    struct ctx *c = *state;

    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

static int
run(struct ctx *c, struct tu_run *r, const char *const *args)
{
    char *argv[MAX_ARGS];
    char *envv[] = { c->env_home, c->env_xdg,
                     (char *)"INTENTUS_CONFIG=", (char *)"INTENTUSNET_RECORDS_PATH=", NULL };
    size_t n = 0;

    argv[n++] = (char *)tu_bin();
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(n + 1 < MAX_ARGS);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    memset(r, 0, sizeof(*r));
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, r), 0);
    return r->status;
}

static void
expect(const struct tu_run *r, int status, const char *in_out, const char *in_err)
{
    bool ok = r->status == status && (in_out == NULL || strstr(r->out, in_out) != NULL) &&
              (in_err == NULL || strstr(r->err, in_err) != NULL);

    if (!ok)
        fail_msg("expected exit %d with \"%s\" on stdout and \"%s\" on stderr; got exit %d\n"
                 "# stdout:\n%.3000s\n# stderr:\n%.2000s",
                 status, in_out ? in_out : "", in_err ? in_err : "", r->status, r->out, r->err);
}

static void
run_expect(struct ctx *c, struct tu_run *r, int status, const char *in_out, const char *in_err,
           const char *const *args)
{
    run(c, r, args);
    expect(r, status, in_out, in_err);
}

/* Run intentus with the arguments; its exit status and what stdout and
 * stderr must hold (NULL: anything). */
#define EXPECT(c, r, status, in_out, in_err, ...)                                                  \
    run_expect((c), (r), (status), (in_out), (in_err), ARGS(__VA_ARGS__))

static const char *
record_id_of(const cJSON *rec)
{
    return json_get_string(cJSON_GetObjectItemCaseSensitive(rec, "header"), "executionId");
}

/* The id `route` printed on stderr ("execution ID recorded in DIR"). */
static void
routed_id(const struct tu_run *r, char *id, size_t size)
{
    const char *p = strstr(r->err, "execution ");

    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s", id), 1);
    (void)size;
}

static cJSON *
load_record(struct ctx *c, const char *id)
{
    char path[PATH_MAX + 80];
    size_t len;
    char *text;
    cJSON *rec;

    snprintf(path, sizeof(path), "%s/%s.json", c->recs, id);
    text = tu_read_file(path, &len);
    assert_non_null(text);
    rec = json_parse(text, len, 0, NULL);
    free(text);
    assert_non_null(rec);
    return rec;
}

/* The record of the execution whose parent is parent_id (exactly one). */
static cJSON *
child_of(struct ctx *c, const char *parent_id)
{
    struct tu_run r;
    cJSON *tree, *n, *found = NULL;

    EXPECT(c, &r, 0, NULL, NULL, "records", "show", "--tree", "--json", "-d", c->recs, parent_id);
    tree = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(tree);
    cJSON_ArrayForEach(n, tree)
    {
        const char *p = json_get_string(n, "parentExecutionId");
        if (p != NULL && strcmp(p, parent_id) == 0) {
            assert_null(found);
            found = load_record(c, json_get_string(n, "executionId"));
        }
    }
    cJSON_Delete(tree);
    tu_run_free(&r);
    assert_non_null(found);
    return found;
}

static const char *
trace_of(const cJSON *rec)
{
    return json_get_string(cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(rec, "envelope"), "metadata"),
                           "traceId");
}

static int
count_events(const cJSON *rec, const char *type)
{
    const cJSON *e;
    int n = 0;

    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "events"))
    {
        const char *t = json_get_string(e, "type");
        n += t != NULL && strcmp(t, type) == 0;
    }
    return n;
}

static const cJSON *
event_of(const cJSON *rec, const char *type)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "events"))
    {
        const char *t = json_get_string(e, "type");
        if (t != NULL && strcmp(t, type) == 0)
            return cJSON_GetObjectItemCaseSensitive(e, "payload");
    }
    return NULL;
}

/* The reference's loader reads each record and its envelope hash verifies
 * (a counted skip when the reference cannot be imported). */
static void
reference_reads(struct ctx *c, const char *const *ids, size_t n)
{
    char script[4096], pp[PATH_MAX + 16];
    const char *argv[] = { "python3", "-c", script, NULL };
    char *env[] = { pp, NULL };
    size_t used;
    struct tu_run r;

    snprintf(pp, sizeof(pp), "PYTHONPATH=%s",
             getenv("INTENTUS_REFERENCE_PYTHON") ? getenv("INTENTUS_REFERENCE_PYTHON")
                                                 : "/work/shared/reference/python");
    used =
        (size_t)snprintf(script, sizeof(script),
                         "import sys\n"
                         "try:\n"
                         "    from intentusnet.recording.store import FileExecutionStore\n"
                         "    from intentusnet.recording.replay import HistoricalResponseEngine\n"
                         "except Exception as e:\n"
                         "    print('IMPORT', e); sys.exit(3)\n"
                         "s = FileExecutionStore('%s')\n"
                         "for i in [",
                         c->recs);
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(script + used, sizeof(script) - used, "'%s',", ids[i]);
    snprintf(script + used, sizeof(script) - used,
             "]:\n"
             "    rec = s.load(i)\n"
             "    res = HistoricalResponseEngine(rec).retrieve(envelope=rec.envelope)\n"
             "    assert res.envelope_hash_ok, i\n"
             "    print('ok', i, rec.envelope['metadata']['traceId'])\n");
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, env, TIMEOUT_MS, &r), 0);
    if (r.status == 3) {
        tu_run_free(&r);
        skip();
    }
    if (r.status != 0)
        fail_msg("the reference could not read the records:\n%s%s", r.out, r.err);
    tu_run_free(&r);
}

static void
test_subintents_two_levels_deep_linked(void **state)
{
    struct ctx *c = *state;
    char root_id[64];
    struct tu_run r;
    cJSON *root, *mid, *leaf, *resp;
    const cJSON *ev;

    if (!have_python())
        skip();
    EXPECT(c, &r, 0, "\"children\"", "recorded", "route", "-c", c->cfg, "t.root", "--payload",
           "{\"x\": 1}");
    routed_id(&r, root_id, sizeof(root_id));
    /* The agent got its child's answer back and answered with it. */
    resp = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(resp);
    assert_string_equal(
        json_get_string(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(resp, "payload"), "children"),
                               0),
            "intent"),
        "t.mid");
    /* Neither control key is in the answer. */
    assert_null(cJSON_GetObjectItemCaseSensitive(resp, "subIntents"));
    assert_null(cJSON_GetObjectItemCaseSensitive(resp, "modelCalls"));
    cJSON_Delete(resp);
    tu_run_free(&r);

    root = load_record(c, root_id);
    assert_null(cJSON_GetObjectItemCaseSensitive(root, "parentExecutionId"));
    mid = child_of(c, root_id);
    leaf = child_of(c, record_id_of(mid));
    assert_string_equal(json_get_string(mid, "parentExecutionId"), root_id);
    assert_string_equal(trace_of(mid), trace_of(root));
    assert_string_equal(trace_of(leaf), trace_of(root));
    assert_string_equal(json_get_string(leaf, "parentExecutionId"), record_id_of(mid));
    /* The parent's record names the child it ran. */
    ev = event_of(root, "SUB_INTENT");
    assert_non_null(ev);
    assert_string_equal(json_get_string(ev, "intent"), "t.mid");
    assert_string_equal(json_get_string(ev, "executionId"), record_id_of(mid));
    assert_string_equal(json_get_string(ev, "status"), "ok");
    assert_int_equal(count_events(leaf, "SUB_INTENT"), 0);

    /* The tree, from any of its nodes. */
    EXPECT(c, &r, 0, "3 executions under root", NULL, "records", "show", "--tree", "-d", c->recs,
           record_id_of(leaf));
    {
        char line[256];
        snprintf(line, sizeof(line), "  %s  t.root  agent=py  ok", root_id);
        assert_non_null(strstr(r.out, line));
        snprintf(line, sizeof(line), "  `- %s  t.mid  agent=py  ok", record_id_of(mid));
        assert_non_null(strstr(r.out, line));
        snprintf(line, sizeof(line), ">    `- %s  t.leaf  agent=py  ok", record_id_of(leaf));
        assert_non_null(strstr(r.out, line));
    }
    tu_run_free(&r);
    {
        const char *ids[] = { root_id, record_id_of(mid), record_id_of(leaf) };
        cJSON_Delete(root);
        reference_reads(c, ids, 3);
    }
    cJSON_Delete(mid);
    cJSON_Delete(leaf);
}

static void
test_subintent_loop_refused_and_recorded(void **state)
{
    struct ctx *c = *state;
    char root_id[64];
    struct tu_run r;
    cJSON *mid, *back;
    const cJSON *err, *ev;

    if (!have_python())
        skip();
    EXPECT(c, &r, 0, NULL, "recorded", "route", "-c", c->cfg, "t.loop");
    routed_id(&r, root_id, sizeof(root_id));
    tu_run_free(&r);
    mid = child_of(c, root_id);
    back = child_of(c, record_id_of(mid));
    assert_string_equal(
        json_get_string(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(back, "envelope"), "intent"),
                        "name"),
        "t.loop");
    err = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(back, "finalResponse"),
                                           "error");
    assert_string_equal(json_get_string(err, "code"), "ROUTING_ERROR");
    assert_string_equal(json_get_string(cJSON_GetObjectItemCaseSensitive(err, "details"), "reason"),
                        "SUB_INTENT_LOOP");
    assert_non_null(
        strstr(json_get_string(err, "message"), "t.loop@1.0 -> t.loop2@1.0 -> t.loop@1.0"));
    /* Refused before any agent ran. */
    assert_int_equal(count_events(back, "AGENT_ATTEMPT_START"), 0);
    ev = event_of(mid, "SUB_INTENT");
    assert_string_equal(json_get_string(ev, "status"), "error");
    assert_string_equal(json_get_string(ev, "errorCode"), "ROUTING_ERROR");
    cJSON_Delete(mid);
    cJSON_Delete(back);
}

static void
test_subintent_depth_limit_and_deadline(void **state)
{
    struct ctx *c = *state;
    char root_id[64];
    struct tu_run r;
    cJSON *mid, *leaf, *rec, *child;
    const cJSON *err;
    long long left;

    if (!have_python())
        skip();
    write_config(c, "{\"subintent_depth\": 1}");
    EXPECT(c, &r, 0, NULL, "recorded", "route", "-c", c->cfg, "t.root");
    routed_id(&r, root_id, sizeof(root_id));
    tu_run_free(&r);
    mid = child_of(c, root_id);
    leaf = child_of(c, record_id_of(mid));
    err = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(leaf, "finalResponse"),
                                           "error");
    assert_string_equal(json_get_string(err, "code"), "ROUTING_ERROR");
    assert_non_null(strstr(json_get_string(err, "message"), "depth 2 exceeds the limit of 1"));
    cJSON_Delete(mid);
    cJSON_Delete(leaf);

    /* A bad limit is a config error naming the key. */
    write_config(c, "{\"subintent_depth\": 0}");
    EXPECT(c, &r, 2, NULL, "defaults.subintent_depth: must be an integer from 1 to 64", "route",
           "-c", c->cfg, "t.root");
    tu_run_free(&r);

    /* The child's deadline is what is left of the parent's. */
    write_config(c, NULL);
    EXPECT(c, &r, 0, NULL, "recorded", "route", "-c", c->cfg, "t.slow", "--timeout", "20s");
    routed_id(&r, root_id, sizeof(root_id));
    tu_run_free(&r);
    rec = load_record(c, root_id);
    child = child_of(c, root_id);
    assert_int_equal(
        json_get_int64(cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetObjectItemCaseSensitive(child, "envelope"), "routing"),
                       "timeoutMs", &left),
        0);
    assert_true(left > 0);
    assert_true(left <= 20000 - 300); /* the parent slept 300 ms first */
    cJSON_Delete(rec);
    cJSON_Delete(child);
}

static void
test_model_calls_recorded(void **state)
{
    struct ctx *c = *state;
    char root_id[64];
    struct tu_run r;
    cJSON *root;
    const cJSON *mc, *in, *out;
    long long n;

    if (!have_python())
        skip();
    EXPECT(c, &r, 0, NULL, "recorded", "route", "-c", c->cfg, "t.root");
    routed_id(&r, root_id, sizeof(root_id));
    tu_run_free(&r);
    root = load_record(c, root_id);
    assert_int_equal(count_events(root, "MODEL_CALL"), 1);
    mc = event_of(root, "MODEL_CALL");
    /* The reference's payload: {agent, provider, input, output}. */
    assert_string_equal(json_get_string(mc, "agent"), "py");
    assert_string_equal(json_get_string(mc, "provider"), "acme");
    in = cJSON_GetObjectItemCaseSensitive(mc, "input");
    out = cJSON_GetObjectItemCaseSensitive(mc, "output");
    assert_string_equal(json_get_string(in, "model"), "gpt-x");
    assert_string_equal(json_get_string(in, "promptHash"), "p-t.root");
    assert_string_equal(json_get_string(out, "responseHash"), "r-t.root");
    assert_int_equal(json_get_int64(out, "inputTokens", &n), 0);
    assert_int_equal(n, 11);
    assert_int_equal(json_get_int64(out, "outputTokens", &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(json_get_int64(out, "latencyMs", &n), 0);
    assert_int_equal(n, 40);
    cJSON_Delete(root);

    /* Totalled per agent in records stats: three calls (root, mid, leaf)
     * of 18 tokens and 40 ms each; through the index and the files alike. */
    EXPECT(c, &r, 0, "MODEL CALLS", NULL, "records", "stats", "-d", c->recs);
    assert_non_null(
        strstr(r.out, "py                         3         54      120.0ms       40.0ms"));
    tu_run_free(&r);
    EXPECT(c, &r, 0, "MODEL CALLS", NULL, "records", "stats", "--no-index", "-d", c->recs);
    assert_non_null(
        strstr(r.out, "py                         3         54      120.0ms       40.0ms"));
    tu_run_free(&r);
    EXPECT(c, &r, 0, "\"modelCalls\"", NULL, "records", "stats", "--json", "-d", c->recs);
    {
        cJSON *v = json_parse(r.out, strlen(r.out), 0, NULL);
        const cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "agents"), 0);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(a0, "modelCalls");
        assert_string_equal(json_get_string(a0, "name"), "py");
        assert_int_equal(json_get_int64(m, "calls", &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(json_get_int64(m, "tokens", &n), 0);
        assert_int_equal(n, 54);
        assert_int_equal(json_get_int64(m, "latencyUs", &n), 0);
        assert_int_equal(n, 120000);
        cJSON_Delete(v);
    }
    tu_run_free(&r);

    /* A malformed report is refused, naming the entry and the key. */
    EXPECT(c, &r, 1, "reply modelCalls[0]: \\\"model\\\" must be a string", NULL, "route", "-c",
           c->cfg, "t.badmodel");
    assert_non_null(strstr(r.out, "PROTOCOL_ERROR"));
    tu_run_free(&r);
}

static void
test_fanout_builtin(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    char root_id[64];

    EXPECT(c, &r, 0, "\"HI\"", "recorded", "route", "-c", c->cfg, "demo.fan", "--payload",
           "{\"w\": \"hi\"}");
    routed_id(&r, root_id, sizeof(root_id));
    tu_run_free(&r);
    EXPECT(c, &r, 0, "3 executions under root", NULL, "records", "show", "--tree", "-d", c->recs,
           root_id);
    assert_non_null(strstr(r.out, "demo.echo  agent=echo-a  ok"));
    assert_non_null(strstr(r.out, "demo.upper  agent=upper-u  ok"));
    tu_run_free(&r);
    /* --json without --tree is refused, not ignored. */
    EXPECT(c, &r, 2, NULL, "--json needs --tree", "records", "show", "--json", "-d", c->recs,
           root_id);
    tu_run_free(&r);
}

static void
test_check_determinism(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    char id1[64], id2[64], fp1[80], fp2[80];

    EXPECT(c, &r, 0, "deterministic: 4 runs of demo.echo, fingerprint ", NULL, "check",
           "determinism", "demo.echo", "-c", c->cfg, "--payload", "{\"a\": 1}", "--runs", "4");
    assert_int_equal(sscanf(r.out, "run 1 %63s %79s", id1, fp1), 2);
    assert_non_null(strstr(r.out, "run 4 "));
    tu_run_free(&r);
    EXPECT(c, &r, 0, "deterministic: 3 runs", NULL, "check", "determinism", "demo.fan", "-c",
           c->cfg, "--runs", "3");
    tu_run_free(&r);
    /* flaky-b (fail_rate 0.5, seed 7): the runs disagree, and it says where. */
    EXPECT(c, &r, 1, "NOT deterministic: run ", NULL, "check", "determinism", "demo.flaky", "-c",
           c->cfg, "--runs", "8");
    assert_non_null(strstr(r.out, "first difference: "));
    /* The first difference is named with both runs' values. */
    assert_non_null(strstr(strstr(r.out, "first difference: "), "\" vs \""));
    tu_run_free(&r);

    /* The built-in demo configuration (no config file): its builtins pass,
     * its flaky agent (flaky-b, seed 2529) fails with the difference named. */
    EXPECT(c, &r, 0, "deterministic: 3 runs of demo.upper", NULL, "check", "determinism",
           "demo.upper", "--payload", "{\"t\": \"x\"}", "-d", c->recs);
    tu_run_free(&r);
    EXPECT(c, &r, 1, "\"deterministic\": false", NULL, "check", "determinism", "demo.echo",
           "--target", "flaky-b", "--runs", "6", "--json", "-d", c->recs);
    {
        cJSON *v = json_parse(r.out, strlen(r.out), 0, NULL);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(v, "firstDifference");
        long long run;
        assert_non_null(d);
        assert_int_equal(json_get_int64(d, "run", &run), 0);
        assert_true(run >= 2 && run <= 6);
        assert_non_null(strstr(json_get_string(d, "parts"), "attempts"));
        assert_non_null(strstr(json_get_string(d, "difference"), " vs "));
        cJSON_Delete(v);
    }
    tu_run_free(&r);

    /* records fingerprint: two runs of the same envelope agree. */
    EXPECT(c, &r, 0, fp1, NULL, "records", "fingerprint", "-d", c->recs, id1);
    assert_non_null(strstr(r.out, "  attempts "));
    tu_run_free(&r);
    EXPECT(c, &r, 0, "\"deterministic\": true", NULL, "check", "determinism", "demo.echo", "-c",
           c->cfg, "--payload", "{\"a\": 1}", "--runs", "2", "--json");
    {
        cJSON *v = json_parse(r.out, strlen(r.out), 0, NULL);
        const cJSON *run2 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "runs"), 1);
        assert_non_null(run2);
        snprintf(id2, sizeof(id2), "%s", json_get_string(run2, "executionId"));
        snprintf(fp2, sizeof(fp2), "%s", json_get_string(run2, "fingerprint"));
        cJSON_Delete(v);
    }
    tu_run_free(&r);
    assert_string_equal(fp1, fp2);
    assert_string_not_equal(id1, id2);

    /* Usage errors. */
    EXPECT(c, &r, 2, NULL, "--runs: must be from 2 to 1000", "check", "determinism", "demo.echo",
           "--runs", "1");
    tu_run_free(&r);
    EXPECT(c, &r, 2, NULL, "--payload: must be a JSON object", "check", "determinism", "demo.echo",
           "--payload", "[1]");
    tu_run_free(&r);
    EXPECT(c, &r, 2, NULL, "unknown command 'nothing'", "check", "nothing");
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_subintents_two_levels_deep_linked, ctx_setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_subintent_loop_refused_and_recorded, ctx_setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_subintent_depth_limit_and_deadline, ctx_setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_model_calls_recorded, ctx_setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_builtin, ctx_setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_check_determinism, ctx_setup, ctx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
