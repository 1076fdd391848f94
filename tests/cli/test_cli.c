/* End-to-end tests of the intentus command line: every test runs the real
 * binary ($INTENTUS_BIN) in its own temporary directory, with HOME and
 * XDG_CONFIG_HOME pointing there and INTENTUS_CONFIG / INTENTUSNET_RECORDS_PATH
 * cleared, so no user configuration can interfere. Outputs and written
 * records are parsed as JSON and checked structurally. */
#include <dirent.h>
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

#include "core/json.h"
#include "tests/support/cli_expect.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 10000
#define MAX_ARGS 64

static char g_bin[PATH_MAX];
static char g_data[PATH_MAX];

/* ---- per-test context ---- */

struct ctx {
    char *dir;
    char env_home[PATH_MAX + 16];
    char env_xdg[PATH_MAX + 32];
};

static struct ctx *
ctx_new(void)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->dir = tu_mkdtemp();
    snprintf(c->env_home, sizeof(c->env_home), "HOME=%s", c->dir);
    snprintf(c->env_xdg, sizeof(c->env_xdg), "XDG_CONFIG_HOME=%s", c->dir);
    return c;
}

static void
ctx_free(struct ctx *c)
{
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
}

static int
ctx_setup(void **state)
{
    *state = ctx_new();
    return 0;
}

static int
ctx_teardown(void **state)
{
    ctx_free(*state);
    return 0;
}

/* A path inside the test directory (static rotating buffers). */
static const char *
tpath(struct ctx *c, const char *name)
{
    static char bufs[32][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 32];

    snprintf(b, PATH_MAX, "%s/%s", c->dir, name);
    return b;
}

/* Run intentus with args (NULL-terminated, without argv[0]) in cwd (NULL:
 * the test directory), stdin text in (NULL: none) and extra environment
 * entries env_more (NULL-terminated, may be NULL; they override the
 * defaults). Returns the exit status. */
static int
run_cmd(struct ctx *c, const char *cwd, const char *in, char *const *env_more, struct tu_run *r,
        const char *const *args)
{
    char *argv[MAX_ARGS];
    char *envv[32];
    size_t n = 0, e = 0;

    argv[n++] = g_bin;
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(n + 1 < MAX_ARGS);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    envv[e++] = c->env_home;
    envv[e++] = c->env_xdg;
    envv[e++] = (char *)"INTENTUS_CONFIG=";
    envv[e++] = (char *)"INTENTUSNET_RECORDS_PATH=";
    for (size_t i = 0; env_more != NULL && env_more[i] != NULL; i++) {
        assert_true(e + 1 < 32);
        envv[e++] = env_more[i];
    }
    envv[e] = NULL;
    assert_int_equal(tu_run(argv, cwd != NULL ? cwd : c->dir, in, envv, TIMEOUT_MS, r), 0);
    return r->status;
}

#define RUN(c, r, ...) run_cmd((c), NULL, NULL, NULL, (r), ARGS(__VA_ARGS__))
#define RUN_ENV(c, r, envm, ...) run_cmd((c), NULL, NULL, (envm), (r), ARGS(__VA_ARGS__))

/* ---- JSON helpers ---- */

static cJSON *
parse_text(const char *s)
{
    struct intentus_err err = { 0 };
    cJSON *v;

    assert_non_null(s);
    v = json_parse(s, strlen(s), 0, &err);
    if (v == NULL)
        print_message("# JSON parse failed: %s\n# text:\n%s\n", err.msg, s);
    assert_non_null(v);
    return v;
}

static cJSON *
parse_file(const char *path)
{
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    struct intentus_err err = { 0 };
    cJSON *v;

    if (text == NULL)
        print_message("# cannot read %s\n", path);
    assert_non_null(text);
    v = json_parse(text, len, 0, &err);
    if (v == NULL)
        print_message("# JSON parse of %s failed: %s\n", path, err.msg);
    free(text);
    assert_non_null(v);
    return v;
}

/* Dotted path lookup; numeric segments index arrays. NULL when absent. */
static const cJSON *
jget(const cJSON *o, const char *path)
{
    char seg[256];
    const char *p = path;

    while (o != NULL && *p != '\0') {
        size_t n = strcspn(p, ".");
        char *end;
        long idx;
        assert_true(n < sizeof(seg));
        memcpy(seg, p, n);
        seg[n] = '\0';
        p += n;
        if (*p == '.')
            p++;
        idx = strtol(seg, &end, 10);
        if (cJSON_IsArray(o) && *end == '\0' && end != seg)
            o = cJSON_GetArrayItem(o, (int)idx);
        else
            o = cJSON_GetObjectItemCaseSensitive(o, seg);
    }
    return o;
}

static void
expect_str(const cJSON *o, const char *path, const char *want)
{
    const char *s = cJSON_GetStringValue(jget(o, path));

    if (s == NULL || strcmp(s, want) != 0)
        print_message("# %s: expected \"%s\", got %s%s%s\n", path, want, s ? "\"" : "",
                      s ? s : "(missing or not a string)", s ? "\"" : "");
    assert_non_null(s);
    assert_string_equal(s, want);
}

static double
expect_num(const cJSON *o, const char *path)
{
    const cJSON *v = jget(o, path);

    if (!cJSON_IsNumber(v))
        print_message("# %s: expected a number\n", path);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void
expect_bool(const cJSON *o, const char *path, int want)
{
    const cJSON *v = jget(o, path);

    if (!cJSON_IsBool(v) || (cJSON_IsTrue(v) ? 1 : 0) != want)
        print_message("# %s: expected %s\n", path, want ? "true" : "false");
    assert_true(cJSON_IsBool(v));
    assert_int_equal(cJSON_IsTrue(v) ? 1 : 0, want);
}

static void
expect_absent(const cJSON *o, const char *path)
{
    if (jget(o, path) != NULL)
        print_message("# %s: expected to be absent\n", path);
    assert_null(jget(o, path));
}

/* error must be {"code","message","retryable","details"} with those types. */
static void
expect_error_obj(const cJSON *e, const char *code)
{
    assert_true(cJSON_IsObject(e));
    expect_str(e, "code", code);
    assert_true(cJSON_IsString(jget(e, "message")));
    assert_true(cJSON_GetStringValue(jget(e, "message"))[0] != '\0');
    assert_true(cJSON_IsBool(jget(e, "retryable")));
    assert_true(cJSON_IsObject(jget(e, "details")));
}

/* ---- record helpers ---- */

/* The name of the one visible *.json file in dir, as an execution id. */
static void
only_record_id(const char *dir, char id[256])
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        print_message("# cannot open %s\n", dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(id, 256, "%.*s", (int)(len - 5), de->d_name);
        n++;
    }
    closedir(d);
    if (n != 1)
        print_message("# expected exactly one record in %s, found %d\n", dir, n);
    assert_int_equal(n, 1);
}

static cJSON *
load_record(const char *dir, const char *id)
{
    char path[PATH_MAX + 300];

    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    return parse_file(path);
}

/* The one record in dir; its id in id_out (may be NULL). */
static cJSON *
load_only_record(const char *dir, char *id_out)
{
    char id[256];
    cJSON *rec;

    only_record_id(dir, id);
    rec = load_record(dir, id);
    expect_str(rec, "header.executionId", id);
    if (id_out != NULL)
        snprintf(id_out, 256, "%s", id);
    return rec;
}

/* The event types must be exactly want (NULL-terminated); seq 1..n; every
 * event has a string ts, a number offsetUs and an object payload. When
 * monotonic, offsetUs must not decrease. */
static void
expect_events(const cJSON *rec, const char *const *want, int monotonic)
{
    const cJSON *events = jget(rec, "events"), *ev;
    int n = 0, i = 0;
    double last = -1;

    while (want[n] != NULL)
        n++;
    assert_true(cJSON_IsArray(events));
    if (cJSON_GetArraySize(events) != n) {
        print_message("# expected %d events, record has %d:\n", n, cJSON_GetArraySize(events));
        cJSON_ArrayForEach(ev, events)
        {
            print_message("#   %s\n", cJSON_GetStringValue(jget(ev, "type")));
        }
    }
    assert_int_equal(cJSON_GetArraySize(events), n);
    cJSON_ArrayForEach(ev, events)
    {
        const char *type = cJSON_GetStringValue(jget(ev, "type"));
        double off;
        if (type == NULL || strcmp(type, want[i]) != 0)
            print_message("# event %d: expected %s, got %s\n", i + 1, want[i],
                          type ? type : "(none)");
        assert_non_null(type);
        assert_string_equal(type, want[i]);
        assert_true(cJSON_IsNumber(jget(ev, "seq")));
        assert_int_equal((int)jget(ev, "seq")->valuedouble, i + 1);
        assert_true(cJSON_IsString(jget(ev, "ts")));
        assert_true(cJSON_GetStringValue(jget(ev, "ts"))[0] != '\0');
        off = expect_num(ev, "offsetUs");
        assert_true(off >= 0);
        if (monotonic)
            assert_true(off >= last);
        last = off;
        assert_true(cJSON_IsObject(jget(ev, "payload")));
        i++;
    }
}

static const cJSON *
ev_payload(const cJSON *rec, int index)
{
    char path[64];
    const cJSON *p;

    snprintf(path, sizeof(path), "events.%d.payload", index);
    p = jget(rec, path);
    assert_true(cJSON_IsObject(p));
    return p;
}

/* START payload: agent, strategy, and index (>= 0) or no index (-1). */
static void
expect_start(const cJSON *rec, int ev, const char *agent, const char *strategy, int index)
{
    const cJSON *p = ev_payload(rec, ev);

    expect_str(p, "agent", agent);
    expect_str(p, "strategy", strategy);
    if (index >= 0)
        assert_int_equal((int)expect_num(p, "index"), index);
    else
        expect_absent(p, "index");
}

/* END payload: agent, status, exception present or not. */
static void
expect_end(const cJSON *rec, int ev, const char *agent, const char *status, int exception)
{
    const cJSON *p = ev_payload(rec, ev);

    expect_str(p, "agent", agent);
    expect_str(p, "status", status);
    if (exception) {
        assert_true(cJSON_IsString(jget(p, "exception")));
        assert_true(cJSON_GetStringValue(jget(p, "exception"))[0] != '\0');
    } else {
        expect_absent(p, "exception");
    }
}

/* The record's DECISION event equals routerDecision and its FINAL event
 * equals finalResponse; finalResponse equals the printed response. */
static void
expect_record_consistent(const cJSON *rec, const cJSON *printed)
{
    const cJSON *events = jget(rec, "events"), *ev;
    const cJSON *final = jget(rec, "finalResponse");
    const cJSON *decision = jget(rec, "routerDecision");
    int saw_decision = 0, saw_final = 0;

    assert_true(cJSON_IsObject(final));
    cJSON_ArrayForEach(ev, events)
    {
        const char *t = cJSON_GetStringValue(jget(ev, "type"));
        if (strcmp(t, "ROUTER_DECISION") == 0) {
            saw_decision++;
            assert_true(cJSON_Compare(jget(ev, "payload"), decision, 1));
        } else if (strcmp(t, "FINAL_RESPONSE") == 0) {
            saw_final++;
            assert_true(cJSON_Compare(jget(ev, "payload"), final, 1));
        }
    }
    assert_int_equal(saw_final, 1);
    if (cJSON_IsNull(decision))
        assert_int_equal(saw_decision, 0);
    else
        assert_int_equal(saw_decision, 1);
    if (printed != NULL)
        assert_true(cJSON_Compare(printed, final, 1));
    expect_bool(rec, "header.replayable", 1);
    assert_int_equal((int)strlen(cJSON_GetStringValue(jget(rec, "header.envelopeHash"))), 64);
}

/* The last non-empty line of text. */
static const char *
last_line(const char *text, char *buf, size_t size)
{
    size_t len = strlen(text);
    const char *start;

    while (len > 0 && text[len - 1] == '\n')
        len--;
    start = text + len;
    while (start > text && start[-1] != '\n')
        start--;
    snprintf(buf, size, "%.*s", (int)(text + len - start), start);
    return buf;
}

