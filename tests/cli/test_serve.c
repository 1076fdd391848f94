/* End-to-end tests of `intentus serve` (the real binary, $INTENTUS_BIN) on
 * a free 127.0.0.1 port, with real clients: curl (the binary), the Python
 * reference's HTTPTransport (a counted skip when it cannot be imported) and
 * `intentus route --server`. Every wait is bounded and the server is always
 * killed at the end of a test. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
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

#include "tests/support/loadgen.h"
#include "tests/support/serve_testutil.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 30000
#define TOKEN_ALICE "alice-secret-7f3a9c"
#define TOKEN_BOB "bob-secret-2b8e41"
#define TOKEN_OPS "ops-secret-c0ffee"

/* The test config: alice (tenant acme, user), bob (tenant acme), ops
 * (admin); an echo agent, a failing agent with a breaker, a slow agent and
 * a 3-per-minute rule. extra_serve is spliced into "serve". */
static void
write_config(struct tu_serve *c, bool with_alice, const char *extra_serve)
{
    char a[65], b[65], o[65], alice[256] = "", text[PATH_MAX + 2048];

    tu_sha256_hex(TOKEN_ALICE, a);
    tu_sha256_hex(TOKEN_BOB, b);
    tu_sha256_hex(TOKEN_OPS, o);
    if (with_alice)
        snprintf(alice, sizeof(alice),
                 "{\"sha256\": \"%s\", \"subject\": \"alice\", \"tenants\": [\"acme\"], "
                 "\"roles\": [\"user\"]},\n  ",
                 a);
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

static int
n_records(struct tu_serve *c)
{
    int n = tu_count_files(c->records, ".json");
    return n < 0 ? 0 : n;
}

static bool
file_has(const char *path, const char *needle)
{
    char *t = tu_read_file(path, NULL);
    bool has = t != NULL && strstr(t, needle) != NULL;
    free(t);
    return has;
}

static const char route_echo[] = "{\"intent\":\"demo.echo\",\"payload\":{\"x\":1}}";

static void
test_auth_missing_wrong(void **state)
{
    struct tu_serve *c = *state;
    char *out = NULL;

    tu_serve_start(c, NULL);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", NULL, route_echo, &out), 401);
    assert_non_null(strstr(out, "\"UNAUTHORIZED\""));
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", "not-a-token", route_echo, &out), 401);
    assert_non_null(strstr(out, "\"error\""));
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/intent", "not-a-token", "{}", &out), 401);
    assert_non_null(strstr(out, "\"messageType\":\"error\""));
    free(out);
    /* control endpoints need the admin role */
    assert_int_equal(tu_serve_http(c, "GET", "/v1/agents", TOKEN_ALICE, NULL, &out), 403);
    free(out);
    assert_int_equal(n_records(c), 0); /* nothing routed, nothing recorded */
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 200);
    assert_non_null(strstr(out, "\"recorded\":true"));
    assert_non_null(strstr(out, "\"status\":\"success\""));
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), 1);
    /* the record names the subject and the token's tenant; no token anywhere */
    {
        char cmd[PATH_MAX * 2 + 32];
        struct tu_run r;
        const char *argv[] = { "sh", "-c", cmd, NULL };
        snprintf(cmd, sizeof(cmd), "cat '%s'/*.json '%s'", c->records, c->log);
        assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
        assert_non_null(strstr(r.out, "\"alice\""));
        assert_non_null(strstr(r.out, "tenant:acme"));
        assert_null(strstr(r.out, TOKEN_ALICE));
        assert_null(strstr(r.out, "not-a-token"));
        tu_run_free(&r);
    }
}

/* An INTENTUSNET/1.0 intent frame whose context.tags are tags (JSON list
 * items). */
