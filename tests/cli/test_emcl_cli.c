/* EMCL end to end, with the reference's own code on the other side
 * (tests/support/ref_emcl.py; counted skips when python3 cannot import
 * the reference's providers):
 *  - `intentus serve` with serve.emcl against the reference's transport
 *    (ZeroMQTransport.send_intent, the one the reference gives EMCL to,
 *    carried over HTTP): routed, answered sealed, opened by the reference;
 *    wrong key, tampered frame, forged identity chain refused and nothing
 *    routed or recorded; serve.emcl.required refuses plain intents;
 *  - an intentus http agent with "emcl" against a reference-side agent
 *    that opens frames with the reference's provider and answers sealed:
 *    every bad reply is EMCL_FAILURE with its reason, recorded without the
 *    reply's contents.
 * Real processes on 127.0.0.1 ports; every wait is bounded. */
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

#include "core/json.h"
#include "tests/support/emcl_testutil.h"
#include "tests/support/serve_testutil.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 30000
#define KEY "t0p-secret-emcl-key"
#define SECRET "hunter2-payload-7c1e"

#define HAS(hay, needle)                                                                           \
    do {                                                                                           \
        if ((hay) == NULL || strstr((hay), (needle)) == NULL)                                      \
            fail_msg("'%s' not in:\n%s", (needle), (hay) != NULL ? (hay) : "(null)");              \
    } while (0)
#define LACKS(hay, needle)                                                                         \
    do {                                                                                           \
        if (strstr((hay), (needle)) != NULL)                                                       \
            fail_msg("'%s' unexpectedly in:\n%s", (needle), (hay));                                \
    } while (0)

struct ctx {
    char *dir;
    char config[PATH_MAX], records[PATH_MAX], log[PATH_MAX], wire[PATH_MAX];
    int port;
    pid_t pid;
    struct te_ref_server agent;
};

static int
setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->dir = tu_mkdtemp();
    snprintf(c->config, sizeof(c->config), "%s/intentus.json", c->dir);
    snprintf(c->records, sizeof(c->records), "%s/records", c->dir);
    snprintf(c->log, sizeof(c->log), "%s/serve.log", c->dir);
    snprintf(c->wire, sizeof(c->wire), "%s/wire.log", c->dir);
    c->agent.stdin_fd = c->agent.stdout_fd = -1;
    setenv("T_EMCL_KEY", KEY, 1);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct ctx *c = *state;

    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    te_ref_server_stop(&c->agent);
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

static void
write_config(struct ctx *c, const char *serve_emcl, const char *agents)
{
    char text[8192];

    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": "
             "[\"demo.echo\"]}%s],\n"
             " \"serve\": {%s%s%s}}\n",
             c->records, agents != NULL ? agents : "", serve_emcl != NULL ? "\"emcl\": " : "",
             serve_emcl != NULL ? serve_emcl : "", "");
    assert_int_equal(tu_write_file(c->config, text, strlen(text), 0600), 0);
}

static int
n_records(struct ctx *c)
{
    int n = tu_count_files(c->records, ".json");
    return n < 0 ? 0 : n;
}

/* Every record file's text, concatenated, without whitespace (caller
 * frees). */
static char *
all_records(struct ctx *c)
{
    char cmd[PATH_MAX + 64];
    char *out = calloc(1, 1 << 20);
    size_t len = 0;
    FILE *p;

    assert_non_null(out);
    snprintf(cmd, sizeof(cmd), "cat '%s'/*.json 2>/dev/null", c->records);
    p = popen(cmd, "r");
    assert_non_null(p);
    len = fread(out, 1, (1 << 20) - 1, p);
    pclose(p);
    {
        size_t o = 0;
        for (size_t i = 0; i < len; i++)
            if (strchr(" \n", out[i]) == NULL)
                out[o++] = out[i];
        out[o] = '\0';
    }
    return out;
}

static void
start_server(struct ctx *c)
{
    char listen[64];

    c->port = tu_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", c->port);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        FILE *f = freopen(c->log, "a", stderr);
        (void)f;
        execl(tu_bin(), tu_bin(), "serve", "--config", c->config, "--listen", listen, "--no-auth",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !tu_can_connect(c->port); i++) {
        int st;
        assert_int_equal(waitpid(c->pid, &st, WNOHANG), 0); /* it must not have died */
        tu_sleep_ms(50);
    }
    assert_true(tu_can_connect(c->port));
}