static int
count_lines(const char *text)
{
    int n = 0;

    for (const char *p = text; *p; p++)
        n += *p == '\n';
    if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
        n++;
    return n;
}

/* `records verify --dir dir` passes with n records. */
static void
expect_verify_ok(struct ctx *c, const char *dir, int n)
{
    struct tu_run r;
    char want[64], line[256];

    RUN(c, &r, "records", "verify", "--dir", dir);
    EXPECT_EXIT(&r, 0);
    snprintf(want, sizeof(want), "%d passed, 0 failed", n);
    assert_string_equal(last_line(r.out, line, sizeof(line)), want);
    tu_run_free(&r);
}

static const char *
write_file(struct ctx *c, const char *name, const char *text)
{
    const char *p = tpath(c, name);

    assert_int_equal(tu_write_file(p, text, strlen(text), 0600), 0);
    return p;
}

/* Write a config file in the test dir: recording.dir = <tmp>/rec, then the
 * given top-level members (text without the braces). */
static const char *
write_config(struct ctx *c, const char *name, const char *members)
{
    char *text;
    const char *p;
    size_t size = strlen(members) + strlen(c->dir) + 128;

    text = malloc(size);
    assert_non_null(text);
    snprintf(text, size, "{\"recording\":{\"dir\":\"%s/rec\"},%s}", c->dir, members);
    p = write_file(c, name, text);
    free(text);
    return p;
}

/* Route; parse stdout as the response. */
static cJSON *
route_json(struct ctx *c, struct tu_run *r, int want_exit, const char *const *args)
{
    cJSON *resp;

    run_cmd(c, NULL, NULL, NULL, r, args);
    EXPECT_EXIT(r, want_exit);
    resp = parse_text(r->out);
    assert_true(cJSON_IsObject(resp));
    return resp;
}

/* ======================================================================
 * 1. top level
 * ==================================================================== */

static void
test_version(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;

    RUN(c, &r, "--version");
    EXPECT_EXIT(&r, 0);
    assert_true(strncmp(r.out, "intentus ", 9) == 0);
    assert_true(r.out[9] >= '0' && r.out[9] <= '9');
    assert_string_equal(r.err, "");
    tu_run_free(&r);
    RUN(c, &r, "-V");
    EXPECT_EXIT(&r, 0);
    assert_true(strncmp(r.out, "intentus ", 9) == 0);
    tu_run_free(&r);
}

static void
test_help(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    const char *forms[] = { "--help", "-h", "help" };

    for (size_t i = 0; i < 3; i++) {
        RUN(c, &r, forms[i]);
        EXPECT_EXIT(&r, 0);
        EXPECT_CONTAINS(r.out, "Usage: intentus");
        EXPECT_CONTAINS(r.out, "route");
        EXPECT_CONTAINS(r.out, "records");
        EXPECT_CONTAINS(r.out, "retrieve");
        EXPECT_CONTAINS(r.out, "agents");
        assert_string_equal(r.err, "");
        tu_run_free(&r);
    }
}

static void
test_no_args(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    const char *const none[] = { NULL };

    /* Plain `intentus` opens the console; with no terminal (stdin is
     * /dev/null, stdout a pipe here) it must refuse at once with a usage
     * exit and say why on stderr, never hang or draw on stdout. */
    run_cmd(c, NULL, NULL, NULL, &r, none);
    EXPECT_EXIT(&r, 2);
    assert_string_equal(r.out, "");
    if (strstr(r.err, "Usage: intentus") == NULL)
        EXPECT_CONTAINS(r.err, "terminal");
    tu_run_free(&r);
    /* an unknown top-level option is a usage error too */
    RUN(c, &r, "--bogus-option");
    EXPECT_EXIT(&r, 2);
    assert_string_equal(r.out, "");
    EXPECT_CONTAINS(r.err, "--bogus-option");
    tu_run_free(&r);
    assert_int_equal(tu_count_files(c->dir, NULL), 0);
}

static void
test_unknown_command(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;

    RUN(c, &r, "frobnicate");
    EXPECT_EXIT(&r, 2);
    assert_string_equal(r.out, "");
    EXPECT_CONTAINS(r.err, "unknown command 'frobnicate'");
    tu_run_free(&r);
    /* records with no or an unknown subcommand */
    RUN(c, &r, "records");
    EXPECT_EXIT(&r, 2);
    tu_run_free(&r);
    RUN(c, &r, "records", "frobnicate");
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "unknown command 'frobnicate'");
    tu_run_free(&r);
}