static const char *
frame_with_tags(const char *tags)
{
    static char f[2048];

    snprintf(f, sizeof(f),
             "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\",\"body\":{"
             "\"version\":\"1.0\",\"intent\":{\"name\":\"demo.echo\",\"version\":\"1.0\"},"
             "\"payload\":{\"x\":1},\"context\":{\"sourceAgent\":\"t\",\"timestamp\":"
             "\"2026-01-01T00:00:00+00:00\",\"priority\":\"normal\",\"tags\":[%s]},"
             "\"metadata\":{\"requestId\":\"r1\",\"source\":\"forged\",\"createdAt\":"
             "\"2026-01-01T00:00:00+00:00\",\"traceId\":\"t1\",\"identityChain\":[]},"
             "\"routing\":{\"strategy\":\"direct\",\"targetAgent\":null,\"fallbackAgents\":[]},"
             "\"routingMetadata\":{\"decisionPath\":[],\"retries\":0}}}",
             tags);
    return f;
}

static void
test_tenant_contradiction(void **state)
{
    struct tu_serve *c = *state;
    char *out = NULL;

    tu_serve_start(c, NULL);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE,
                                   "{\"intent\":\"demo.echo\",\"tenant\":\"globex\"}", &out),
                     403);
    assert_non_null(strstr(out, "globex"));
    free(out);
    /* a role the token does not have, claimed in a raw frame */
    assert_int_equal(
        tu_serve_http(c, "POST", "/intent", TOKEN_BOB, frame_with_tags("\"role:admin\""), &out),
        403);
    assert_non_null(strstr(out, "role 'admin'"));
    free(out);
    assert_int_equal(
        tu_serve_http(c, "POST", "/intent", TOKEN_BOB, frame_with_tags("\"tenant:globex\""), &out),
        403);
    free(out);
    /* the token's own tenant is fine, and so is naming none */
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_BOB,
                                   "{\"intent\":\"demo.echo\",\"tenant\":\"acme\"}", &out),
                     200);
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/intent", TOKEN_BOB, frame_with_tags(""), &out),
                     200);
    assert_non_null(strstr(out, "\"messageType\":\"response\""));
    assert_non_null(strstr(out, "\"executionId\""));
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), 2);
    /* the frame's forged metadata.source is replaced by the token's subject */
    {
        char cmd[PATH_MAX + 32];
        struct tu_run r;
        const char *argv[] = { "sh", "-c", cmd, NULL };
        snprintf(cmd, sizeof(cmd), "cat '%s'/*.json", c->records);
        assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
        assert_null(strstr(r.out, "forged"));
        assert_non_null(strstr(r.out, "\"bob\""));
        tu_run_free(&r);
    }
}

static void
test_malformed(void **state)
{
    struct tu_serve *c = *state;
    char *out = NULL;
    static const char *const bad[] = {
        "not json at all",
        "{\"protocol\":\"HTTP/9\",\"messageType\":\"intent\",\"body\":{}}",
        "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"response\",\"body\":{}}",
        "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\",\"body\":{\"intent\":1}}",
        "[1,2,3]",
    };

    tu_serve_start(c, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tu_serve_http(c, "POST", "/intent", TOKEN_ALICE, bad[i], &out), 400);
        assert_non_null(strstr(out, "\"messageType\":\"error\""));
        free(out);
    }
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, "{\"intent\":\"\"}", &out),
                     400);
    free(out);
    assert_int_equal(
        tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, "{\"intent\":\"x\",\"bogus\":1}", &out),
        400);
    assert_non_null(strstr(out, "bogus"));
    free(out);
    assert_int_equal(tu_serve_http(c, "GET", "/nope", NULL, NULL, &out), 404);
    free(out);
    assert_int_equal(tu_serve_http(c, "GET", "/health", NULL, NULL, &out), 200);
    assert_non_null(strstr(out, "\"ready\":true"));
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), 0);
}

static void
test_oversized_body(void **state)
{
    struct tu_serve *c = *state;
    char *out = NULL, *big = malloc(200001);

    assert_non_null(big);
    memset(big, 'a', 200000);
    big[200000] = '\0';
    memcpy(big, "{\"intent\":\"demo.echo\",\"payload\":{\"x\":\"", 38);
    tu_serve_start(c, NULL);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, big, &out), 413);
    assert_non_null(strstr(out, "PAYLOAD_TOO_LARGE"));
    free(out);
    free(big);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 200);
    free(out);
    assert_int_equal(tu_serve_http(c, "GET", "/metrics", NULL, NULL, &out), 200);
    assert_non_null(strstr(out, "intentus_http_rejections_total{status=\"413\"} 1"));
    assert_non_null(strstr(out, "intentus_records_written_total 1"));
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
}

