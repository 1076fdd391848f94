/* The record text the router writes, byte for byte, against golden files.
 *
 * Many scenarios (every strategy, failures, retries, circuit events,
 * policy, redaction, payload refusals, sampling, unknown strategies) are
 * routed by the real router into a real record directory; each record file
 * is read back as bytes, the values that differ from run to run (ids,
 * clocks, offsets) are replaced by "<X>" on the text itself (nothing is
 * parsed or reprinted, so indentation, key order, escapes and number text
 * are all compared), and the result must equal
 * tests/data/record-golden/<scenario>.json.
 *
 * The golden files were written by the cJSON-tree recorder that the
 * streaming serializer (core/record_text.c) replaced, so this test is the
 * differential between the old and the new serializer, kept as a guard.
 * INTENTUS_GOLDEN_WRITE=1 rewrites them (only when the change is meant). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/router.h"
#include "tests/support/testutil.h"

static const char cfg_text[] =
    "{\"require_determinism\": %s,"
    " \"defaults\": {\"breaker\": {\"failure_threshold\": 2, \"failure_rate\": 0,"
    "   \"cooldown\": \"60s\"}},"
    " \"agents\": ["
    "{\"name\":\"a-fail\",\"builtin\":\"fail\",\"intents\":[\"t.x\"],\"nodePriority\":1,"
    " \"breaker\":{\"enabled\":false}},"
    "{\"name\":\"b-crash\",\"builtin\":\"crash\",\"message\":\"b \\\"exploded\\\"\\n\\u00e9\","
    " \"intents\":[\"t.x\"],\"nodePriority\":2,\"breaker\":{\"enabled\":false}},"
    "{\"name\":\"c-ok\",\"builtin\":\"echo\",\"intents\":[\"t.x\",\"t.ok\",\"t.one\"],"
    " \"nodePriority\":3},"
    "{\"name\":\"d-ok\",\"builtin\":\"upper\",\"intents\":[\"t.x\",\"t.ok\"],\"nodePriority\":4},"
    "{\"name\":\"f1\",\"builtin\":\"fail\",\"error_code\":\"AGENT_TIMEOUT\","
    " \"intents\":[\"t.allfail\"],\"nodePriority\":1,\"breaker\":{\"enabled\":false}},"
    "{\"name\":\"f2\",\"builtin\":\"fail\",\"error_code\":\"TRANSPORT_ERROR\",\"retryable\":true,"
    " \"intents\":[\"t.allfail\"],\"nodePriority\":2,\"breaker\":{\"enabled\":false}},"
    "{\"name\":\"r1\",\"builtin\":\"fail\",\"error_code\":\"AGENT_UNAVAILABLE\",\"retryable\":true,"
    " \"idempotent\":true,\"retry\":{\"max_attempts\":3,\"base_ms\":1,\"max_ms\":2},"
    " \"intents\":[\"t.retry\"],\"nodePriority\":1,\"breaker\":{\"enabled\":false}},"
    "{\"name\":\"r2\",\"builtin\":\"echo\",\"intents\":[\"t.retry\"],\"nodePriority\":2},"
    "{\"name\":\"dead\",\"builtin\":\"flaky\",\"fail_first\":100,\"fail_rate\":0,\"intents\":[\"t."
    "dead\"],\"nodePriority\":1},"
    "{\"name\":\"alive\",\"builtin\":\"echo\",\"intents\":[\"t.dead\"],\"nodePriority\":9}"
    "],"
    " \"policy\": {\"default\": \"allow\", \"rules\": ["
    "  {\"id\": \"no-guest\", \"action\": \"deny\", \"intents\": [\"t.ok\"],"
    "   \"tenants\": [\"guest\"]}]},"
    " \"redaction\": {\"keys\": [\"*token*\"], \"paths\": [\"payload.credentials.pin\"]}}";

/* The envelope, fixed to the byte (ids, times), so the hash is the same in
 * every run. */
static const char env_text[] =
    "{\"version\":\"1.0\",\"intent\":{\"name\":\"%s\",\"version\":\"1.0\"},"
    "\"payload\":%s,"
    "\"context\":{\"sourceAgent\":\"gateway\",\"timestamp\":\"2026-11-26T16:51:40.252876+00:00\","
    "\"priority\":\"high\",\"tags\":[\"tenant:%s\"]},"
    "\"metadata\":{\"requestId\":\"41c52619-f0cb-4dc5-8020-bd007c134b87\",\"source\":\"sdk/1\","
    "\"createdAt\":\"2026-11-26T16:51:40.252876+00:00\","
    "\"traceId\":\"2128f436-cea3-4189-83b5-9a9f5d59720a\",\"identityChain\":[]},"
    "\"routing\":{\"strategy\":%s,\"targetAgent\":%s,\"fallbackAgents\":%s},"
    "\"routingMetadata\":{\"decisionPath\":[],\"retries\":0}}";