static int
stop_server(struct ctx *c)
{
    int st = 0;

    kill(c->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        tu_sleep_ms(50);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &st, 0);
    c->pid = 0;
    return -1;
}

/* The reference's transport sends one demo.echo intent; its output JSON
 * (caller frees). mode: "aes-gcm", "hmac" or "none" (plain frame). */
static char *
ref_client(struct ctx *c, const char *mode, const char *key, const char *chain)
{
    char url[128], payload[128];
    const char *args[16] = { "client", "--url", url, "--mode", mode, "--payload", payload };
    size_t n = 7;
    struct tu_run r;
    char *out;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/intent", c->port);
    snprintf(payload, sizeof(payload), "{\"secret\": \"%s\"}", SECRET);
    if (chain != NULL) {
        args[n++] = "--chain";
        args[n++] = chain;
    }
    args[n] = NULL;
    assert_int_equal(te_ref_run(args, key, NULL, &r), 0);
    if (r.status != 0)
        fail_msg("ref_emcl.py client: %s%s", r.out, r.err);
    out = r.out;
    r.out = NULL;
    tu_run_free(&r);
    return out;
}

/* curl POST /intent with body; the HTTP status, the answer in *out. */
static int
post(struct ctx *c, const char *path, const char *body, char **out)
{
    char url[256], bodyfile[PATH_MAX + 8], p[PATH_MAX];
    const char *argv[] = { "curl",
                           "-s",
                           "-S",
                           "--max-time",
                           "20",
                           "-w",
                           "\n%{http_code}",
                           "-H",
                           "Content-Type: application/json",
                           "--data-binary",
                           bodyfile,
                           url,
                           NULL };
    struct tu_run r;
    char *nl;
    int status;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", c->port, path);
    snprintf(p, sizeof(p), "%s/body.json", c->dir);
    assert_int_equal(tu_write_file(p, body, strlen(body), 0600), 0);
    snprintf(bodyfile, sizeof(bodyfile), "@%s", p);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    nl = strrchr(r.out, '\n');
    assert_non_null(nl);
    status = atoi(nl + 1);
    *nl = '\0';
    *out = r.out;
    r.out = NULL;
    tu_run_free(&r);
    return status;
}

static const char envelope_json[] =
    "{\"version\":\"1.0\",\"intent\":{\"name\":\"demo.echo\",\"version\":\"1.0\"},"
    "\"payload\":{\"secret\":\"" SECRET "\"},"
    "\"context\":{\"sourceAgent\":\"t\",\"timestamp\":\"2026-01-01T00:00:00+00:00\","
    "\"priority\":\"normal\",\"tags\":[]},"
    "\"metadata\":{\"requestId\":\"r1\",\"source\":\"t\",\"createdAt\":\"2026-01-01T00:00:00+00:"
    "00\","
    "\"traceId\":\"t1\",\"identityChain\":[\"client\"]},"
    "\"routing\":{\"strategy\":\"direct\",\"targetAgent\":null,\"fallbackAgents\":[]},"
    "\"routingMetadata\":{\"decisionPath\":[],\"retries\":0}}";

/* A frame sealed by the reference around envelope_json, edited by edit
 * (NULL: none) before it is printed (caller frees). */
static char *
ref_frame(const char *key, void (*edit)(cJSON *body))
{
    const char *args[] = { "seal", NULL };
    struct intentus_err err = { 0 };
    struct tu_run r;
    cJSON *frame, *body;
    char *text;

    assert_int_equal(te_ref_run(args, key, envelope_json, &r), 0);
    assert_int_equal(r.status, 0);
    body = json_parse(r.out, strlen(r.out), 0, &err);
    assert_non_null(body);
    tu_run_free(&r);
    if (edit != NULL)
        edit(body);
    frame = cJSON_CreateObject();
    cJSON_AddStringToObject(frame, "protocol", "INTENTUSNET/1.0");
    cJSON_AddStringToObject(frame, "messageType", "emcl");
    cJSON_AddObjectToObject(frame, "headers");
    cJSON_AddItemToObject(frame, "body", body);
    text = cJSON_PrintUnformatted(frame);
    cJSON_Delete(frame);
    return text;
}