static const char *
ref_python(char *path, size_t size)
{
    const char *env = getenv("INTENTUS_REFERENCE_PYTHON");

    if (realpath(env != NULL && env[0] ? env : "../shared/reference/python", path) == NULL &&
        realpath("/work/shared/reference/python", path) == NULL)
        return NULL;
    (void)size;
    return path;
}

/* Send one intent with the reference's HTTPTransport; its status and error
 * code printed as "status code". Skips (counted) when it cannot import. */
static char *
ref_send(struct tu_serve *c, const char *token, const char *intent)
{
    char ref[PATH_MAX], pp[PATH_MAX + 16], script[2048];
    struct tu_run r;
    const char *argv[] = { "python3", "-c", script, NULL };
    char *env[] = { pp, NULL };
    char *out;

    if (ref_python(ref, sizeof(ref)) == NULL)
        return NULL;
    snprintf(pp, sizeof(pp), "PYTHONPATH=%s", ref);
    snprintf(
        script, sizeof(script),
        "import sys\n"
        "try:\n"
        "    from intentusnet.transport.http import HTTPTransport\n"
        "    from intentusnet.protocol.intent import IntentEnvelope, IntentRef, "
        "IntentContext, IntentMetadata, RoutingOptions\n"
        "except Exception as e:\n"
        "    print('IMPORT', e); sys.exit(3)\n"
        "import uuid, datetime\n"
        "t = HTTPTransport('http://127.0.0.1:%d/intent')\n"
        "t._session.headers['Authorization'] = 'Bearer %s'\n"
        "now = datetime.datetime.now(datetime.timezone.utc).isoformat()\n"
        "env = IntentEnvelope(version='1.0', intent=IntentRef(name='%s', version='1.0'),\n"
        "    payload={'from': 'python'},\n"
        "    context=IntentContext(sourceAgent='py', timestamp=now, priority='normal', tags=[]),\n"
        "    metadata=IntentMetadata(requestId=str(uuid.uuid4()), source='py', "
        "createdAt=now, traceId=str(uuid.uuid4()), identityChain=[]),\n"
        "    routing=RoutingOptions(strategy='direct'))\n"
        "r = t.send_intent(env)\n"
        "print(r.status, r.error.code.value if r.error else '-', "
        "r.error.message if r.error else '')\n",
        c->port, token, intent);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, env, TIMEOUT_MS, &r), 0);
    if (r.status == 3) {
        fprintf(stderr, "reference cannot be imported: %s%s\n", r.out, r.err);
        tu_run_free(&r);
        return NULL;
    }
    if (r.status != 0)
        fprintf(stderr, "python: %s\n%s\n", r.out, r.err);
    assert_int_equal(r.status, 0);
    out = r.out;
    r.out = NULL;
    tu_run_free(&r);
    return out;
}

static void
test_reference_transport(void **state)
{
    struct tu_serve *c = *state;
    char *out;

    tu_serve_start(c, NULL);
    out = ref_send(c, TOKEN_ALICE, "demo.echo");
    if (out == NULL) {
        tu_serve_stop(c);
        skip();
    }
    assert_string_equal(out, "success - \n");
    free(out);
    out = ref_send(c, "wrong", "demo.echo");
    assert_non_null(strstr(out, "error TRANSPORT_ERROR 401"));
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), 1);
}