struct scenario {
    const char *name;
    const char *intent;
    const char *strategy; /* JSON text */
    const char *target;   /* JSON text */
    const char *fallback; /* JSON text */
    const char *payload;  /* JSON text; NULL: the default */
    const char *tenant;
    int routes;           /* route this many times, keep the last record (breaker history) */
    unsigned flags;       /* S_* */
    uint64_t max_payload; /* recording.max_payload_bytes */
};

#define S_PARALLEL_OK 1u /* routed by a router with require_determinism false */
#define S_REDACT 2u      /* with the configured redactor */
#define S_POLICY 4u      /* with the configured policy */
#define S_SAMPLE 8u      /* sample rate 0, errors kept */
#define S_DISABLE 16u    /* a-fail disabled by the operator */

static const char default_payload[] =
    "{\"text\":\"hi \\u00e9 \\ud83d\\ude80 \\u0000 \\\"q\\\"\",\"n\":[1,2.50,-0,1e3,"
    "12345678901234567890],\"deep\":{\"a\":{\"b\":[true,false,null,{}],\"c\":[]}}}";

static const struct scenario scenarios[] = {
    { "direct_ok", "t.ok", "\"direct\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "direct_target", "t.x", "\"direct\"", "\"d-ok\"", "[]", NULL, "acme", 1, 0, 0 },
    { "direct_agent_error", "t.x", "\"direct\"", "\"a-fail\"", "[]", NULL, "acme", 1, 0, 0 },
    { "direct_crash", "t.x", "\"direct\"", "\"b-crash\"", "[]", NULL, "acme", 1, 0, 0 },
    { "direct_not_capable", "t.x", "\"direct\"", "\"r2\"", "[]", NULL, "acme", 1, 0, 0 },
    { "no_capability", "t.none", "\"direct\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "fallback_chain", "t.x", "\"fallback\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "fallback_all_fail", "t.allfail", "\"fallback\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "fallback_agents", "t.x", "\"fallback\"", "null",
      "[\"nobody\",\"r2\",\"d-ok\",\"d-ok\",\"a-fail\"]", NULL, "acme", 1, 0, 0 },
    { "fallback_none_listed", "t.x", "\"fallback\"", "null", "[\"nobody\"]", NULL, "acme", 1, 0,
      0 },
    { "unknown_strategy", "t.x", "\"round_robin\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "broadcast", "t.x", "\"broadcast\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "broadcast_all_fail", "t.allfail", "\"broadcast\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "parallel_refused", "t.x", "\"parallel\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "parallel_one", "t.one", "\"parallel\"", "null", "[]", NULL, "acme", 1, S_PARALLEL_OK, 0 },
    { "retries", "t.retry", "\"fallback\"", "null", "[]", NULL, "acme", 1, 0, 0 },
    { "circuit_opens", "t.dead", "\"fallback\"", "null", "[]", NULL, "acme", 2, 0, 0 },
    { "circuit_open_skipped", "t.dead", "\"fallback\"", "null", "[]", NULL, "acme", 3, 0, 0 },
    { "policy_allowed", "t.ok", "\"direct\"", "null", "[]", NULL, "acme", 1, S_POLICY, 0 },
    { "policy_denied", "t.ok", "\"direct\"", "null", "[]", NULL, "guest", 1, S_POLICY, 0 },
    { "redacted", "t.ok", "\"direct\"", "null", "[]",
      "{\"api_token\":\"s3cr3t\",\"credentials\":{\"pin\":\"1234\",\"user\":\"bob\"},"
      "\"note\":\"token s3cr3t inside\"}",
      "acme", 1, S_REDACT, 0 },
    { "redacted_fallback", "t.x", "\"fallback\"", "null", "[]",
      "{\"my_token\":\"abcdefgh\",\"credentials\":{\"pin\":\"9999\"}}", "acme", 1, S_REDACT, 0 },
    { "payload_too_large", "t.ok", "\"direct\"", "null", "[]", NULL, "acme", 1, 0, 16 },
    { "disabled_skipped", "t.x", "\"fallback\"", "null", "[]", NULL, "acme", 1, S_DISABLE, 0 },
    { "sampled_error_kept", "t.x", "\"direct\"", "\"a-fail\"", "[]", NULL, "acme", 1, S_SAMPLE, 0 },
};

struct fixture {
    struct config *cfg, *cfg_par;
};

static struct config *
parse_cfg(const char *det)
{
    struct intentus_err err = { 0 };
    char text[sizeof(cfg_text) + 16];
    struct config *cfg;

    snprintf(text, sizeof(text), cfg_text, det);
    cfg = config_parse(text, strlen(text), "golden", &err);
    if (cfg == NULL)
        fail_msg("config: %s", err.msg);
    return cfg;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->cfg = parse_cfg("true");
    f->cfg_par = parse_cfg("false");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    config_free(f->cfg);
    config_free(f->cfg_par);
    free(f);
    return 0;
}