static void
flip_ciphertext(cJSON *body)
{
    char *ct = cJSON_GetObjectItem(body, "cipherText")->valuestring;
    size_t at = strlen(ct) / 2;
    ct[at] = ct[at] == 'A' ? 'B' : 'A';
}

static void
forge_chain(cJSON *body)
{
    cJSON *chain = cJSON_CreateArray();
    cJSON_AddItemToArray(chain, cJSON_CreateString("admin-gateway"));
    cJSON_ReplaceItemInObject(body, "identityChain", chain);
}

static void
drop_iv(cJSON *body)
{
    cJSON_DeleteItemFromObject(body, "iv");
}

/* The reference's transport with EMCL on against intentus serve: routed,
 * the answer sealed and opened by the reference; a wrong key, a tampered
 * ciphertext, a forged identity chain, a malformed envelope are refused
 * (403/403/403/400, each naming its reason) and nothing is routed or
 * recorded; a plain frame still routes when EMCL is not required. */
static void
test_serve_reference_transport(void **state)
{
    struct ctx *c = *state;
    char *out, *frame;

    if (!te_ref_available())
        skip();
    write_config(c, "{\"key\": \"$T_EMCL_KEY\", \"identity\": \"intentus-serve\"}", NULL);
    start_server(c);

    out = ref_client(c, "aes-gcm", KEY, "client-a");
    HAS(out, "\"replyType\":\"emcl\""); /* answered sealed */
    HAS(out, "\"status\":\"success\"");
    HAS(out, "\"payload\":{\"secret\":\"" SECRET "\"}"); /* opened by the reference */
    HAS(out, "\"identityChain\":[\"intentus-serve\"]");
    free(out);
    assert_int_equal(n_records(c), 1);
    out = all_records(c);
    HAS(out, "\"identityChain\":[\"client-a\"]"); /* the authenticated chain was routed */
    free(out);

    /* wrong key */
    out = ref_client(c, "aes-gcm", "not the key", NULL);
    HAS(out, "\"code\":\"TRANSPORT_ERROR\"");
    HAS(out, "HTTP 403");
    HAS(out, "EMCL AUTH_FAILED");
    free(out);

    /* tampered ciphertext, forged chain, malformed envelope */
    frame = ref_frame(KEY, flip_ciphertext);
    assert_int_equal(post(c, "/intent", frame, &out), 403);
    HAS(out, "\"code\":\"EMCL_FAILURE\"");
    HAS(out, "AUTH_FAILED");
    free(out);
    free(frame);
    frame = ref_frame(KEY, forge_chain);
    assert_int_equal(post(c, "/intent", frame, &out), 403);
    HAS(out, "CHAIN_MISMATCH");
    free(out);
    free(frame);
    frame = ref_frame(KEY, drop_iv);
    assert_int_equal(post(c, "/intent", frame, &out), 400);
    HAS(out, "MALFORMED");
    free(out);
    free(frame);
    assert_int_equal(n_records(c), 1); /* none of them routed */

    /* the same frame untouched routes (the edits above were the cause) */
    frame = ref_frame(KEY, NULL);
    assert_int_equal(post(c, "/intent", frame, &out), 200);
    HAS(out, "\"messageType\":\"emcl\"");
    LACKS(out, SECRET);
    free(out);
    free(frame);

    /* EMCL not required: a plain frame is still served, in clear */
    out = ref_client(c, "none", KEY, NULL);
    HAS(out, "\"replyType\":\"response\"");
    HAS(out, "\"status\":\"success\"");
    free(out);
    assert_int_equal(n_records(c), 3);
    assert_int_equal(stop_server(c), 0);
}

/* serve.emcl.required: plain frames and /v1/route are refused with 403
 * and nothing is routed; EMCL frames are served. The HMAC mode works with
 * the reference's SimpleHMAC provider. */