/* One process holds breakers and rate-limit buckets for every client. */
static void
test_shared_state(void **state)
{
    struct tu_serve *c = *state;
    char *out = NULL;

    tu_serve_start(c, NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tu_serve_http(c, "POST", "/v1/route", i == 1 ? TOKEN_BOB : TOKEN_ALICE,
                                       "{\"intent\":\"t.limited\"}", &out),
                         200);
        assert_non_null(strstr(out, "\"status\":\"success\""));
        free(out);
    }
    out = ref_send(c, TOKEN_BOB, "t.limited");
    if (out != NULL) {
        assert_non_null(strstr(out, "error RATE_LIMIT"));
        free(out);
    } else {
        assert_int_equal(
            tu_serve_http(c, "POST", "/v1/route", TOKEN_BOB, "{\"intent\":\"t.limited\"}", &out),
            200);
        assert_non_null(strstr(out, "RATE_LIMIT"));
        free(out);
    }
    /* the breaker: two failures from two clients open it for everybody */
    assert_int_equal(
        tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, "{\"intent\":\"t.fail\"}", &out), 200);
    free(out);
    assert_int_equal(
        tu_serve_http(c, "POST", "/v1/route", TOKEN_BOB, "{\"intent\":\"t.fail\"}", &out), 200);
    free(out);
    assert_int_equal(tu_serve_http(c, "GET", "/v1/agents", TOKEN_OPS, NULL, &out), 200);
    assert_non_null(strstr(out, "\"name\":\"fail-b\",\"enabled\":true,\"breaker\":\"OPEN\""));
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/agents/fail-b/reset", TOKEN_OPS, NULL, &out),
                     200);
    free(out);
    assert_int_equal(tu_serve_http(c, "GET", "/v1/agents", TOKEN_OPS, NULL, &out), 200);
    assert_non_null(strstr(out, "\"name\":\"fail-b\",\"enabled\":true,\"breaker\":\"CLOSED\""));
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/agents/echo-a/disable", TOKEN_OPS, NULL, &out),
                     200);
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 200);
    assert_null(strstr(out, "\"status\":\"success\""));
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/agents/echo-a/enable", TOKEN_OPS, NULL, &out),
                     200);
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/agents/nobody/reset", TOKEN_OPS, NULL, &out),
                     404);
    free(out);
    assert_int_equal(tu_serve_http(c, "GET", "/metrics", NULL, NULL, &out), 200);
    assert_non_null(strstr(out, "intentus_rate_limit_rejections_total 1"));
    assert_non_null(strstr(out, "intentus_agent_failures_total{agent=\"fail-b\"} 2"));
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
}

static bool
wait_log(struct tu_serve *c, const char *needle)
{
    for (int i = 0; i < 200; i++) {
        if (file_has(c->log, needle))
            return true;
        tu_sleep_ms(50);
    }
    return false;
}

static void
test_sighup_reload(void **state)
{
    struct tu_serve *c = *state;
    char *out = NULL;

    tu_serve_start(c, NULL);
    assert_int_equal(tu_write_file(c->config, "{\"agents\": [", 12, 0600), 0);
    kill(c->pid, SIGHUP);
    assert_true(wait_log(c, "reload failed, the running config stays"));
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 200);
    assert_non_null(strstr(out, "\"status\":\"success\""));
    free(out);
    /* a good config without alice's token revokes it */
    write_config(c, false, NULL);
    kill(c->pid, SIGHUP);
    assert_true(wait_log(c, "config reloaded"));
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 401);
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_BOB, route_echo, &out), 200);
    free(out);
    /* POST /v1/reload with a bad serve section: 422, old config kept */
    write_config(c, true, "\"bogus\": 1, ");
    assert_int_equal(tu_serve_http(c, "POST", "/v1/reload", TOKEN_OPS, NULL, &out), 422);
    assert_non_null(strstr(out, "serve.bogus"));
    free(out);
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 401);
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), 2);
}

/* The reference's HTTPTransport posts asdict(env) with json.dumps, which
 * cannot serialise its own Enum members (Priority, RoutingStrategy): the
 * script passes their wire values as plain strings, the transport itself is
 * used unchanged. */

/* SIGTERM while requests are in flight: they finish, every accepted one
 * is recorded, the server exits 0. */