static void
test_command_help(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    static const struct {
        const char *const args[4];
        const char *usage;
    } cases[] = {
        { { "route", "--help" }, "Usage: intentus route" },
        { { "route", "-h" }, "Usage: intentus route" },
        /* help wins whatever else is on the line, even a bad option */
        { { "route", "--strategy", "bogus", "--help" }, "Usage: intentus route" },
        { { "records", "--help" }, "Usage: intentus records" },
        { { "records", "list", "--help" }, "Usage: intentus records" },
        { { "records", "show", "--help" }, "Usage: intentus records" },
        { { "records", "verify", "-h" }, "Usage: intentus records" },
        { { "retrieve", "--help" }, "Usage: intentus retrieve" },
        { { "agents", "--help" }, "Usage: intentus agents" },
        { { "console", "--help" }, "Usage: intentus" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_cmd(c, NULL, NULL, NULL, &r, cases[i].args);
        EXPECT_EXIT(&r, 0);
        EXPECT_CONTAINS(r.out, cases[i].usage);
        tu_run_free(&r);
    }
    /* help never creates a record directory */
    assert_int_equal(tu_count_files(c->dir, NULL), 0);
}

static void
test_usage_errors(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    static const struct {
        const char *const args[5];
        const char *msg;
    } cases[] = {
        { { "route" }, "missing INTENT" },
        { { "route", "demo.echo", "extra" }, "unexpected argument 'extra'" },
        { { "route", "demo.echo", "--bogus" }, "unknown option '--bogus'" },
        { { "route", "demo.echo", "--payload" }, "needs a value" },
        { { "route", "" }, "INTENT must not be empty" },
        { { "route", "demo.echo", "--tenant", "" }, "--tenant" },
        { { "records", "list", "--limit", "x" }, "--limit" },
        { { "records", "list", "--limit", "-1" }, "--limit" },
        { { "records", "list", "extra" }, "unexpected argument 'extra'" },
        { { "records", "show" }, "missing ID" },
        { { "retrieve" }, "missing ID" },
        { { "agents", "extra" }, "unexpected argument 'extra'" },
        { { "agents", "--bogus" }, "unknown option '--bogus'" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_cmd(c, NULL, NULL, NULL, &r, cases[i].args);
        EXPECT_EXIT(&r, 2);
        assert_string_equal(r.out, "");
        EXPECT_CONTAINS(r.err, cases[i].msg);
        tu_run_free(&r);
    }
    assert_int_equal(tu_count_files(c->dir, NULL), 0);
}

/* ======================================================================
 * 2. DIRECT success
 * ==================================================================== */

static const char *const seq_direct[] = { "INTENT_RECEIVED",   "AGENT_ATTEMPT_START",
                                          "AGENT_ATTEMPT_END", "ROUTER_DECISION",
                                          "FINAL_RESPONSE",    NULL };
/* The demo configuration has a policy (no-guest-admin): intentus records its
 * decision as POLICY_DECISION right after INTENT_RECEIVED. */
static const char *const seq_demo_direct[] = { "INTENT_RECEIVED",
                                               "POLICY_DECISION",
                                               "AGENT_ATTEMPT_START",
                                               "AGENT_ATTEMPT_END",
                                               "ROUTER_DECISION",
                                               "FINAL_RESPONSE",
                                               NULL };
static const char *const seq_demo_early_fail[] = { "INTENT_RECEIVED", "POLICY_DECISION",
                                                   "FINAL_RESPONSE", NULL };

static void
test_route_direct_success(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    const char *payload = "{\"text\":\"h\xc3\xa9llo \xf0\x9f\x98\x80\",\"n\":[1,2.5,true,null]}";
    struct tu_run r;
    cJSON *resp, *want, *rec;
    char id[256], want_err[PATH_MAX + 128];

    resp = route_json(c, &r, 0, ARGS("route", "demo.echo", "--payload", payload, "--dir", rec_dir));
    want = parse_text(payload);
    expect_str(resp, "status", "success");
    expect_str(resp, "version", "1.0");
    assert_true(cJSON_IsNull(jget(resp, "error")));
    assert_true(cJSON_Compare(jget(resp, "payload"), want, 1));
    expect_str(resp, "payload.text", "h\xc3\xa9llo \xf0\x9f\x98\x80");
    expect_str(resp, "metadata.agent", "echo-a");
    assert_true(cJSON_IsString(jget(resp, "metadata.traceId")));

    assert_int_equal(tu_count_files(rec_dir, ".json"), 1);
    assert_int_equal(tu_count_files(rec_dir, NULL), 1);
    rec = load_only_record(rec_dir, id);
    /* the execution id is reported on stderr */
    snprintf(want_err, sizeof(want_err), "execution %s recorded in", id);
    EXPECT_CONTAINS(r.err, want_err);

    expect_events(rec, seq_demo_direct, 1);
    expect_start(rec, 2, "echo-a", "DIRECT", -1);
    expect_end(rec, 3, "echo-a", "ok", 0);
    expect_str(ev_payload(rec, 0), "intent", "demo.echo");
    expect_str(ev_payload(rec, 0), "traceId", cJSON_GetStringValue(jget(resp, "metadata.traceId")));
    expect_bool(ev_payload(rec, 0), "require_determinism", 1);
    assert_int_equal((int)strlen(cJSON_GetStringValue(jget(ev_payload(rec, 0), "config_hash"))),
                     64);
    expect_str(rec, "routerDecision.reason", "direct match");
    expect_str(rec, "routerDecision.agent", "echo-a");
    expect_str(rec, "routerDecision.intent", "demo.echo");
    expect_record_consistent(rec, resp);
    /* the envelope as it was before any agent ran */
    expect_str(rec, "envelope.intent.name", "demo.echo");
    expect_str(rec, "envelope.intent.version", "1.0");
    expect_str(rec, "envelope.routing.strategy", "direct");
    assert_true(cJSON_Compare(jget(rec, "envelope.payload"), want, 1));
    assert_int_equal(cJSON_GetArraySize(jget(rec, "envelope.routingMetadata.decisionPath")), 0);
    tu_run_free(&r);

    expect_verify_ok(c, rec_dir, 1);
    cJSON_Delete(rec);
    cJSON_Delete(want);
    cJSON_Delete(resp);
}

static void
test_route_envelope_options(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 0,
                      ARGS("route", "demo.echo", "-P", "high", "-T", "acme", "-q", "-d", rec_dir));
    /* --quiet: nothing on stderr */
    assert_string_equal(r.err, "");
    tu_run_free(&r);
    rec = load_only_record(rec_dir, NULL);
    expect_str(rec, "envelope.context.priority", "high");
    expect_str(rec, "envelope.context.tags.0", "tenant:acme");
    assert_int_equal(cJSON_GetArraySize(jget(rec, "envelope.context.tags")), 1);
    expect_str(rec, "envelope.metadata.traceId",
               cJSON_GetStringValue(jget(resp, "metadata.traceId")));
    assert_true(cJSON_IsObject(jget(resp, "payload")));
    assert_int_equal(cJSON_GetArraySize(jget(resp, "payload")), 0);
    expect_verify_ok(c, rec_dir, 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_route_payload_file_and_upper(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp;

    write_file(c, "p.json", "{\"text\": \"h\xc3\xa9llo world\"}\n");
    /* relative @file, resolved against the working directory */
    resp = route_json(c, &r, 0, ARGS("route", "demo.upper", "-p", "@p.json", "-d", rec_dir));
    expect_str(resp, "status", "success");
    expect_str(resp, "metadata.agent", "upper-u");
    expect_str(resp, "payload.text", "H\xc3\x89LLO WORLD");
    tu_run_free(&r);
    cJSON_Delete(resp);
    expect_verify_ok(c, rec_dir, 1);
}

/* ======================================================================
 * 3. failure paths
 * ==================================================================== */

static void
test_route_direct_agent_error(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 1, ARGS("route", "demo.fail", "--dir", rec_dir));
    expect_str(resp, "status", "error");
    assert_true(cJSON_IsNull(jget(resp, "payload")));
    expect_error_obj(jget(resp, "error"), "AGENT_ERROR");
    expect_bool(resp, "error.retryable", 0);
    expect_str(resp, "metadata.agent", "broken-d");
    tu_run_free(&r);

    rec = load_only_record(rec_dir, NULL);
    expect_events(rec, seq_demo_direct, 1);
    expect_start(rec, 2, "broken-d", "DIRECT", -1);
    expect_end(rec, 3, "broken-d", "error", 0);
    expect_str(rec, "routerDecision.agent", "broken-d");
    expect_str(rec, "routerDecision.reason", "routing failed");
    expect_error_obj(jget(rec, "finalResponse.error"), "AGENT_ERROR");
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, rec_dir, 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_route_unknown_intent(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 1, ARGS("route", "no.such.intent", "--dir", rec_dir));
    expect_str(resp, "status", "error");
    expect_error_obj(jget(resp, "error"), "CAPABILITY_NOT_FOUND");
    expect_str(resp, "error.message", "No agents registered for intent 'no.such.intent'");
    expect_str(resp, "metadata.agent", "router");
    tu_run_free(&r);

    rec = load_only_record(rec_dir, NULL);
    expect_events(rec, seq_demo_early_fail, 1);
    assert_true(cJSON_IsNull(jget(rec, "routerDecision")));
    expect_error_obj(jget(rec, "finalResponse.error"), "CAPABILITY_NOT_FOUND");
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, rec_dir, 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_route_target_not_capable(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp, *rec;

    /* upper-u exists but does not handle demo.echo */
    resp =
        route_json(c, &r, 1, ARGS("route", "demo.echo", "--target", "upper-u", "--dir", rec_dir));
    expect_error_obj(jget(resp, "error"), "ROUTING_ERROR");
    expect_str(resp, "error.message",
               "Target agent 'upper-u' not registered for intent 'demo.echo'");
    expect_str(resp, "metadata.agent", "router");
    tu_run_free(&r);

    rec = load_only_record(rec_dir, NULL);
    expect_events(rec, seq_demo_early_fail, 1);
    assert_true(cJSON_IsNull(jget(rec, "routerDecision")));
    expect_str(rec, "envelope.routing.targetAgent", "upper-u");
    expect_error_obj(jget(rec, "finalResponse.error"), "ROUTING_ERROR");
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, rec_dir, 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_route_target_capable(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp, *rec;

    /* flaky-b handles demo.echo but is second in order: --target picks it.
     * Its first draw with seed 42 decides success or error; either way it is
     * flaky-b that ran, alone. */
    run_cmd(c, NULL, NULL, NULL, &r, ARGS("route", "demo.echo", "-t", "flaky-b", "-d", rec_dir));
    assert_true(r.status == 0 || r.status == 1);
    resp = parse_text(r.out);
    expect_str(resp, "metadata.agent", "flaky-b");
    tu_run_free(&r);
    rec = load_only_record(rec_dir, NULL);
    expect_events(rec, seq_demo_direct, 1);
    expect_start(rec, 2, "flaky-b", "DIRECT", -1);
    expect_str(rec, "routerDecision.agent", "flaky-b");
    expect_record_consistent(rec, resp);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_route_parallel_blocked(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 1,
                      ARGS("route", "demo.echo", "--strategy", "parallel", "--dir", rec_dir));
    expect_error_obj(jget(resp, "error"), "VALIDATION_ERROR");
    expect_bool(resp, "error.details.require_determinism", 1);
    expect_str(resp, "error.details.strategy", "PARALLEL");
    assert_true(cJSON_IsString(jget(resp, "error.details.remediation")));
    expect_str(resp, "metadata.agent", "router");
    tu_run_free(&r);

    rec = load_only_record(rec_dir, NULL);
    expect_events(rec, seq_demo_early_fail, 1);
    assert_true(cJSON_IsNull(jget(rec, "routerDecision")));
    expect_str(rec, "envelope.routing.strategy", "parallel");
    expect_error_obj(jget(rec, "finalResponse.error"), "VALIDATION_ERROR");
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, rec_dir, 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_route_failures_all_verify(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;

    /* several error outcomes into one directory: every file verifies */
    RUN(c, &r, "route", "demo.fail", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 1);
    tu_run_free(&r);
    RUN(c, &r, "route", "nope", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 1);
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "-t", "broken-d", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 1);
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "-s", "parallel", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 1);
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "-s", "broadcast", "-q", "-d", rec_dir);
    assert_true(r.status == 0 || r.status == 1);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(rec_dir, ".json"), 5);
    expect_verify_ok(c, rec_dir, 5);
}

static void
test_route_direct_crash(void **state)
{
    struct ctx *c = *state;
    const char *cfg =
        write_config(c, "cr.json",
                     "\"agents\":[{\"name\":\"cr\",\"kind\":\"builtin\",\"builtin\":\"crash\","
                     "\"message\":\"wrapper blew up\",\"intents\":[\"t.c\"]}]");
    static const char *const seq[] = { "INTENT_RECEIVED", "AGENT_ATTEMPT_START", "FINAL_RESPONSE",
                                       NULL };
    struct tu_run r;
    cJSON *resp, *rec;

    /* DIRECT + a throwing wrapper: ROUTING_ERROR with the exception text,
     * active agent = that agent, no END event and no decision */
    resp = route_json(c, &r, 1, ARGS("route", "t.c", "-c", cfg, "-q"));
    expect_error_obj(jget(resp, "error"), "ROUTING_ERROR");
    expect_str(resp, "error.message", "wrapper blew up");
    expect_str(resp, "metadata.agent", "cr");
    tu_run_free(&r);
    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_events(rec, seq, 1);
    expect_start(rec, 1, "cr", "DIRECT", -1);
    assert_true(cJSON_IsNull(jget(rec, "routerDecision")));
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

/* ======================================================================
 * 4./5. FALLBACK
 * ==================================================================== */

static const char fallback_agents[] =
    "\"agents\":["
    "{\"name\":\"c-ok\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"t.x\"],"
    "\"nodePriority\":3},"
    "{\"name\":\"a-fail\",\"kind\":\"builtin\",\"builtin\":\"fail\",\"intents\":[\"t.x\"],"
    "\"nodePriority\":1},"
    "{\"name\":\"b-fail\",\"kind\":\"builtin\",\"builtin\":\"crash\",\"intents\":[\"t.x\"],"
    "\"nodePriority\":2},"
    "{\"name\":\"other\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"t.y\"]}"
    "]";

static void
test_fallback_chain(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(c, "f.json", fallback_agents);
    static const char *const seq[] = {
        "INTENT_RECEIVED",     "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END",  "FALLBACK_TRIGGERED",
        "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END",   "FALLBACK_TRIGGERED", "AGENT_ATTEMPT_START",
        "AGENT_ATTEMPT_END",   "ROUTER_DECISION",     "FINAL_RESPONSE",     NULL,
    };
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 0,
                      ARGS("route", "t.x", "-s", "fallback", "-c", cfg, "-p", "{\"k\":\"v\"}"));
    expect_str(resp, "status", "success");
    expect_str(resp, "metadata.agent", "c-ok");
    expect_str(resp, "payload.k", "v");
    tu_run_free(&r);

    /* recording.dir from the config */
    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_events(rec, seq, 1);
    expect_start(rec, 1, "a-fail", "FALLBACK", 0);
    expect_end(rec, 2, "a-fail", "error", 0);
    expect_str(ev_payload(rec, 3), "from", "a-fail");
    expect_str(ev_payload(rec, 3), "to", "b-fail");
    expect_start(rec, 4, "b-fail", "FALLBACK", 1);
    expect_end(rec, 5, "b-fail", "error", 1);
    expect_str(ev_payload(rec, 5), "exception", "agent crashed (simulated)");
    expect_str(ev_payload(rec, 6), "from", "b-fail");
    expect_str(ev_payload(rec, 6), "to", "c-ok");
    expect_start(rec, 7, "c-ok", "FALLBACK", 2);
    expect_end(rec, 8, "c-ok", "ok", 0);
    expect_str(rec, "routerDecision.agent", "c-ok");
    expect_str(rec, "routerDecision.reason", "fallback success at index 2");
    expect_str(rec, "envelope.routing.strategy", "fallback");
    /* the record copies the envelope before agents run */
    assert_true(cJSON_IsArray(jget(rec, "envelope.routingMetadata.decisionPath")));
    assert_int_equal(cJSON_GetArraySize(jget(rec, "envelope.routingMetadata.decisionPath")), 0);
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_fallback_all_fail(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(
        c, "f.json",
        "\"agents\":["
        "{\"name\":\"a-crash\",\"kind\":\"builtin\",\"builtin\":\"crash\",\"intents\":[\"t.x\"],"
        "\"nodePriority\":1},"
        "{\"name\":\"z-fail\",\"kind\":\"builtin\",\"builtin\":\"fail\",\"intents\":[\"t.x\"],"
        "\"error_code\":\"AGENT_TIMEOUT\",\"message\":\"last one timed out\",\"retryable\":true,"
        "\"nodePriority\":2}]");
    static const char *const seq[] = {
        "INTENT_RECEIVED",    "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END",
        "FALLBACK_TRIGGERED", "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END",
        "ROUTER_DECISION",    "FINAL_RESPONSE",      NULL,
    };
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 1, ARGS("route", "t.x", "--strategy", "fallback", "--config", cfg));
    expect_str(resp, "status", "error");
    expect_str(resp, "metadata.agent", "fallback");
    /* the last agent's error, as it returned it */
    expect_error_obj(jget(resp, "error"), "AGENT_TIMEOUT");
    expect_str(resp, "error.message", "last one timed out");
    expect_bool(resp, "error.retryable", 1);
    tu_run_free(&r);

    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_events(rec, seq, 1);
    expect_start(rec, 1, "a-crash", "FALLBACK", 0);
    expect_end(rec, 2, "a-crash", "error", 1);
    expect_str(ev_payload(rec, 3), "from", "a-crash");
    expect_str(ev_payload(rec, 3), "to", "z-fail");
    expect_start(rec, 4, "z-fail", "FALLBACK", 1);
    expect_end(rec, 5, "z-fail", "error", 0);
    expect_str(rec, "routerDecision.agent", "fallback");
    expect_str(rec, "routerDecision.reason", "routing failed");
    expect_error_obj(jget(rec, "finalResponse.error"), "AGENT_TIMEOUT");
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_fallback_last_crash_is_internal_error(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(
        c, "f.json",
        "\"agents\":["
        "{\"name\":\"a-fail\",\"kind\":\"builtin\",\"builtin\":\"fail\",\"intents\":[\"t.x\"]},"
        "{\"name\":\"b-crash\",\"kind\":\"builtin\",\"builtin\":\"crash\",\"intents\":[\"t.x\"],"
        "\"message\":\"boom\"}]");
    struct tu_run r;
    cJSON *resp;

    /* an exception in the last agent becomes INTERNAL_AGENT_ERROR with its text */
    resp = route_json(c, &r, 1, ARGS("route", "t.x", "-s", "fallback", "-c", cfg, "-q"));
    expect_error_obj(jget(resp, "error"), "INTERNAL_AGENT_ERROR");
    expect_str(resp, "error.message", "boom");
    expect_bool(resp, "error.retryable", 0);
    expect_str(resp, "metadata.agent", "fallback");
    tu_run_free(&r);
    cJSON_Delete(resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
}

static void
test_fallback_agents_extension(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(c, "f.json", fallback_agents);
    static const char *const seq[] = {
        "INTENT_RECEIVED", "AGENT_SKIPPED",       "AGENT_SKIPPED",
        "AGENT_SKIPPED",   "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END",
        "ROUTER_DECISION", "FINAL_RESPONSE",      NULL,
    };
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 0,
                      ARGS("route", "t.x", "-s", "fallback", "-c", cfg, "--fallback",
                           "c-ok,nonexistent,other,,c-ok,a-fail"));
    expect_str(resp, "status", "success");
    expect_str(resp, "metadata.agent", "c-ok");
    tu_run_free(&r);

    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_events(rec, seq, 1);
    expect_str(ev_payload(rec, 1), "agent", "nonexistent");
    expect_str(ev_payload(rec, 1), "reason", "not registered");
    expect_str(ev_payload(rec, 2), "agent", "other");
    expect_str(ev_payload(rec, 2), "reason", "not capable of this intent");
    expect_str(ev_payload(rec, 3), "agent", "c-ok");
    expect_str(ev_payload(rec, 3), "reason", "listed twice");
    expect_start(rec, 4, "c-ok", "FALLBACK", 0);
    expect_end(rec, 5, "c-ok", "ok", 0);
    expect_str(rec, "routerDecision.reason", "fallback success at index 0");
    expect_str(rec, "routerDecision.agent", "c-ok");
    expect_str(rec, "envelope.routing.fallbackAgents.0", "c-ok");
    expect_str(rec, "envelope.routing.fallbackAgents.1", "nonexistent");
    /* empty items are dropped, duplicates kept as given */
    expect_str(rec, "envelope.routing.fallbackAgents.3", "c-ok");
    expect_str(rec, "envelope.routing.fallbackAgents.4", "a-fail");
    assert_int_equal(cJSON_GetArraySize(jget(rec, "envelope.routing.fallbackAgents")), 5);
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_fallback_agents_order_respected(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(c, "f.json", fallback_agents);
    static const char *const seq[] = {
        "INTENT_RECEIVED",    "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END",
        "FALLBACK_TRIGGERED", "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END",
        "ROUTER_DECISION",    "FINAL_RESPONSE",      NULL,
    };
    struct tu_run r;
    cJSON *resp, *rec;

    /* explicit order b-fail then c-ok; a-fail is not in the chain at all */
    resp = route_json(c, &r, 0,
                      ARGS("route", "t.x", "-s", "fallback", "-c", cfg, "-f", "b-fail,c-ok"));
    tu_run_free(&r);
    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_events(rec, seq, 1);
    expect_start(rec, 1, "b-fail", "FALLBACK", 0);
    expect_end(rec, 2, "b-fail", "error", 1);
    expect_str(ev_payload(rec, 3), "to", "c-ok");
    expect_start(rec, 4, "c-ok", "FALLBACK", 1);
    expect_str(rec, "routerDecision.reason", "fallback success at index 1");
    expect_record_consistent(rec, resp);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_fallback_agents_none_usable(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(c, "f.json", fallback_agents);
    static const char *const seq[] = { "INTENT_RECEIVED", "AGENT_SKIPPED", "FINAL_RESPONSE", NULL };
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 1, ARGS("route", "t.x", "-s", "fallback", "-c", cfg, "-f", "ghost"));
    expect_error_obj(jget(resp, "error"), "ROUTING_ERROR");
    tu_run_free(&r);
    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_events(rec, seq, 1);
    assert_true(cJSON_IsNull(jget(rec, "routerDecision")));
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

/* ======================================================================
 * 6. BROADCAST
 * ==================================================================== */

static void
test_broadcast(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(
        c, "b.json",
        "\"agents\":["
        "{\"name\":\"b1-echo\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"t.b\"],"
        "\"nodePriority\":1},"
        "{\"name\":\"b2-upper\",\"kind\":\"builtin\",\"builtin\":\"upper\",\"intents\":[\"t.b\"],"
        "\"nodePriority\":2},"
        "{\"name\":\"b3-crash\",\"kind\":\"builtin\",\"builtin\":\"crash\",\"intents\":[\"t.b\"],"
        "\"nodePriority\":3},"
        "{\"name\":\"b4-fail\",\"kind\":\"builtin\",\"builtin\":\"fail\",\"intents\":[\"t.b\"],"
        "\"nodePriority\":4}]");
    static const char *const seq[] = {
        "INTENT_RECEIVED",   "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END", "AGENT_ATTEMPT_START",
        "AGENT_ATTEMPT_END", "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END", "AGENT_ATTEMPT_START",
        "AGENT_ATTEMPT_END", "ROUTER_DECISION",     "FINAL_RESPONSE",    NULL,
    };
    static const char *const names[] = { "b1-echo", "b2-upper", "b3-crash", "b4-fail" };
    static const char *const status[] = { "ok", "ok", "error", "error" };
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 0,
                      ARGS("route", "t.b", "-s", "broadcast", "-c", cfg, "-p", "{\"w\":\"abc\"}"));
    /* the last success is b2-upper (later ones failed) */
    expect_str(resp, "status", "success");
    expect_str(resp, "metadata.agent", "b2-upper");
    expect_str(resp, "payload.w", "ABC");
    tu_run_free(&r);

    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_events(rec, seq, 1);
    for (int i = 0; i < 4; i++) {
        expect_start(rec, 1 + 2 * i, names[i], "BROADCAST", -1);
        /* BROADCAST END never carries "exception", even for the crash */
        expect_end(rec, 2 + 2 * i, names[i], status[i], 0);
    }
    expect_str(rec, "routerDecision.agent", "b2-upper");
    expect_str(rec, "routerDecision.reason", "broadcast last success");
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_broadcast_all_fail(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(
        c, "b.json",
        "\"agents\":["
        "{\"name\":\"b1-fail\",\"kind\":\"builtin\",\"builtin\":\"fail\",\"intents\":[\"t.b\"],"
        "\"nodePriority\":1},"
        "{\"name\":\"b2-crash\",\"kind\":\"builtin\",\"builtin\":\"crash\",\"intents\":[\"t.b\"],"
        "\"message\":\"kaput\",\"nodePriority\":2}]");
    static const char *const seq[] = {
        "INTENT_RECEIVED",   "AGENT_ATTEMPT_START", "AGENT_ATTEMPT_END", "AGENT_ATTEMPT_START",
        "AGENT_ATTEMPT_END", "ROUTER_DECISION",     "FINAL_RESPONSE",    NULL,
    };
    struct tu_run r;
    cJSON *resp, *rec;

    resp = route_json(c, &r, 1, ARGS("route", "t.b", "-s", "broadcast", "-c", cfg));
    expect_str(resp, "metadata.agent", "broadcast");
    expect_error_obj(jget(resp, "error"), "INTERNAL_AGENT_ERROR");
    expect_str(resp, "error.message", "kaput");
    tu_run_free(&r);
    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_events(rec, seq, 1);
    expect_end(rec, 2, "b1-fail", "error", 0);
    expect_end(rec, 4, "b2-crash", "error", 0);
    expect_str(rec, "routerDecision.agent", "broadcast");
    expect_str(rec, "routerDecision.reason", "routing failed");
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

/* ======================================================================
 * 7. PARALLEL
 * ==================================================================== */

/* PARALLEL events: RECEIVED, (START,END) pairs in completion order up to the
 * winner, DECISION, FINAL. Returns the number of pairs. */
static int
expect_parallel_shape(const cJSON *rec)
{
    const cJSON *events = jget(rec, "events");
    int n = cJSON_GetArraySize(events), pairs;

    assert_true(n >= 5);
    assert_int_equal((n - 3) % 2, 0);
    pairs = (n - 3) / 2;
    expect_str(rec, "events.0.type", "INTENT_RECEIVED");
    for (int i = 0; i < pairs; i++) {
        const cJSON *s, *e;
        char p[32];
        snprintf(p, sizeof(p), "%d", 1 + 2 * i);
        s = jget(events, p);
        snprintf(p, sizeof(p), "%d", 2 + 2 * i);
        e = jget(events, p);
        expect_str(s, "type", "AGENT_ATTEMPT_START");
        expect_str(e, "type", "AGENT_ATTEMPT_END");
        expect_str(s, "payload.strategy", "PARALLEL");
        expect_absent(s, "payload.index");
        expect_str(e, "payload.agent", cJSON_GetStringValue(jget(s, "payload.agent")));
        assert_int_equal((int)expect_num(s, "seq"), 2 + 2 * i);
        assert_int_equal((int)expect_num(e, "seq"), 3 + 2 * i);
        /* a branch ends after it starts */
        assert_true(expect_num(e, "offsetUs") >= expect_num(s, "offsetUs"));
    }
    {
        char p[32];
        snprintf(p, sizeof(p), "events.%d.type", n - 2);
        expect_str(rec, p, "ROUTER_DECISION");
        snprintf(p, sizeof(p), "events.%d.type", n - 1);
        expect_str(rec, p, "FINAL_RESPONSE");
    }
    return pairs;
}

static void
test_parallel_success(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(
        c, "p.json",
        "\"require_determinism\":false,\"compliance\":{\"mode\":\"development\"},"
        "\"agents\":["
        "{\"name\":\"p-fail\",\"kind\":\"builtin\",\"builtin\":\"fail\",\"intents\":[\"t.p\"],"
        "\"nodePriority\":1},"
        "{\"name\":\"p-slow\",\"kind\":\"builtin\",\"builtin\":\"slow\",\"delay_ms\":300,"
        "\"intents\":[\"t.p\"],\"nodePriority\":2}]");
    struct tu_run r;
    cJSON *resp, *rec;
    int pairs;
    char p[64];

    resp =
        route_json(c, &r, 0, ARGS("route", "t.p", "-s", "parallel", "-c", cfg, "-p", "{\"x\":1}"));
    expect_str(resp, "status", "success");
    expect_str(resp, "metadata.agent", "p-slow");
    assert_int_equal((int)expect_num(resp, "payload.x"), 1);
    tu_run_free(&r);

    rec = load_only_record(tpath(c, "rec"), NULL);
    pairs = expect_parallel_shape(rec);
    assert_true(pairs == 1 || pairs == 2);
    /* the winner's pair is the last one */
    snprintf(p, sizeof(p), "events.%d.payload.agent", 2 * pairs);
    expect_str(rec, p, "p-slow");
    expect_end(rec, 2 * pairs, "p-slow", "ok", 0);
    if (pairs == 2) /* the failure finished first (the usual case) */
        expect_end(rec, 2, "p-fail", "error", 0);
    expect_bool(ev_payload(rec, 0), "require_determinism", 0);
    expect_str(rec, "routerDecision.agent", "p-slow");
    expect_str(rec, "routerDecision.reason", "parallel first success");
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_parallel_all_fail(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(
        c, "p.json",
        "\"require_determinism\":false,\"compliance\":{\"mode\":\"development\"},"
        "\"agents\":["
        "{\"name\":\"p1\",\"kind\":\"builtin\",\"builtin\":\"fail\",\"intents\":[\"t.p\"]},"
        "{\"name\":\"p2\",\"kind\":\"builtin\",\"builtin\":\"fail\",\"intents\":[\"t.p\"]},"
        "{\"name\":\"p3\",\"kind\":\"builtin\",\"builtin\":\"crash\",\"intents\":[\"t.p\"]}]");
    struct tu_run r;
    cJSON *resp, *rec;
    int seen[3] = { 0, 0, 0 };

    resp = route_json(c, &r, 1, ARGS("route", "t.p", "-s", "parallel", "-c", cfg));
    expect_str(resp, "status", "error");
    expect_str(resp, "metadata.agent", "parallel");
    assert_true(cJSON_IsObject(jget(resp, "error")));
    tu_run_free(&r);

    rec = load_only_record(tpath(c, "rec"), NULL);
    /* no winner: every branch is consumed and recorded */
    assert_int_equal(expect_parallel_shape(rec), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *end = ev_payload(rec, 2 + 2 * i);
        const char *a = cJSON_GetStringValue(jget(end, "agent"));
        expect_str(end, "status", "error");
        assert_non_null(a);
        assert_true(strcmp(a, "p1") == 0 || strcmp(a, "p2") == 0 || strcmp(a, "p3") == 0);
        seen[a[1] - '1']++;
        /* a crash in a PARALLEL branch carries "exception" */
        if (strcmp(a, "p3") == 0)
            assert_true(cJSON_IsString(jget(end, "exception")));
        else
            expect_absent(end, "exception");
    }
    assert_int_equal(seen[0] + seen[1] + seen[2], 3);
    assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    expect_str(rec, "routerDecision.agent", "parallel");
    expect_str(rec, "routerDecision.reason", "routing failed");
    /* the error is the last consumed branch's */
    {
        const char *last = cJSON_GetStringValue(jget(ev_payload(rec, 6), "agent"));
        expect_error_obj(jget(resp, "error"),
                         strcmp(last, "p3") == 0 ? "INTERNAL_AGENT_ERROR" : "AGENT_ERROR");
    }
    expect_record_consistent(rec, resp);
    expect_verify_ok(c, tpath(c, "rec"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

/* ======================================================================
 * 8. deterministic order
 * ==================================================================== */

static const char order_agents[] =
    "\"agents\":["
    "{\"name\":\"zeta\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"t.o\"],"
    "\"nodePriority\":10},"
    "{\"name\":\"remote1\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"t.o\"],"
    "\"nodeId\":\"node-2\",\"nodePriority\":1},"
    "{\"name\":\"alpha\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"t.o\"],"
    "\"nodePriority\":10}]";

static void
test_agents_order(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(c, "o.json", order_agents);
    static const char *const want[] = { "alpha", "zeta", "remote1" };
    struct tu_run r;
    cJSON *arr;
    const char *p1, *p2, *p3;

    RUN(c, &r, "agents", "--json", "--config", cfg);
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_true(cJSON_IsArray(arr));
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *a = cJSON_GetArrayItem(arr, i);
        expect_str(a, "name", want[i]);
        expect_str(a, "kind", "builtin");
        expect_str(a, "capabilities.0.intent.name", "t.o");
        assert_true(cJSON_IsNumber(jget(a, "nodePriority")));
    }
    expect_str(cJSON_GetArrayItem(arr, 2), "nodeId", "node-2");
    assert_true(cJSON_IsNull(jget(cJSON_GetArrayItem(arr, 0), "nodeId")));
    assert_int_equal((int)expect_num(cJSON_GetArrayItem(arr, 2), "nodePriority"), 1);
    cJSON_Delete(arr);
    tu_run_free(&r);

    /* the text table lists them in the same order */
    RUN(c, &r, "agents", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    p1 = strstr(r.out, "alpha");
    p2 = strstr(r.out, "zeta");
    p3 = strstr(r.out, "remote1");
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p3);
    assert_true(p1 < p2 && p2 < p3);
    EXPECT_CONTAINS(r.out, cfg);
    EXPECT_CONTAINS(r.out, "node-2");
    tu_run_free(&r);
}

static void
test_direct_deterministic(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(c, "o.json", order_agents);
    struct tu_run r;

    for (int i = 0; i < 5; i++) {
        cJSON *resp = route_json(c, &r, 0, ARGS("route", "t.o", "-c", cfg, "-q"));
        expect_str(resp, "metadata.agent", "alpha");
        tu_run_free(&r);
        cJSON_Delete(resp);
    }
    assert_int_equal(tu_count_files(tpath(c, "rec"), ".json"), 5);
    /* every record says alpha */
    {
        DIR *d = opendir(tpath(c, "rec"));
        struct dirent *de;
        int n = 0;
        assert_non_null(d);
        while ((de = readdir(d)) != NULL) {
            char path[PATH_MAX];
            cJSON *rec;
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", tpath(c, "rec"), de->d_name);
            rec = parse_file(path);
            expect_str(rec, "routerDecision.agent", "alpha");
            expect_str(rec, "routerDecision.reason", "direct match");
            expect_events(rec, seq_direct, 1);
            cJSON_Delete(rec);
            n++;
        }
        closedir(d);
        assert_int_equal(n, 5);
    }
    expect_verify_ok(c, tpath(c, "rec"), 5);
}

static void
test_fallback_uses_sort_order(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(c, "o.json", order_agents);
    struct tu_run r;
    cJSON *resp, *rec;

    /* BROADCAST visits all three in the deterministic order */
    resp = route_json(c, &r, 0, ARGS("route", "t.o", "-s", "broadcast", "-c", cfg));
    expect_str(resp, "metadata.agent", "remote1"); /* the last success */
    tu_run_free(&r);
    rec = load_only_record(tpath(c, "rec"), NULL);
    expect_start(rec, 1, "alpha", "BROADCAST", -1);
    expect_start(rec, 3, "zeta", "BROADCAST", -1);
    expect_start(rec, 5, "remote1", "BROADCAST", -1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

/* ======================================================================
 * 9. records verify on the fixtures
 * ==================================================================== */

static void
test_verify_reference_records(void **state)
{
    struct ctx *c = *state;
    char dir[PATH_MAX + 64], want[64], line[256];
    struct tu_run r;
    int n;

    snprintf(dir, sizeof(dir), "%s/reference-records", g_data);
    n = tu_count_files(dir, ".json");
    assert_true(n > 0);
    RUN(c, &r, "records", "verify", "--dir", dir);
    EXPECT_EXIT(&r, 0);
    snprintf(want, sizeof(want), "%d passed, 0 failed", n);
    assert_string_equal(last_line(r.out, line, sizeof(line)), want);
    assert_null(strstr(r.out, "FAIL"));
    assert_int_equal(count_lines(r.out), 1);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(dir, ".json"), n);
}

static void
test_verify_reference_by_id(void **state)
{
    struct ctx *c = *state;
    char dir[PATH_MAX + 64], id[256], line[256];
    struct tu_run r;
    DIR *d;
    struct dirent *de;

    snprintf(dir, sizeof(dir), "%s/reference-records", g_data);
    d = opendir(dir);
    assert_non_null(d);
    id[0] = '\0';
    while ((de = readdir(d)) != NULL && id[0] == '\0') {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] != '.' && len > 5)
            snprintf(id, sizeof(id), "%.*s", (int)(len - 5), de->d_name);
    }
    closedir(d);
    assert_true(id[0] != '\0');
    RUN(c, &r, "records", "verify", "-d", dir, id);
    EXPECT_EXIT(&r, 0);
    assert_string_equal(last_line(r.out, line, sizeof(line)), "1 passed, 0 failed");
    tu_run_free(&r);
    /* a missing id fails; an invalid one is a usage error */
    RUN(c, &r, "records", "verify", "-d", dir, id, "00000000-0000-0000-0000-000000000000");
    EXPECT_EXIT(&r, 1);
    assert_string_equal(last_line(r.out, line, sizeof(line)), "1 passed, 1 failed");
    EXPECT_CONTAINS(r.out, "FAIL 00000000-0000-0000-0000-000000000000");
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", "-d", dir, "../etc");
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "not a valid execution id");
    tu_run_free(&r);
}

struct snapshot {
    char name[256];
    char *data;
    size_t len;
};

static int
snapshot_dir(const char *dir, struct snapshot *snap, int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        assert_true(n < max);
        snprintf(snap[n].name, sizeof(snap[n].name), "%s", de->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        snap[n].data = tu_read_file(path, &snap[n].len);
        assert_non_null(snap[n].data);
        n++;
    }
    closedir(d);
    return n;
}

static void
expect_snapshot_unchanged(const char *dir, struct snapshot *before, int n)
{
    struct snapshot after[16];
    int m = snapshot_dir(dir, after, 16);

    assert_int_equal(m, n);
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int j = 0; j < m; j++) {
            if (strcmp(before[i].name, after[j].name) != 0)
                continue;
            found = 1;
            assert_int_equal(before[i].len, after[j].len);
            assert_memory_equal(before[i].data, after[j].data, before[i].len);
        }
        assert_true(found);
    }
    for (int j = 0; j < m; j++)
        free(after[j].data);
}

static void
test_verify_truncated(void **state)
{
    struct ctx *c = *state;
    char dir[PATH_MAX + 64], line[256], want[64];
    struct snapshot before[16];
    struct tu_run r;
    int n;

    snprintf(dir, sizeof(dir), "%s/reference-truncated", g_data);
    n = snapshot_dir(dir, before, 16);
    assert_true(n > 0);
    RUN(c, &r, "records", "verify", "--dir", dir);
    EXPECT_EXIT(&r, 1);
    snprintf(want, sizeof(want), "0 passed, %d failed", n);
    assert_string_equal(last_line(r.out, line, sizeof(line)), want);
    assert_int_equal(count_lines(r.out), n + 1);
    for (int i = 0; i < n; i++) {
        char prefix[300];
        const char *p;
        size_t id_len = strlen(before[i].name) - 5;
        snprintf(prefix, sizeof(prefix), "FAIL %.*s: ", (int)id_len, before[i].name);
        p = strstr(r.out, prefix);
        if (p == NULL)
            print_message("# no line for %s in:\n%s\n", before[i].name, r.out);
        assert_non_null(p);
        /* the reason names the position of the damage */
        p += strlen(prefix);
        snprintf(line, sizeof(line), "%.*s", (int)strcspn(p, "\n"), p);
        EXPECT_CONTAINS(line, "line ");
    }
    tu_run_free(&r);
    /* read-only: byte-identical afterwards, nothing added or removed */
    expect_snapshot_unchanged(dir, before, n);
    assert_int_equal(tu_count_files(dir, ".json"), n);
    for (int i = 0; i < n; i++)
        free(before[i].data);
}

/* ======================================================================
 * 10. records list
 * ==================================================================== */

static void
test_list_reference(void **state)
{
    struct ctx *c = *state;
    char dir[PATH_MAX + 64];
    struct tu_run r;
    cJSON *arr, *it;
    const char *prev = NULL;
    int n;

    snprintf(dir, sizeof(dir), "%s/reference-records", g_data);
    n = tu_count_files(dir, ".json");

    RUN(c, &r, "records", "list", "--dir", dir, "--json");
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_true(cJSON_IsArray(arr));
    assert_int_equal(cJSON_GetArraySize(arr), n);
    cJSON_ArrayForEach(it, arr)
    {
        const char *created = cJSON_GetStringValue(jget(it, "createdUtcIso"));
        const char *st = cJSON_GetStringValue(jget(it, "status"));
        assert_true(cJSON_IsString(jget(it, "executionId")));
        assert_non_null(created);
        assert_true(cJSON_IsString(jget(it, "intent")));
        assert_true(cJSON_IsString(jget(it, "agent")));
        assert_true(cJSON_IsString(jget(it, "strategy")));
        assert_non_null(st);
        assert_true(strcmp(st, "ok") == 0 || strcmp(st, "error") == 0 ||
                    strcmp(st, "incomplete") == 0);
        if (strcmp(st, "ok") == 0)
            assert_true(cJSON_IsNull(jget(it, "errorCode")));
        else if (strcmp(st, "error") == 0)
            assert_true(cJSON_IsString(jget(it, "errorCode")));
        assert_true(cJSON_IsNumber(jget(it, "attempts")));
        assert_true(cJSON_IsNumber(jget(it, "events")));
        assert_true(expect_num(it, "events") >= 1);
        assert_non_null(jget(it, "durationUs"));
        /* newest first */
        if (prev != NULL)
            assert_true(strcmp(prev, created) >= 0);
        prev = created;
    }
    tu_run_free(&r);

    RUN(c, &r, "records", "list", "--dir", dir, "--json", "--limit", "2");
    EXPECT_EXIT(&r, 0);
    {
        cJSON *two = parse_text(r.out);
        assert_int_equal(cJSON_GetArraySize(two), 2);
        /* the first two of the full listing */
        assert_true(cJSON_Compare(cJSON_GetArrayItem(two, 0), cJSON_GetArrayItem(arr, 0), 1));
        assert_true(cJSON_Compare(cJSON_GetArrayItem(two, 1), cJSON_GetArrayItem(arr, 1), 1));
        cJSON_Delete(two);
    }
    tu_run_free(&r);

    RUN(c, &r, "records", "list", "--dir", dir, "--json", "--limit", "0");
    EXPECT_EXIT(&r, 0);
    {
        cJSON *none = parse_text(r.out);
        assert_true(cJSON_IsArray(none));
        assert_int_equal(cJSON_GetArraySize(none), 0);
        cJSON_Delete(none);
    }
    tu_run_free(&r);

    /* text: a header and one line per record */
    RUN(c, &r, "records", "list", "--dir", dir);
    EXPECT_EXIT(&r, 0);
    assert_int_equal(count_lines(r.out), n + 1);
    EXPECT_CONTAINS(r.out, "ID");
    EXPECT_CONTAINS(r.out, cJSON_GetStringValue(jget(arr, "0.executionId")));
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--dir", dir, "-l", "2");
    EXPECT_EXIT(&r, 0);
    assert_int_equal(count_lines(r.out), 3);
    EXPECT_CONTAINS(r.out, cJSON_GetStringValue(jget(arr, "1.executionId")));
    assert_null(strstr(r.out, cJSON_GetStringValue(jget(arr, "2.executionId"))));
    tu_run_free(&r);
    cJSON_Delete(arr);
}

static void
test_list_corrupt(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    char src[PATH_MAX + 320], dst[PATH_MAX + 320], good[256];
    const char *bad_id = "a7bf885b-fdc4-4482-8808-bf53bc55f2fa";
    struct tu_run r;
    cJSON *arr, *it;
    char *data;
    size_t len;
    int corrupt = 0, ok = 0;

    RUN(c, &r, "route", "demo.echo", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    only_record_id(rec_dir, good);
    snprintf(src, sizeof(src), "%s/reference-truncated/%s.json", g_data, bad_id);
    snprintf(dst, sizeof(dst), "%s/%s.json", rec_dir, bad_id);
    data = tu_read_file(src, &len);
    assert_non_null(data);
    assert_int_equal(tu_write_file(dst, data, len, 0600), 0);
    free(data);

    RUN(c, &r, "records", "list", "--dir", rec_dir, "--json");
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    cJSON_ArrayForEach(it, arr)
    {
        const char *id = cJSON_GetStringValue(jget(it, "executionId"));
        assert_non_null(id);
        if (strcmp(id, bad_id) == 0) {
            expect_str(it, "status", "corrupt");
            assert_true(cJSON_IsString(jget(it, "error")));
            EXPECT_CONTAINS(cJSON_GetStringValue(jget(it, "error")), "line ");
            corrupt++;
        } else {
            assert_string_equal(id, good);
            expect_str(it, "status", "ok");
            expect_str(it, "intent", "demo.echo");
            expect_str(it, "agent", "echo-a");
            expect_str(it, "strategy", "direct");
            assert_int_equal((int)expect_num(it, "attempts"), 1);
            assert_int_equal((int)expect_num(it, "events"), 6);
            ok++;
        }
    }
    assert_int_equal(corrupt, 1);
    assert_int_equal(ok, 1);
    cJSON_Delete(arr);
    tu_run_free(&r);

    RUN(c, &r, "records", "list", "--dir", rec_dir);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "CORRUPT");
    EXPECT_CONTAINS(r.out, bad_id);
    EXPECT_CONTAINS(r.out, good);
    tu_run_free(&r);

    /* verify: one passes, one fails */
    RUN(c, &r, "records", "verify", "--dir", rec_dir);
    EXPECT_EXIT(&r, 1);
    {
        char line[256];
        assert_string_equal(last_line(r.out, line, sizeof(line)), "1 passed, 1 failed");
    }
    tu_run_free(&r);
    assert_int_equal(tu_count_files(rec_dir, NULL), 2);
}

static void
test_list_empty_and_missing_dir(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    cJSON *arr;

    assert_int_equal(mkdir(tpath(c, "empty"), 0700), 0);
    RUN(c, &r, "records", "list", "--dir", tpath(c, "empty"), "--json");
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_true(cJSON_IsArray(arr));
    assert_int_equal(cJSON_GetArraySize(arr), 0);
    cJSON_Delete(arr);
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", "--dir", tpath(c, "empty"));
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "0 passed, 0 failed");
    tu_run_free(&r);

    /* read-only commands never create the directory */
    RUN(c, &r, "records", "list", "--dir", tpath(c, "missing"));
    EXPECT_EXIT(&r, 1);
    assert_true(r.err[0] != '\0');
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", "--dir", tpath(c, "missing"));
    EXPECT_EXIT(&r, 1);
    tu_run_free(&r);
    RUN(c, &r, "retrieve", "x", "--dir", tpath(c, "missing"));
    EXPECT_EXIT(&r, 1);
    tu_run_free(&r);
    assert_int_equal(access(tpath(c, "missing"), F_OK), -1);
}

/* ======================================================================
 * 11. records show
 * ==================================================================== */

static void
test_show(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    char id[256];
    cJSON *shown, *ondisk;

    RUN(c, &r, "route", "demo.echo", "-p", "{\"q\":\"\xc3\xa9\"}", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    ondisk = load_only_record(rec_dir, id);

    RUN(c, &r, "records", "show", id, "--dir", rec_dir);
    EXPECT_EXIT(&r, 0);
    shown = parse_text(r.out);
    expect_str(shown, "header.executionId", id);
    assert_true(cJSON_Compare(shown, ondisk, 1));
    tu_run_free(&r);
    /* option before the id works too */
    RUN(c, &r, "records", "show", "-d", rec_dir, id);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    cJSON_Delete(shown);
    cJSON_Delete(ondisk);
}

static void
test_show_reference_record(void **state)
{
    struct ctx *c = *state;
    const char *id = "4b51bbef-0dfe-45a0-ac1e-5c91a6fbd0d8";
    char dir[PATH_MAX + 64];
    struct tu_run r;
    cJSON *shown, *ondisk;

    snprintf(dir, sizeof(dir), "%s/reference-records", g_data);
    ondisk = load_record(dir, id);
    RUN(c, &r, "records", "show", id, "--dir", dir);
    EXPECT_EXIT(&r, 0);
    shown = parse_text(r.out);
    expect_str(shown, "header.executionId", id);
    assert_true(cJSON_Compare(shown, ondisk, 1));
    tu_run_free(&r);
    cJSON_Delete(shown);
    cJSON_Delete(ondisk);
}

static void
test_show_missing_and_invalid(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    static const char *const bad[] = { "../x", "a/b", ".hidden", "..", "x y", "" };
    struct tu_run r;
    int before_rec, before_top;

    RUN(c, &r, "route", "demo.echo", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    write_file(c, "x.json", "{}");
    before_rec = tu_count_files(rec_dir, NULL);
    before_top = tu_count_files(c->dir, NULL);

    RUN(c, &r, "records", "show", "01234567-89ab-7def-8123-456789abcdef", "--dir", rec_dir);
    EXPECT_EXIT(&r, 1);
    assert_string_equal(r.out, "");
    EXPECT_CONTAINS(r.err, "01234567-89ab-7def-8123-456789abcdef");
    tu_run_free(&r);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        RUN(c, &r, "records", "show", bad[i], "--dir", rec_dir);
        EXPECT_EXIT(&r, 2);
        assert_string_equal(r.out, "");
        EXPECT_CONTAINS(r.err, "not a valid execution id");
        tu_run_free(&r);
        RUN(c, &r, "retrieve", bad[i], "--dir", rec_dir);
        EXPECT_EXIT(&r, 2);
        EXPECT_CONTAINS(r.err, "not a valid execution id");
        tu_run_free(&r);
    }
    /* nothing created or deleted */
    assert_int_equal(tu_count_files(rec_dir, NULL), before_rec);
    assert_int_equal(tu_count_files(c->dir, NULL), before_top);
}

/* ======================================================================
 * 12. retrieve
 * ==================================================================== */

static void
test_retrieve(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    char id[256];
    cJSON *out, *rec, *resp;

    resp = route_json(
        c, &r, 0, ARGS("route", "demo.echo", "-p", "{\"t\":\"original\"}", "-q", "-d", rec_dir));
    tu_run_free(&r);
    rec = load_only_record(rec_dir, id);

    RUN(c, &r, "retrieve", id, "--dir", rec_dir);
    EXPECT_EXIT(&r, 0);
    out = parse_text(r.out);
    expect_str(out, "execution_id", id);
    assert_true(cJSON_Compare(jget(out, "response"), jget(rec, "finalResponse"), 1));
    assert_true(cJSON_Compare(jget(out, "response"), resp, 1));
    expect_bool(out, "envelope_hash_ok", 1);
    assert_true(cJSON_IsString(jget(out, "retrieval_timestamp")));
    assert_true(cJSON_IsString(jget(out, "warning")));
    EXPECT_CONTAINS(cJSON_GetStringValue(jget(out, "warning")), "recorded response");
    tu_run_free(&r);
    /* retrieving runs nothing and writes nothing */
    assert_int_equal(tu_count_files(rec_dir, NULL), 1);
    cJSON_Delete(out);

    /* an error record is retrievable as well: its stored error response */
    cJSON_Delete(rec);
    cJSON_Delete(resp);
    tu_rmtree(rec_dir);
    resp = route_json(c, &r, 1, ARGS("route", "demo.fail", "-q", "-d", rec_dir));
    tu_run_free(&r);
    rec = load_only_record(rec_dir, id);
    RUN(c, &r, "retrieve", id, "--dir", rec_dir);
    EXPECT_EXIT(&r, 0);
    out = parse_text(r.out);
    assert_true(cJSON_Compare(jget(out, "response"), resp, 1));
    expect_error_obj(jget(out, "response.error"), "AGENT_ERROR");
    tu_run_free(&r);
    cJSON_Delete(out);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

/* Replace every occurrence of from by to (same length not required). */
static char *
replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    char *out, *o;

    for (const char *p = s; (p = strstr(p, from)) != NULL; p += fl)
        n++;
    out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
    assert_non_null(out);
    o = out;
    while (*s) {
        if (strncmp(s, from, fl) == 0) {
            memcpy(o, to, tl);
            o += tl;
            s += fl;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

static void
test_retrieve_tampered(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec"), *tam_dir = tpath(c, "tampered");
    struct tu_run r;
    char id[256], src[PATH_MAX], dst[PATH_MAX];
    char *text, *bad;
    cJSON *out, *orig, *mod;

    RUN(c, &r, "route", "demo.echo", "-p", "{\"t\":\"original\"}", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    only_record_id(rec_dir, id);
    snprintf(src, sizeof(src), "%s/%s.json", rec_dir, id);
    text = tu_read_file(src, NULL);
    assert_non_null(text);
    bad = replace_all(text, "\"original\"", "\"tampered\"");
    assert_string_not_equal(bad, text);
    assert_int_equal(mkdir(tam_dir, 0700), 0);
    snprintf(dst, sizeof(dst), "%s/%s.json", tam_dir, id);
    assert_int_equal(tu_write_file(dst, bad, strlen(bad), 0600), 0);
    /* the header (and so envelopeHash) is unchanged, the envelope is not */
    orig = parse_text(text);
    mod = parse_text(bad);
    assert_true(cJSON_Compare(jget(orig, "header"), jget(mod, "header"), 1));
    expect_str(mod, "envelope.payload.t", "tampered");
    cJSON_Delete(orig);
    cJSON_Delete(mod);

    RUN(c, &r, "retrieve", id, "--dir", tam_dir);
    EXPECT_EXIT(&r, 1);
    out = parse_text(r.out);
    expect_str(out, "execution_id", id);
    expect_bool(out, "envelope_hash_ok", 0);
    expect_str(out, "response.payload.t", "tampered");
    EXPECT_CONTAINS(r.err, "envelopeHash");
    cJSON_Delete(out);
    tu_run_free(&r);

    /* verify flags it too; the original still passes */
    RUN(c, &r, "records", "verify", "--dir", tam_dir);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.out, "FAIL ");
    EXPECT_CONTAINS(r.out, id);
    EXPECT_CONTAINS(r.out, "0 passed, 1 failed");
    tu_run_free(&r);
    expect_verify_ok(c, rec_dir, 1);
    /* the tampered file was not touched */
    {
        char *again = tu_read_file(dst, NULL);
        assert_non_null(again);
        assert_string_equal(again, bad);
        free(again);
    }
    free(text);
    free(bad);
}

static void
test_retrieve_missing(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;

    assert_int_equal(mkdir(tpath(c, "rec"), 0700), 0);
    RUN(c, &r, "retrieve", "01234567-89ab-7def-8123-456789abcdef", "--dir", tpath(c, "rec"));
    EXPECT_EXIT(&r, 1);
    assert_string_equal(r.out, "");
    EXPECT_CONTAINS(r.err, "01234567-89ab-7def-8123-456789abcdef");
    tu_run_free(&r);
    assert_int_equal(tu_count_files(tpath(c, "rec"), NULL), 0);
}

static void
test_retrieve_not_replayable(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    char id[256], path[PATH_MAX];
    char *text, *mod;

    RUN(c, &r, "route", "demo.echo", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    only_record_id(rec_dir, id);
    snprintf(path, sizeof(path), "%s/%s.json", rec_dir, id);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    mod = replace_all(text, "\"replayable\": true,\n    \"replayableReason\": null",
                      "\"replayable\": false,\n    \"replayableReason\": \"manually_invalidated\"");
    assert_string_not_equal(mod, text);
    assert_int_equal(tu_write_file(path, mod, strlen(mod), 0600), 0);
    RUN(c, &r, "retrieve", id, "--dir", rec_dir);
    EXPECT_EXIT(&r, 1);
    assert_string_equal(r.out, "");
    EXPECT_CONTAINS(r.err, "manually_invalidated");
    tu_run_free(&r);
    free(text);
    free(mod);
}

/* ======================================================================
 * 13. bad input
 * ==================================================================== */

static void
expect_route_usage(struct ctx *c, const char *const *args, char *const *envm, const char *in,
                   const char *msg)
{
    struct tu_run r;

    run_cmd(c, NULL, in, envm, &r, args);
    EXPECT_EXIT(&r, 2);
    assert_string_equal(r.out, "");
    if (msg != NULL)
        EXPECT_CONTAINS(r.err, msg);
    tu_run_free(&r);
}

static void
test_bad_payload(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");

    expect_route_usage(c, ARGS("route", "demo.echo", "--payload", "{bad", "-d", rec_dir), NULL,
                       NULL, "line 1, column");
    expect_route_usage(c, ARGS("route", "demo.echo", "--payload", "[1]", "-d", rec_dir), NULL, NULL,
                       "must be a JSON object");
    expect_route_usage(c, ARGS("route", "demo.echo", "--payload", "\"s\"", "-d", rec_dir), NULL,
                       NULL, "must be a JSON object");
    expect_route_usage(c, ARGS("route", "demo.echo", "--payload", "{\"a\":1} x", "-d", rec_dir),
                       NULL, NULL, "line 1, column");
    expect_route_usage(c, ARGS("route", "demo.echo", "--payload", "{\"a\":NaN}", "-d", rec_dir),
                       NULL, NULL, "line 1, column");
    expect_route_usage(c, ARGS("route", "demo.echo", "-p", "{\"a\":\n  [1,}", "-d", rec_dir), NULL,
                       NULL, "line 2, column");
    expect_route_usage(c, ARGS("route", "demo.echo", "--payload", "@missing-file", "-d", rec_dir),
                       NULL, NULL, "missing-file");
    write_file(c, "bad-payload.json", "{\"a\": }");
    expect_route_usage(c, ARGS("route", "demo.echo", "-p", "@bad-payload.json", "-d", rec_dir),
                       NULL, NULL, "bad-payload.json");
    expect_route_usage(c, ARGS("route", "demo.echo", "-p", "-", "-d", rec_dir), NULL, "[]",
                       "must be a JSON object");
    /* no record was written, no record directory created */
    assert_int_equal(access(rec_dir, F_OK), -1);
}

static void
test_payload_stdin(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp, *rec;

    run_cmd(c, NULL, "{\"a\":1}", NULL, &r, ARGS("route", "demo.echo", "-p", "-", "-d", rec_dir));
    EXPECT_EXIT(&r, 0);
    resp = parse_text(r.out);
    expect_str(resp, "status", "success");
    assert_int_equal((int)expect_num(resp, "payload.a"), 1);
    assert_int_equal(cJSON_GetArraySize(jget(resp, "payload")), 1);
    tu_run_free(&r);
    rec = load_only_record(rec_dir, NULL);
    assert_int_equal((int)expect_num(rec, "envelope.payload.a"), 1);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
}

static void
test_bad_options(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");

    expect_route_usage(c, ARGS("route", "demo.echo", "--strategy", "bogus", "-d", rec_dir), NULL,
                       NULL, "bogus");
    expect_route_usage(c, ARGS("route", "demo.echo", "--priority", "urgent", "-d", rec_dir), NULL,
                       NULL, "urgent");
    assert_int_equal(access(rec_dir, F_OK), -1);
}

static void
test_strategy_case_insensitive(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *rec;

    RUN(c, &r, "route", "demo.echo", "-s", "FALLBACK", "-q", "-d", rec_dir);
    assert_true(r.status == 0 || r.status == 1);
    tu_run_free(&r);
    rec = load_only_record(rec_dir, NULL);
    expect_str(rec, "envelope.routing.strategy", "fallback");
    expect_str(rec, "events.2.payload.strategy", "FALLBACK");
    cJSON_Delete(rec);
}

static void
expect_config_error(struct ctx *c, const char *name, const char *text, const char *msg)
{
    const char *cfg = write_file(c, name, text);
    struct tu_run r;

    RUN(c, &r, "route", "demo.echo", "--config", cfg, "-d", tpath(c, "rec"));
    EXPECT_EXIT(&r, 2);
    assert_string_equal(r.out, "");
    EXPECT_CONTAINS(r.err, name);
    if (msg != NULL)
        EXPECT_CONTAINS(r.err, msg);
    tu_run_free(&r);
    /* agents reads the same config and fails the same way */
    RUN(c, &r, "agents", "--config", cfg);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, name);
    tu_run_free(&r);
}

static void
test_bad_configs(void **state)
{
    struct ctx *c = *state;

    expect_config_error(c, "notjson.json", "this is not json\n", "line 1, column");
    expect_config_error(c, "trunc.json", "{\"agents\": [", "line 1, column");
    expect_config_error(c, "toplist.json", "[]", "must be a JSON object");
    expect_config_error(c, "unknown.json", "{\"agentz\": []}", "agentz");
    expect_config_error(c, "recdir.json", "{\"recording\": {\"dir\": \"\"}}", "recording.dir");
    expect_config_error(c, "reckey.json", "{\"recording\": {\"path\": \"x\"}}", "recording.path");
    expect_config_error(c, "det.json", "{\"require_determinism\": \"yes\"}", "require_determinism");
    expect_config_error(
        c, "dup.json",
        "{\"agents\":[{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"a\"]"
        "},"
        "{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"b\"]}]}",
        "already registered");
    expect_config_error(
        c, "nocaps.json",
        "{\"agents\":[{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[]}]}",
        "has no capabilities");
    expect_config_error(c, "nointents.json",
                        "{\"agents\":[{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"echo\"}]}",
                        "has no capabilities");
    expect_config_error(
        c, "badbuiltin.json",
        "{\"agents\":[{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"teleport\","
        "\"intents\":[\"a\"]}]}",
        "teleport");
    expect_config_error(c, "badkind.json",
                        "{\"agents\":[{\"name\":\"x\",\"kind\":\"warp\",\"intents\":[\"a\"]}]}",
                        "warp");
    expect_config_error(c, "badkey.json",
                        "{\"agents\":[{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"echo\","
                        "\"intents\":[\"a\"],"
                        "\"colour\":\"red\"}]}",
                        "colour");
    expect_config_error(
        c, "noname.json",
        "{\"agents\":[{\"kind\":\"builtin\",\"builtin\":\"echo\",\"intents\":[\"a\"]}]}",
        "agents[0].name");
    expect_config_error(c, "badprio.json",
                        "{\"agents\":[{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"echo\","
                        "\"intents\":[\"a\"],"
                        "\"nodePriority\":\"high\"}]}",
                        "nodePriority");
    expect_config_error(c, "badrate.json",
                        "{\"agents\":[{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"flaky\","
                        "\"intents\":[\"a\"],"
                        "\"fail_rate\":2}]}",
                        "fail_rate");
    expect_config_error(c, "badcode.json",
                        "{\"agents\":[{\"name\":\"x\",\"kind\":\"builtin\",\"builtin\":\"fail\","
                        "\"intents\":[\"a\"],"
                        "\"error_code\":\"OOPS\"}]}",
                        "error_code");
    /* nothing was ever recorded */
    assert_int_equal(access(tpath(c, "rec"), F_OK), -1);
}

static void
test_config_missing_file(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    char env_cfg[PATH_MAX + 32];
    char *envm[] = { env_cfg, NULL };

    RUN(c, &r, "route", "demo.echo", "--config", tpath(c, "nope.json"), "-d", tpath(c, "rec"));
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "nope.json");
    tu_run_free(&r);
    RUN(c, &r, "agents", "-c", tpath(c, "nope.json"));
    EXPECT_EXIT(&r, 2);
    tu_run_free(&r);
    /* Every command that reads the config says 2 for a config error. */
    {
        const char *const cmds[][4] = {
            { "records", "list", NULL, NULL },        { "records", "show", "0123", NULL },
            { "records", "verify", NULL, NULL },      { "records", "stats", NULL, NULL },
            { "records", "gc", "--older-than", "1" }, { "retrieve", "0123", NULL, NULL },
        };
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
            const char *args[8] = { NULL };
            size_t n = 0;
            for (size_t k = 0; k < 4 && cmds[i][k] != NULL; k++)
                args[n++] = cmds[i][k];
            args[n++] = "-c";
            args[n++] = tpath(c, "nope.json");
            args[n] = NULL;
            run_cmd(c, NULL, NULL, NULL, &r, args);
            EXPECT_EXIT(&r, 2);
            EXPECT_CONTAINS(r.err, "nope.json");
            tu_run_free(&r);
        }
    }
    /* a missing $INTENTUS_CONFIG is an error too, never the demo */
    snprintf(env_cfg, sizeof(env_cfg), "INTENTUS_CONFIG=%s", tpath(c, "gone.json"));
    RUN_ENV(c, &r, envm, "route", "demo.echo", "-d", tpath(c, "rec"));
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "gone.json");
    tu_run_free(&r);
    assert_int_equal(access(tpath(c, "rec"), F_OK), -1);
}

static void
test_config_env_var(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_config(
        c, "env.json",
        "\"agents\":[{\"name\":\"env-agent\",\"kind\":\"builtin\",\"builtin\":\"echo\","
        "\"intents\":[\"env.x\"]}]");
    char env_cfg[PATH_MAX + 32];
    char *envm[] = { env_cfg, NULL };
    struct tu_run r;
    cJSON *resp, *arr;

    snprintf(env_cfg, sizeof(env_cfg), "INTENTUS_CONFIG=%s", cfg);
    run_cmd(c, NULL, NULL, envm, &r, ARGS("route", "env.x", "-q"));
    EXPECT_EXIT(&r, 0);
    resp = parse_text(r.out);
    expect_str(resp, "metadata.agent", "env-agent");
    cJSON_Delete(resp);
    tu_run_free(&r);
    /* recorded where that config says */
    assert_int_equal(tu_count_files(tpath(c, "rec"), ".json"), 1);

    run_cmd(c, NULL, NULL, envm, &r, ARGS("agents", "--json"));
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    expect_str(arr, "0.name", "env-agent");
    cJSON_Delete(arr);
    tu_run_free(&r);

    /* the demo's intents are unknown under this config */
    run_cmd(c, NULL, NULL, envm, &r, ARGS("route", "demo.echo", "-n"));
    EXPECT_EXIT(&r, 1);
    resp = parse_text(r.out);
    expect_str(resp, "error.code", "CAPABILITY_NOT_FOUND");
    cJSON_Delete(resp);
    tu_run_free(&r);

    /* records commands take the directory from it too */
    run_cmd(c, NULL, NULL, envm, &r, ARGS("records", "verify"));
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "1 passed, 0 failed");
    tu_run_free(&r);

    /* --config wins over $INTENTUS_CONFIG */
    {
        const char *other = write_file(
            c, "other.json",
            "{\"agents\":[{\"name\":\"other-agent\",\"kind\":\"builtin\",\"builtin\":\"echo\","
            "\"intents\":[\"env.x\"]}]}");
        run_cmd(c, NULL, NULL, envm, &r, ARGS("route", "env.x", "-n", "-c", other));
        EXPECT_EXIT(&r, 0);
        resp = parse_text(r.out);
        expect_str(resp, "metadata.agent", "other-agent");
        cJSON_Delete(resp);
        tu_run_free(&r);
    }
}

static void
test_config_search_order(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    cJSON *arr;
    char xdg_dir[PATH_MAX];

    /* no file anywhere: the built-in demo */
    RUN(c, &r, "agents", "--json");
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_int_equal(cJSON_GetArraySize(arr), 5);
    /* routing order of the demo: nodePriority 5, 10, 20, then the 100s by name */
    expect_str(arr, "0.name", "upper-u");
    expect_str(arr, "1.name", "echo-a");
    expect_str(arr, "2.name", "flaky-b");
    expect_str(arr, "3.name", "broken-d");
    expect_str(arr, "4.name", "slow-c");
    cJSON_Delete(arr);
    tu_run_free(&r);
    RUN(c, &r, "agents");
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "built-in demo configuration");
    tu_run_free(&r);

    /* $XDG_CONFIG_HOME/intentus/config.json */
    snprintf(xdg_dir, sizeof(xdg_dir), "%s/intentus", c->dir);
    assert_int_equal(mkdir(xdg_dir, 0700), 0);
    write_file(c, "intentus/config.json",
               "{\"agents\":[{\"name\":\"xdg-agent\",\"kind\":\"builtin\",\"builtin\":\"echo\","
               "\"intents\":[\"a\"]}]}");
    RUN(c, &r, "agents", "--json");
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    expect_str(arr, "0.name", "xdg-agent");
    cJSON_Delete(arr);
    tu_run_free(&r);

    /* ./intentus.json beats it */
    write_file(c, "intentus.json",
               "{\"agents\":[{\"name\":\"cwd-agent\",\"kind\":\"builtin\",\"builtin\":\"echo\","
               "\"intents\":[\"a\"]}]}");
    RUN(c, &r, "agents", "--json");
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    expect_str(arr, "0.name", "cwd-agent");
    cJSON_Delete(arr);
    tu_run_free(&r);
}

/* ======================================================================
 * 14. files
 * ==================================================================== */

static void
test_file_modes(void **state)
{
    struct ctx *c = *state;
    const char *top = tpath(c, "new"), *rec_dir = tpath(c, "new/deeper/rec");
    struct tu_run r;
    struct stat st;
    char id[256], path[PATH_MAX];
    DIR *d;
    struct dirent *de;

    RUN(c, &r, "route", "demo.echo", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    only_record_id(rec_dir, id);
    snprintf(path, sizeof(path), "%s/%s.json", rec_dir, id);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    /* every directory intentus created is 0700 */
    assert_int_equal(stat(rec_dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(top, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(tpath(c, "new/deeper"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);

    /* a second save into an existing dir; no hidden temp files left over */
    RUN(c, &r, "route", "demo.fail", "-q", "-d", rec_dir);
    EXPECT_EXIT(&r, 1);
    tu_run_free(&r);
    d = opendir(rec_dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_name[0] == '.')
            print_message("# leftover hidden file %s\n", de->d_name);
        assert_true(de->d_name[0] != '.');
        snprintf(path, sizeof(path), "%s/%s", rec_dir, de->d_name);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
    }
    closedir(d);
    assert_int_equal(tu_count_files(rec_dir, NULL), 2);
    /* the file is the pretty form with no trailing newline */
    {
        size_t len;
        char *text = tu_read_file(path, &len);
        assert_non_null(text);
        assert_true(len > 2);
        assert_true(text[0] == '{' && text[1] == '\n');
        assert_int_equal(text[len - 1], '}');
        free(text);
    }
}

static void
test_show_symlink_not_followed(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec"), *other = tpath(c, "other");
    struct tu_run r;
    char id[256], target[PATH_MAX], link[PATH_MAX];
    char *before, *after;

    /* a real, valid record elsewhere */
    RUN(c, &r, "route", "demo.echo", "-q", "-d", other);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    only_record_id(other, id);
    snprintf(target, sizeof(target), "%s/%s.json", other, id);
    before = tu_read_file(target, NULL);
    assert_non_null(before);
    assert_int_equal(mkdir(rec_dir, 0700), 0);
    snprintf(link, sizeof(link), "%s/%s.json", rec_dir, id);
    assert_int_equal(symlink(target, link), 0);

    RUN(c, &r, "records", "show", id, "--dir", rec_dir);
    EXPECT_EXIT(&r, 1);
    assert_string_equal(r.out, "");
    EXPECT_CONTAINS(r.err, "symlink");
    tu_run_free(&r);
    RUN(c, &r, "retrieve", id, "--dir", rec_dir);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, "symlink");
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", "--dir", rec_dir);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.out, "symlink");
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--dir", rec_dir, "--json");
    EXPECT_EXIT(&r, 0);
    {
        cJSON *arr = parse_text(r.out);
        assert_int_equal(cJSON_GetArraySize(arr), 1);
        expect_str(arr, "0.status", "corrupt");
        cJSON_Delete(arr);
    }
    tu_run_free(&r);
    /* the link and its target are untouched */
    {
        struct stat st;
        assert_int_equal(lstat(link, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
    }
    after = tu_read_file(target, NULL);
    assert_non_null(after);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* ======================================================================
 * 15. where records go
 * ==================================================================== */

static void
test_no_record(void **state)
{
    struct ctx *c = *state;
    const char *rec_dir = tpath(c, "rec");
    struct tu_run r;
    cJSON *resp;

    resp = route_json(c, &r, 0, ARGS("route", "demo.echo", "--no-record"));
    expect_str(resp, "status", "success");
    assert_null(strstr(r.err, "recorded"));
    cJSON_Delete(resp);
    tu_run_free(&r);
    /* --dir could not take effect: a usage error, not silently ignored */
    RUN(c, &r, "route", "demo.echo", "--no-record", "--dir", rec_dir);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--dir: nothing is recorded with --no-record");
    tu_run_free(&r);
    resp = route_json(c, &r, 1, ARGS("route", "demo.fail", "-n"));
    cJSON_Delete(resp);
    tu_run_free(&r);
    /* neither the --dir nor the default directory was created */
    assert_int_equal(access(rec_dir, F_OK), -1);
    assert_int_equal(access(tpath(c, ".intentusnet"), F_OK), -1);
    assert_int_equal(tu_count_files(c->dir, NULL), 0);
}

static void
test_records_path_env(void **state)
{
    struct ctx *c = *state;
    char env_rec[PATH_MAX + 40];
    char *envm[] = { env_rec, NULL };
    const char *env_dir = tpath(c, "envrec");
    struct tu_run r;
    cJSON *arr;

    snprintf(env_rec, sizeof(env_rec), "INTENTUSNET_RECORDS_PATH=%s", env_dir);
    run_cmd(c, NULL, NULL, envm, &r, ARGS("route", "demo.echo"));
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.err, env_dir);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(env_dir, ".json"), 1);
    assert_int_equal(access(tpath(c, ".intentusnet"), F_OK), -1);

    /* records list/verify/retrieve find it through the same variable */
    run_cmd(c, NULL, NULL, envm, &r, ARGS("records", "list", "--json"));
    EXPECT_EXIT(&r, 0);
    arr = parse_text(r.out);
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    expect_str(arr, "0.intent", "demo.echo");
    cJSON_Delete(arr);
    tu_run_free(&r);
    run_cmd(c, NULL, NULL, envm, &r, ARGS("records", "verify"));
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "1 passed, 0 failed");
    tu_run_free(&r);

    /* --dir overrides it */
    run_cmd(c, NULL, NULL, envm, &r, ARGS("route", "demo.echo", "-q", "-d", tpath(c, "flag")));
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(tpath(c, "flag"), ".json"), 1);
    assert_int_equal(tu_count_files(env_dir, ".json"), 1);

    /* a config's recording.dir overrides it */
    {
        const char *cfg =
            write_config(c, "cfg.json",
                         "\"agents\":[{\"name\":\"e\",\"kind\":\"builtin\",\"builtin\":\"echo\","
                         "\"intents\":[\"demo.echo\"]}]");
        run_cmd(c, NULL, NULL, envm, &r, ARGS("route", "demo.echo", "-q", "-c", cfg));
        EXPECT_EXIT(&r, 0);
        tu_run_free(&r);
        assert_int_equal(tu_count_files(tpath(c, "rec"), ".json"), 1);
        assert_int_equal(tu_count_files(env_dir, ".json"), 1);
    }
}

static void
test_default_records_dir(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    const char *def = tpath(c, ".intentusnet/records");
    char id[256], line[256];

    /* no --dir, no config, no variable: ./.intentusnet/records */
    RUN(c, &r, "route", "demo.echo", "-q");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    only_record_id(def, id);
    RUN(c, &r, "records", "verify");
    EXPECT_EXIT(&r, 0);
    assert_string_equal(last_line(r.out, line, sizeof(line)), "1 passed, 0 failed");
    tu_run_free(&r);
    RUN(c, &r, "records", "show", id);
    EXPECT_EXIT(&r, 0);
    {
        cJSON *rec = parse_text(r.out);
        expect_str(rec, "header.executionId", id);
        cJSON_Delete(rec);
    }
    tu_run_free(&r);
    RUN(c, &r, "retrieve", id);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
}

/* ====================================================================== */

static int
group_setup(void **state)
{
    char data[PATH_MAX];

    (void)state;
    if (realpath(tu_bin(), g_bin) == NULL) {
        fprintf(stderr, "cannot find the intentus binary at %s\n", tu_bin());
        return -1;
    }
    snprintf(data, sizeof(data), "%s", tu_data_dir());
    if (realpath(data, g_data) == NULL) {
        fprintf(stderr, "cannot find the test data at %s\n", data);
        return -1;
    }
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, ctx_setup, ctx_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_version),
        T(test_help),
        T(test_no_args),
        T(test_unknown_command),
        T(test_command_help),
        T(test_usage_errors),
        T(test_route_direct_success),
        T(test_route_envelope_options),
        T(test_route_payload_file_and_upper),
        T(test_route_direct_agent_error),
        T(test_route_unknown_intent),
        T(test_route_target_not_capable),
        T(test_route_target_capable),
        T(test_route_parallel_blocked),
        T(test_route_direct_crash),
        T(test_route_failures_all_verify),
        T(test_fallback_chain),
        T(test_fallback_all_fail),
        T(test_fallback_last_crash_is_internal_error),
        T(test_fallback_agents_extension),
        T(test_fallback_agents_order_respected),
        T(test_fallback_agents_none_usable),
        T(test_broadcast),
        T(test_broadcast_all_fail),
        T(test_parallel_success),
        T(test_parallel_all_fail),
        T(test_agents_order),
        T(test_direct_deterministic),
        T(test_fallback_uses_sort_order),
        T(test_verify_reference_records),
        T(test_verify_reference_by_id),
        T(test_verify_truncated),
        T(test_list_reference),
        T(test_list_corrupt),
        T(test_list_empty_and_missing_dir),
        T(test_show),
        T(test_show_reference_record),
        T(test_show_missing_and_invalid),
        T(test_retrieve),
        T(test_retrieve_tampered),
        T(test_retrieve_missing),
        T(test_retrieve_not_replayable),
        T(test_bad_payload),
        T(test_payload_stdin),
        T(test_bad_options),
        T(test_strategy_case_insensitive),
        T(test_bad_configs),
        T(test_config_missing_file),
        T(test_config_env_var),
        T(test_config_search_order),
        T(test_file_modes),
        T(test_show_symlink_not_followed),
        T(test_no_record),
        T(test_records_path_env),
        T(test_default_records_dir),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