static void
test_serve_required_and_hmac(void **state)
{
    struct ctx *c = *state;
    char *out;

    if (!te_ref_available())
        skip();
    write_config(c, "{\"key\": \"$T_EMCL_KEY\", \"mode\": \"hmac\", \"required\": true}", NULL);
    start_server(c);
    out = ref_client(c, "none", KEY, NULL);
    HAS(out, "HTTP 403");
    HAS(out, "serve.emcl.required");
    free(out);
    assert_int_equal(post(c, "/v1/route", "{\"intent\":\"demo.echo\"}", &out), 403);
    HAS(out, "serve.emcl.required");
    free(out);
    assert_int_equal(n_records(c), 0);
    out = ref_client(c, "hmac", KEY, NULL);
    HAS(out, "\"replyType\":\"emcl\"");
    HAS(out, "\"status\":\"success\"");
    HAS(out, SECRET);
    free(out);
    out = ref_client(c, "hmac", "not the key", NULL);
    HAS(out, "AUTH_FAILED");
    free(out);
    assert_int_equal(n_records(c), 1);
    assert_int_equal(stop_server(c), 0);
}

static bool
wait_log(struct ctx *c, const char *needle)
{
    for (int i = 0; i < 200; i++) {
        char *t = tu_read_file(c->log, NULL);
        bool has = t != NULL && strstr(t, needle) != NULL;
        free(t);
        if (has)
            return true;
        tu_sleep_ms(50);
    }
    return false;
}

static void
write_slow_config(struct ctx *c, bool with_emcl)
{
    char text[PATH_MAX + 512];

    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"},\n"
             " \"agents\": [{\"name\": \"slow-e\", \"builtin\": \"slow\", \"delay_ms\": 2500, "
             "\"intents\": [\"demo.echo\"]}],\n"
             " \"serve\": {%s}}\n",
             c->records, with_emcl ? "\"emcl\": {\"key\": \"$T_EMCL_KEY\"}" : "");
    assert_int_equal(tu_write_file(c->config, text, strlen(text), 0600), 0);
}

/* A reload that removes serve.emcl while a sealed request is in flight:
 * its answer is an error, never the response in clear. */
static void
test_serve_reload_never_clear(void **state)
{
    struct ctx *c = *state;
    char url[128], frame_path[PATH_MAX], body_path[PATH_MAX], code_path[PATH_MAX],
        data[PATH_MAX + 2];
    char *frame, *body, *code;
    pid_t kid;
    int st;

    if (!te_ref_available())
        skip();
    write_slow_config(c, true);
    start_server(c);
    frame = ref_frame(KEY, NULL);
    snprintf(frame_path, sizeof(frame_path), "%s/frame.json", c->dir);
    snprintf(body_path, sizeof(body_path), "%s/answer.json", c->dir);
    snprintf(code_path, sizeof(code_path), "%s/code.txt", c->dir);
    assert_int_equal(tu_write_file(frame_path, frame, strlen(frame), 0600), 0);
    free(frame);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/intent", c->port);
    snprintf(data, sizeof(data), "@%s", frame_path);
    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        FILE *f = freopen(code_path, "w", stdout);
        (void)f;
        execlp("curl", "curl", "-s", "--max-time", "20", "-o", body_path, "-w", "%{http_code}",
               "-H", "Content-Type: application/json", "--data-binary", data, url, (char *)NULL);
        _exit(127);
    }
    tu_sleep_ms(700); /* the request is in (the agent takes 2.5 s) */
    write_slow_config(c, false);
    kill(c->pid, SIGHUP);
    assert_true(wait_log(c, "config reloaded"));
    assert_int_equal(waitpid(kid, &st, 0), kid);
    code = tu_read_file(code_path, NULL);
    body = tu_read_file(body_path, NULL);
    assert_non_null(code);
    assert_string_equal(code, "500");
    HAS(body, "EMCL_FAILURE");
    HAS(body, "removed by a reload");
    LACKS(body, SECRET);
    free(code);
    free(body);
    assert_int_equal(stop_server(c), 0);
}