static void
test_sigterm_drain(void **state)
{
    struct tu_serve *c = *state;
    enum { N = 6 };
    pid_t kids[N];
    char outs[N][PATH_MAX];
    int ok = 0;

    tu_serve_start(c, (const char *const[]){ "--grace", "10s", NULL });
    for (int i = 0; i < N; i++) {
        char url[128];
        snprintf(outs[i], sizeof(outs[i]), "%s/out%d", c->dir, i);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/route", c->port);
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            execlp("curl", "curl", "-s", "--max-time", "20", "-o", outs[i], "-H",
                   "Authorization: Bearer " TOKEN_ALICE, "--data-binary",
                   "{\"intent\":\"t.slower\"}", url, (char *)NULL);
            _exit(127);
        }
    }
    tu_sleep_ms(500); /* the requests are in (the agent takes 1.5 s) */
    assert_int_equal(tu_serve_stop(c), 0);
    for (int i = 0; i < N; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        if (file_has(outs[i], "\"recorded\":true"))
            ok++;
    }
    assert_true(ok > 0);
    assert_true(wait_log(c, "stopped"));
    assert_int_equal(n_records(c), ok); /* each accepted one, recorded once */
}

static void
test_refuses_without_tokens(void **state)
{
    struct tu_serve *c = *state;
    struct tu_run r;
    const char *text = "{\"agents\": [{\"name\": \"e\", \"builtin\": \"echo\", \"intents\": "
                       "[\"demo.echo\"]}]}";
    const char *argv[] = {
        tu_bin(), "serve", "--config", c->config, "--listen", "127.0.0.1:1", NULL
    };
    const char *argv2[] = { tu_bin(),   "serve",     "--config",  c->config,
                            "--listen", "0.0.0.0:0", "--no-auth", NULL };

    assert_int_equal(tu_write_file(c->config, text, strlen(text), 0600), 0);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "no serve.tokens configured"));
    tu_run_free(&r);
    assert_int_equal(tu_run((char *const *)argv2, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "not loopback"));
    tu_run_free(&r);
    {
        const char *argv3[] = {
            tu_bin(), "serve", "--config", c->config, "--listen", "nope", NULL
        };
        assert_int_equal(tu_run((char *const *)argv3, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "'nope' is not HOST:PORT or unix:PATH"));
        tu_run_free(&r);
    }
    /* --no-auth on loopback serves */
    tu_serve_start(c, (const char *const[]){ "--no-auth", NULL });
    {
        char *out = NULL;
        assert_int_equal(tu_serve_http(c, "POST", "/v1/route", NULL, route_echo, &out), 200);
        free(out);
    }
    assert_int_equal(tu_serve_stop(c), 0);
}

/* serve.queue bounds the requests in flight (503 with Retry-After, counted)
 * and serve.request_timeout the wait for one (504); neither is lost. */
static void
test_queue_and_deadline(void **state)
{
    struct tu_serve *c = *state;
    enum { N = 4 };
    pid_t kids[N];
    char outs[N][PATH_MAX], hdrs[N][PATH_MAX + 4];
    int busy = 0, ok = 0;
    char *out = NULL;

    write_config(c, true, "\"queue\": 1, ");
    tu_serve_start(c, NULL);
    for (int i = 0; i < N; i++) {
        char url[128];
        snprintf(outs[i], sizeof(outs[i]), "%s/q%d", c->dir, i);
        snprintf(hdrs[i], sizeof(hdrs[i]), "%s.h", outs[i]);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/route", c->port);
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            execlp("curl", "curl", "-s", "--max-time", "20", "-o", outs[i], "-D", hdrs[i], "-H",
                   "Authorization: Bearer " TOKEN_ALICE, "--data-binary",
                   "{\"intent\":\"t.slower\"}", url, (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < N; i++) {
        waitpid(kids[i], NULL, 0);
        if (file_has(hdrs[i], " 503") && file_has(hdrs[i], "Retry-After: 1"))
            busy++;
        else if (file_has(outs[i], "\"recorded\":true"))
            ok++;
    }
    assert_true(busy >= 1);
    assert_true(ok >= 1);
    assert_int_equal(busy + ok, N);
    assert_int_equal(tu_serve_http(c, "GET", "/metrics", NULL, NULL, &out), 200);
    {
        char line[96];
        snprintf(line, sizeof(line), "intentus_http_rejections_total{status=\"503\"} %d", busy);
        assert_non_null(strstr(out, line));
    }
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), ok);

    /* a request that takes longer than serve.request_timeout */
    write_config(c, true, "\"request_timeout\": \"100ms\", ");
    tu_serve_start(c, NULL);
    assert_int_equal(
        tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, "{\"intent\":\"t.slow\"}", &out), 504);
    assert_non_null(strstr(out, "request_timeout"));
    free(out);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), ok + 1); /* it went on and was recorded */
}