static const char *const varying[] = { "executionId", "createdUtcIso", "ts",
                                       "offsetUs",    "elapsedUs",     "timestamp",
                                       "nextProbeMs", "latencyMs",     "durationMs" };

/* Replace the value of every varying key ("key": value up to the end of
 * the line, less a trailing comma) with "<X>". */
static void
normalize(const char *text, struct buf *out)
{
    const char *line = text;

    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        size_t ind = strspn(line, " ");
        bool done = false;

        for (size_t k = 0; k < sizeof(varying) / sizeof(varying[0]) && !done; k++) {
            size_t kl = strlen(varying[k]);
            if (len > ind + kl + 4 && line[ind] == '"' &&
                strncmp(line + ind + 1, varying[k], kl) == 0 &&
                strncmp(line + ind + 1 + kl, "\": ", 3) == 0) {
                buf_append(out, line, ind + kl + 4);
                buf_puts(out, "<X>");
                if (line[len - 1] == ',')
                    buf_putc(out, ',');
                done = true;
            }
        }
        if (!done)
            buf_append(out, line, len);
        if (end == NULL)
            break;
        buf_putc(out, '\n');
        line = end + 1;
    }
}

static bool
enabled(void *ctx, const char *agent)
{
    (void)ctx;
    return strcmp(agent, "a-fail") != 0;
}

static char *
route_scenario(struct fixture *f, const struct scenario *s, size_t *len)
{
    struct config *cfg = (s->flags & S_PARALLEL_OK) ? f->cfg_par : f->cfg;
    struct intentus_err err = { 0 };
    char *dir = tu_mkdtemp(), *text = NULL;
    struct rec_store *store = rec_store_open(dir, NULL, &err);
    struct router *r;
    struct buf env = BUF_INIT;

    assert_non_null(store);
    r = router_new(
        cfg->registry,
        &(struct router_opts){ .require_determinism = cfg->require_determinism,
                               .store = store,
                               .seed = 7,
                               .policy = (s->flags & S_POLICY) ? cfg->policy : NULL,
                               .redactor = (s->flags & S_REDACT) ? cfg->redactor : NULL,
                               .max_payload_bytes = s->max_payload,
                               .sample = (s->flags & S_SAMPLE) != 0,
                               .sample_rate = 0,
                               .sample_errors = true,
                               .agent_enabled = (s->flags & S_DISABLE) ? enabled : NULL },
        &err);
    if (r == NULL)
        fail_msg("router: %s", err.msg);
    buf_printf(&env, env_text, s->intent, s->payload ? s->payload : default_payload, s->tenant,
               s->strategy, s->target, s->fallback);
    for (int i = 0; i < s->routes; i++) {
        cJSON *e = json_parse(env.data, env.len, 0, &err);
        struct route_result res;
        if (e == NULL)
            fail_msg("%s: envelope: %s", s->name, err.msg);
        assert_int_equal(router_route(r, e, &res), 0);
        if (!res.recorded)
            fail_msg("%s: not recorded: %s", s->name, res.record_err.msg);
        if (i + 1 == s->routes) {
            char path[600];
            snprintf(path, sizeof(path), "%s/%s.json", dir, res.execution_id);
            text = tu_read_file(path, len);
            assert_non_null(text);
        }
        route_result_free(&res);
        cJSON_Delete(e);
    }
    buf_free(&env);
    router_free(r);
    rec_store_close(store);
    tu_rmtree(dir);
    free(dir);
    return text;
}

static void
test_records_match_golden_files(void **state)
{
    struct fixture *f = *state;
    bool write = getenv("INTENTUS_GOLDEN_WRITE") != NULL;
    int mismatches = 0;

    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        const struct scenario *s = &scenarios[i];
        struct buf got = BUF_INIT;
        char path[600], *want;
        size_t len, want_len;
        char *text = route_scenario(f, s, &len);

        normalize(text, &got);
        free(text);
        snprintf(path, sizeof(path), "%s/record-golden/%s.json", tu_data_dir(), s->name);
        if (write) {
            assert_int_equal(tu_write_file(path, got.data, got.len, 0644), 0);
            buf_free(&got);
            continue;
        }
        want = tu_read_file(path, &want_len);
        if (want == NULL)
            fail_msg("%s: cannot read %s", s->name, path);
        if (want_len != got.len || memcmp(want, got.data, got.len) != 0) {
            size_t at = 0;
            while (at < got.len && at < want_len && got.data[at] == want[at])
                at++;
            print_error("%s: record differs from %s at byte %zu:\n  want: %.80s\n  got:  %.80s\n",
                        s->name, path, at, want + (at > 20 ? at - 20 : 0),
                        got.data + (at > 20 ? at - 20 : 0));
            mismatches++;
        }
        free(want);
        buf_free(&got);
    }
    assert_int_equal(mismatches, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_records_match_golden_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