/* serve refuses to start (exit 2) on a bad serve.emcl, naming it. */
static void
test_serve_config_errors(void **state)
{
    struct ctx *c = *state;
    char keyfile[PATH_MAX + 64], conf[PATH_MAX + 128];
    struct tu_run r;
    const char *argv[] = { tu_bin(),   "serve",       "--config",  c->config,
                           "--listen", "127.0.0.1:0", "--no-auth", NULL };
    static const struct {
        const char *emcl, *msg;
    } bad[] = {
        { "{\"key\": \"" KEY "\"}", "serve.emcl.key: must name an environment variable" },
        { "{\"key\": \"$T_EMCL_UNSET_VAR\"}",
          "serve.emcl.key: environment variable T_EMCL_UNSET_VAR is not set" },
        { "{\"key\": \"$T_EMCL_KEY\", \"required\": 1}", "serve.emcl.required" },
        { "{\"key\": \"$T_EMCL_KEY\", \"mode\": \"aes\"}", "serve.emcl.mode" },
    };

    unsetenv("T_EMCL_UNSET_VAR");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_config(c, bad[i].emcl, NULL);
        assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
        assert_int_equal(r.status, 2);
        HAS(r.err, bad[i].msg);
        tu_run_free(&r);
    }
    snprintf(keyfile, sizeof(keyfile), "%s/emcl.key", c->dir);
    assert_int_equal(tu_write_file(keyfile, KEY "\n", strlen(KEY) + 1, 0644), 0);
    assert_int_equal(chmod(keyfile, 0644), 0);
    snprintf(conf, sizeof(conf), "{\"key_file\": \"%s\"}", keyfile);
    write_config(c, conf, NULL);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 2);
    HAS(r.err, keyfile);
    HAS(r.err, "0644");
    tu_run_free(&r);
    assert_int_equal(n_records(c), 0);
}

/* `intentus route` through an http agent with "emcl"; the response JSON
 * on stdout, the exit status in *status (caller frees). */
static char *
route(struct ctx *c, const char *reply, int *status)
{
    char payload[256];
    const char *argv[] = { tu_bin(),  "route",     "t.sec", "--config",
                           c->config, "--payload", payload, NULL };
    struct tu_run r;
    char *out;

    snprintf(payload, sizeof(payload), "{\"secret\": \"%s\", \"reply\": \"%s\"}", SECRET, reply);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    *status = r.status;
    out = r.out;
    r.out = NULL;
    tu_run_free(&r);
    return out;
}

static void
agent_config(struct ctx *c, const char *mode, const char *key_ref)
{
    char agents[1024];

    snprintf(agents, sizeof(agents),
             ",\n  {\"name\": \"sec\", \"kind\": \"http\", \"url\": \"http://127.0.0.1:%d/agent\", "
             "\"intents\": [\"t.sec\"], \"timeout\": \"20s\",\n"
             "   \"emcl\": {\"key\": \"%s\", \"mode\": \"%s\", \"identity\": \"intentus-agent\"}}",
             c->agent.port, key_ref, mode);
    write_config(c, NULL, agents);
}

/* An intentus http agent with EMCL against the reference-side agent: the
 * request leaves sealed (the secret is not on the wire), the sealed reply
 * opens; each bad reply is EMCL_FAILURE with its own reason, and the record
 * keeps nothing of the reply (no ciphertext, none of its contents). */