/* `intentus route --server` and `intentus agents --server`. */
static void
run_cli(struct tu_serve *c, const char *token, const char *const *args, struct tu_run *r)
{
    const char *argv[24] = { tu_bin() };
    char tok[256], server[64];
    char *env[] = { tok, NULL };
    int n = 1;

    snprintf(tok, sizeof(tok), "INTENTUS_TOKEN=%s", token != NULL ? token : "");
    snprintf(server, sizeof(server), "http://127.0.0.1:%d", c->port);
    for (size_t i = 0; args[i] != NULL && n < 22; i++)
        argv[n++] = strcmp(args[i], "URL") == 0 ? server : args[i];
    argv[n] = NULL;
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, env, TIMEOUT_MS, r), 0);
}

static void
test_cli_clients(void **state)
{
    struct tu_serve *c = *state;
    struct tu_run r;
    char *out = NULL, tokfile[PATH_MAX];

    tu_serve_start(c, NULL);
    run_cli(
        c, TOKEN_ALICE,
        (const char *const[]){ "route", "demo.echo", "--server", "URL", "-p", "{\"k\":2}", NULL },
        &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"k\": 2"));
    assert_non_null(strstr(r.err, "recorded by the server"));
    tu_run_free(&r);
    /* no token, a wrong one from a file, options that cannot apply */
    run_cli(c, NULL, (const char *const[]){ "route", "demo.echo", "--server", "URL", NULL }, &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "INTENTUS_TOKEN"));
    tu_run_free(&r);
    snprintf(tokfile, sizeof(tokfile), "%s/token", c->dir);
    assert_int_equal(tu_write_file(tokfile, "wrong-token-xyz\n", 16, 0600), 0);
    run_cli(c, NULL,
            (const char *const[]){ "route", "demo.echo", "--server", "URL", "--token-file", tokfile,
                                   NULL },
            &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "HTTP 401"));
    assert_null(strstr(r.err, "wrong-token-xyz"));
    tu_run_free(&r);
    run_cli(c, TOKEN_ALICE,
            (const char *const[]){ "route", "demo.echo", "--server", "URL", "--no-record", NULL },
            &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--no-record: not with --server"));
    tu_run_free(&r);
    run_cli(c, TOKEN_ALICE,
            (const char *const[]){ "route", "demo.echo", "--server", "URL", "--strategy",
                                   "fallback", "--target", "echo-a", NULL },
            &r);
    assert_int_equal(r.status, 2); /* the usual checks still apply */
    assert_non_null(strstr(r.err, "--target: only the direct strategy"));
    tu_run_free(&r);
    run_cli(c, TOKEN_ALICE,
            (const char *const[]){ "route", "demo.echo", "--server", "http://192.0.2.1:80", NULL },
            &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "loopback"));
    tu_run_free(&r);
    /* the rate limit is the service's: the 4th call, from the CLI, is limited */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(
            tu_serve_http(c, "POST", "/v1/route", TOKEN_BOB, "{\"intent\":\"t.limited\"}", &out),
            200);
        free(out);
    }
    run_cli(c, TOKEN_ALICE, (const char *const[]){ "route", "t.limited", "--server", "URL", NULL },
            &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "RATE_LIMIT"));
    tu_run_free(&r);
    /* agents --server: live breaker state, admin only */
    run_cli(c, TOKEN_OPS, (const char *const[]){ "agents", "--server", "URL", NULL }, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "fail-b"));
    assert_non_null(strstr(r.out, "CLOSED"));
    tu_run_free(&r);
    run_cli(c, TOKEN_ALICE, (const char *const[]){ "agents", "--server", "URL", NULL }, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "HTTP 403"));
    tu_run_free(&r);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), 5); /* 1 echo + 3 limited + the limited refusal */
}