static void
test_agent_reference_server(void **state)
{
    struct ctx *c = *state;
    static const struct {
        const char *reply, *why;
    } bad[] = {
        { "tamper", "AUTH_FAILED" }, { "wrongkey", "AUTH_FAILED" },  { "chain", "CHAIN_MISMATCH" },
        { "plain", "NOT_EMCL" },     { "notjson", "BAD_PLAINTEXT" },
    };
    char *out, *wire, *recs;
    int st;

    if (!te_ref_available())
        skip();
    assert_int_equal(te_ref_server_start(&c->agent, "aes-gcm", KEY, c->wire), 0);
    agent_config(c, "aes-gcm", "$T_EMCL_KEY");

    out = route(c, "ok", &st);
    assert_int_equal(st, 0);
    HAS(out, "\"status\": \"success\"");
    HAS(out, SECRET); /* the reference opened it and echoed it, sealed */
    HAS(out, "\"chain\": [\n      \"intentus-agent\"");
    free(out);
    wire = tu_read_file(c->wire, NULL);
    HAS(wire, "\"messageType\":\"emcl\"");
    HAS(wire, "\"identityChain\":[\"intentus-agent\"]");
    LACKS(wire, SECRET);
    free(wire);

    tu_rmtree(c->records); /* only the failures' records below */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = route(c, bad[i].reply, &st);
        assert_int_equal(st, 1);
        HAS(out, "\"code\": \"EMCL_FAILURE\"");
        HAS(out, bad[i].why);
        free(out);
    }
    recs = all_records(c);
    HAS(recs, "\"emcl\":\"CHAIN_MISMATCH\"");
    HAS(recs, "\"emcl\":\"NOT_EMCL\"");
    LACKS(recs, "cipherText");
    LACKS(recs, "ref-emcl-agent"); /* the sealed reply's own metadata.agent */
    free(recs);

    /* the agent's key differs from the other side's: it refuses the frame */
    setenv("T_EMCL_OTHER_KEY", "some other key", 1);
    agent_config(c, "aes-gcm", "$T_EMCL_OTHER_KEY");
    out = route(c, "ok", &st);
    assert_int_equal(st, 1);
    HAS(out, "\"code\": \"EMCL_FAILURE\"");
    HAS(out, "REFUSED_BY_AGENT");
    free(out);

    /* the key's variable is unset: nothing is sent at all */
    unsetenv("T_EMCL_UNSET_VAR");
    agent_config(c, "aes-gcm", "$T_EMCL_UNSET_VAR");
    {
        size_t before = 0, after = 0;
        free(tu_read_file(c->wire, &before));
        out = route(c, "ok", &st);
        assert_int_equal(st, 1);
        HAS(out, "AGENT_UNAVAILABLE");
        HAS(out, "T_EMCL_UNSET_VAR");
        free(out);
        free(tu_read_file(c->wire, &after));
        assert_int_equal(before, after);
    }
}

/* A literal key in the config file and a key file open to others are
 * config errors (exit 2) naming the setting, the file and its mode. */
static void
test_agent_config_errors(void **state)
{
    struct ctx *c = *state;
    char keyfile[PATH_MAX], agents[PATH_MAX + 512];
    const char *argv[] = { tu_bin(), "agents", "--config", c->config, NULL };
    struct tu_run r;

    write_config(c, NULL,
                 ",{\"name\": \"sec\", \"kind\": \"http\", \"url\": \"http://127.0.0.1:9/a\", "
                 "\"intents\": [\"t.sec\"], \"emcl\": {\"key\": \"" KEY "\"}}");
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 2);
    HAS(r.err, "agents[1].emcl.key: must name an environment variable");
    LACKS(r.err, KEY);
    tu_run_free(&r);

    snprintf(keyfile, sizeof(keyfile), "%s/agent.key", c->dir);
    assert_int_equal(tu_write_file(keyfile, KEY, strlen(KEY), 0600), 0);
    assert_int_equal(chmod(keyfile, 0604), 0);
    snprintf(agents, sizeof(agents),
             ",{\"name\": \"sec\", \"kind\": \"http\", \"url\": \"http://127.0.0.1:9/a\", "
             "\"intents\": [\"t.sec\"], \"emcl\": {\"key_file\": \"%s\"}}",
             keyfile);
    write_config(c, NULL, agents);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 2);
    HAS(r.err, "agents[1].emcl.key_file");
    HAS(r.err, keyfile);
    HAS(r.err, "0604");
    tu_run_free(&r);
    assert_int_equal(chmod(keyfile, 0600), 0);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    assert_int_equal(r.status, 0);
    LACKS(r.out, KEY);
    tu_run_free(&r);
}

/* HMAC mode against the reference's SimpleHMAC provider. */
static void
test_agent_reference_server_hmac(void **state)
{
    struct ctx *c = *state;
    char *out;
    int st;

    if (!te_ref_available())
        skip();
    assert_int_equal(te_ref_server_start(&c->agent, "hmac", KEY, c->wire), 0);
    agent_config(c, "hmac", "$T_EMCL_KEY");
    out = route(c, "ok", &st);
    assert_int_equal(st, 0);
    HAS(out, "\"status\": \"success\"");
    free(out);
    out = route(c, "tamper", &st);
    assert_int_equal(st, 1);
    HAS(out, "AUTH_FAILED");
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_serve_reference_transport, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serve_required_and_hmac, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serve_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serve_reload_never_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_reference_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_reference_server_hmac, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_config_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