/* The value of an unlabelled metric line "name value" in /metrics; -1
 * when it is missing. */
static long
metric(struct tu_serve *c, const char *name)
{
    char *out = NULL, needle[128];
    const char *p;
    long v = -1;

    assert_int_equal(tu_serve_http(c, "GET", "/metrics", NULL, NULL, &out), 200);
    snprintf(needle, sizeof(needle), "\n%s ", name);
    p = strstr(out, needle);
    if (p != NULL)
        v = strtol(p + strlen(needle), NULL, 10);
    free(out);
    return v;
}

/* An execution only in-process, instant agents can take (echo) is routed
 * on the HTTP thread: it does not queue behind slow ones holding the only
 * worker. Before, it waited for that worker, so when its answer came the
 * slow executions had all finished too. */
static void
test_instant_inline(void **state)
{
    struct tu_serve *c = *state;
    static const char *const one_worker[] = { "--workers", "1", NULL };
    enum { SLOW = 3 }; /* 1.5 s each, one after the other on the only worker */
    char url[128], slow_out[SLOW][PATH_MAX];
    char *out = NULL;
    pid_t kids[SLOW];

    tu_serve_start(c, one_worker);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/route", c->port);
    for (int i = 0; i < SLOW; i++) {
        snprintf(slow_out[i], sizeof(slow_out[i]), "%s/slow%d.out", c->dir, i);
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            execlp("curl", "curl", "-s", "--max-time", "20", "-o", slow_out[i], "-H",
                   "Authorization: Bearer " TOKEN_ALICE, "--data-binary",
                   "{\"intent\":\"t.slower\"}", url, (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < 200 && metric(c, "intentus_inflight_requests") != SLOW; i++)
        tu_sleep_ms(20);
    assert_int_equal(metric(c, "intentus_inflight_requests"), SLOW); /* the worker is busy */
    assert_int_equal(tu_serve_http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 200);
    assert_non_null(strstr(out, "\"status\":\"success\""));
    assert_non_null(strstr(out, "\"recorded\":true"));
    free(out);
    /* answered while slow executions still wait for the worker (4.5 s) */
    assert_true(metric(c, "intentus_inflight_requests") >= 1);
    for (int i = 0; i < SLOW; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(file_has(slow_out[i], "\"recorded\":true"));
    }
    assert_int_equal(metric(c, "intentus_executions_total"), SLOW + 1);
    assert_int_equal(tu_serve_stop(c), 0);
    assert_int_equal(n_records(c), SLOW + 1);
}

struct soak_load {
    struct lg_opts o;
    struct lg_result r;
    char msg[256];
    int rc;
};

static void *
soak_main(void *arg)
{
    struct soak_load *l = arg;

    l->rc = lg_run(&l->o, &l->r, l->msg, sizeof(l->msg));
    return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The soak, short: 16 keep-alive clients on an echo intent and one on a
 * rate-limited intent for about 5 s, a SIGHUP every second, then SIGTERM.
 * Correctness only, never timing: no error but the configured rate limit,
 * every answer carried an executionId, each recorded exactly once (one
 * file per id, no id twice, no other record), and serve exits 0.
 * (`make bench-soak` is the long version: 64 clients, 60 s.) */
static void
soak(struct tu_serve *c, bool async)
{
    struct soak_load echo = { .o = { .host = "127.0.0.1",
                                     .conns = 16,
                                     .threads = 2,
                                     .method = "POST",
                                     .path = "/v1/route",
                                     .body = route_echo,
                                     .token = TOKEN_ALICE,
                                     .duration_ms = 5000,
                                     .max_requests = 20000,
                                     .collect_ids = true } };
    struct soak_load limited = echo;
    pthread_t t1, t2;
    char **all;
    size_t n_all;
    long rejected;

    write_config(c, true, "\"queue\": 1000, ");
    if (async) {
        /* the same config with an async writer: answers wait for the
         * writer's verdict on their record */
        char *text = tu_read_file(c->config, NULL), *at, *mod;
        assert_non_null(text);
        at = strstr(text, "\"},\n \"agents\"");
        assert_non_null(at);
        mod = malloc(strlen(text) + 32);
        assert_non_null(mod);
        snprintf(mod, strlen(text) + 32, "%.*s\", \"mode\": \"async%s", (int)(at - text), text, at);
        assert_int_equal(tu_write_file(c->config, mod, strlen(mod), 0600), 0);
        free(mod);
        free(text);
    }
    tu_serve_start(c, NULL);
    echo.o.port = c->port;
    limited.o.port = c->port;
    limited.o.conns = 1;
    limited.o.threads = 1;
    limited.o.max_requests = 40;
    limited.o.body = "{\"intent\":\"t.limited\"}";
    assert_int_equal(pthread_create(&t1, NULL, soak_main, &echo), 0);
    assert_int_equal(pthread_create(&t2, NULL, soak_main, &limited), 0);
    for (int i = 0; i < 5; i++) {
        tu_sleep_ms(1000);
        assert_int_equal(kill(c->pid, SIGHUP), 0);
    }
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_int_equal(echo.rc, 0);
    assert_int_equal(limited.rc, 0);
    for (int i = 0; i < 100 && metric(c, "intentus_reloads_total{result=\"ok\"}") < 5; i++)
        tu_sleep_ms(50);
    assert_int_equal(metric(c, "intentus_reloads_total{result=\"ok\"}"), 5);
    rejected = metric(c, "intentus_rate_limit_rejections_total");
    assert_int_equal(tu_serve_stop(c), 0);

    if (echo.r.io_errors != 0 || limited.r.io_errors != 0)
        fail_msg("I/O errors: %llu (%s), %llu (%s)", (unsigned long long)echo.r.io_errors,
                 echo.r.first_error, (unsigned long long)limited.r.io_errors,
                 limited.r.first_error);
    assert_true(echo.r.requests > 100);
    assert_true(limited.r.requests >= 4); /* 40 unless the machine is very slow */
    /* every answer a 200 (a rate-limited execution is a 200 whose response
     * says RATE_LIMIT, and it is recorded like any other) */
    assert_int_equal(echo.r.status[200], echo.r.requests);
    assert_int_equal(limited.r.status[200], limited.r.requests);
    assert_int_equal(rejected, (long)limited.r.requests - 3); /* 3 per minute */
    assert_int_equal(echo.r.n_ids, echo.r.requests);
    assert_int_equal(limited.r.n_ids, limited.r.requests);

    n_all = echo.r.n_ids + limited.r.n_ids;
    all = malloc(n_all * sizeof(*all));
    assert_non_null(all);
    memcpy(all, echo.r.ids, echo.r.n_ids * sizeof(*all));
    memcpy(all + echo.r.n_ids, limited.r.ids, limited.r.n_ids * sizeof(*all));
    qsort(all, n_all, sizeof(*all), cmp_str);
    for (size_t i = 0; i < n_all; i++) {
        char path[PATH_MAX + 128];
        struct stat sb;
        if (i > 0 && strcmp(all[i - 1], all[i]) == 0)
            fail_msg("executionId %s answered twice", all[i]);
        snprintf(path, sizeof(path), "%s/%s.json", c->records, all[i]);
        if (stat(path, &sb) != 0)
            fail_msg("executionId %s was answered but has no record", all[i]);
    }
    assert_int_equal(n_records(c), (int)n_all); /* and no record nobody was told of */
    free(all);
    lg_result_free(&echo.r);
    lg_result_free(&limited.r);
}

static void
test_soak_sighup(void **state)
{
    soak(*state, false);
}

static void
test_soak_sighup_async(void **state)
{
    soak(*state, true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_missing_wrong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenant_contradiction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reference_transport, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sighup_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_without_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_and_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instant_inline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soak_sighup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soak_sighup_async, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
