/* Sub-intents and model calls through the router (core/subintent.c), with
 * real agents: an http agent (examples/agents/http_agent.py on loopback; a
 * counted skip without python3) and exec agents (/bin/sh printing fixed
 * replies) for malformed and endless requests; the fanout builtin's config;
 * and execution fingerprints (core/fingerprint.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/fingerprint.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/router.h"
#include "core/subtree.h"
#include "tests/support/agent_testutil.h"
#include "tests/support/testutil.h"

struct fixture {
    char *dir;
    struct config *cfg;
    struct rec_store *store;
    struct router *router;
    struct tu_http_server http;
    bool have_http;
};

/* An exec agent whose every reply is text (the envelope is read and
 * dropped). The config is a format string: '%%s' is printf's '%s'. */
#define SH_AGENT(name, intent, text)                                                               \
    "{\"name\":\"" name "\",\"kind\":\"exec\",\"argv\":[\"/bin/sh\",\"-c\",\"cat >/dev/null; "     \
    "printf '%%s' '" text "'\"],\"intents\":[\"" intent "\"]}"
#define Q "\\\""
#define REPLY(status, error, extra)                                                                \
    "{" Q "version" Q ":" Q "1.0" Q "," Q "status" Q ":" Q status Q "," Q "payload" Q ":{}," Q     \
    "metadata" Q ":{" Q "agent" Q ":" Q "sh" Q "}," Q "error" Q ":" error "," extra "}"
#define OK(extra) REPLY("success", "null", extra)

static const char agents_cfg[] =
    "{\"agents\": ["
    "{\"name\":\"echo\",\"builtin\":\"echo\",\"intents\":[\"t.echo\"]},"
    "{\"name\":\"upper\",\"builtin\":\"upper\",\"intents\":[\"t.upper\"]},"
    "{\"name\":\"fan\",\"builtin\":\"fanout\",\"emit\":[\"t.echo\",\"t.upper\"],"
    " \"intents\":[\"t.fan\"]},"
    "{\"name\":\"http\",\"kind\":\"http\",\"url\":\"http://127.0.0.1:%d/agent\","
    " \"intents\":[\"t.http\"]}," SH_AGENT("notarray", "t.notarray", OK(Q "subIntents" Q ":{}")) "," SH_AGENT(
        "nointent", "t.nointent",
        OK(Q
           "subIntents" Q ":[{" Q "payload" Q
           ":{}}]")) "," SH_AGENT("badtokens", "t.badtokens",
                                  OK(Q
                                     "modelCalls" Q ":[{" Q "model" Q ":" Q "m" Q "," Q
                                     "inputTokens" Q
                                     ":-1}]")) "," SH_AGENT("forever", "t.forever",
                                                            OK(Q
                                                               "subIntents" Q ":[{" Q "intent" Q
                                                               ":" Q "t.echo" Q
                                                               "}]")) "," SH_AGENT("failing",
                                                                                   "t.failing",
                                                                                   REPLY(
                                                                                       "error",
                                                                                       "{" Q
                                                                                       "code" Q
                                                                                       ":" Q
                                                                                       "AGENT_"
                                                                                       "ERROR" Q
                                                                                       "," Q
                                                                                       "message" Q
                                                                                       ":" Q "no" Q
                                                                                       "}",
                                                                                       Q
                                                                                       "subIntent"
                                                                                       "s" Q ":[{" Q
                                                                                       "intent" Q
                                                                                       ":" Q
                                                                                       "t.echo" Q
                                                                                       "}]")) "]}";

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };
    char text[sizeof(agents_cfg) + 16];

    assert_non_null(f);
    f->have_http = tu_python() != NULL && tu_http_server_start(&f->http, NULL) == 0;
    snprintf(text, sizeof(text), agents_cfg, f->have_http ? f->http.port : 1);
    f->dir = tu_mkdtemp();
    f->cfg = config_parse(text, strlen(text), "test", &err);
    if (f->cfg == NULL)
        fail_msg("config: %s", err.msg);
    f->store = rec_store_open(f->dir, NULL, &err);
    assert_non_null(f->store);
    f->router = router_new(f->cfg->registry, &(struct router_opts){ .store = f->store }, &err);
    assert_non_null(f->router);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    router_free(f->router);
    rec_store_close(f->store);
    config_free(f->cfg);
    if (f->have_http)
        tu_http_server_stop(&f->http);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Route intent with payload; the response (caller frees) and the record. */
static cJSON *
route(struct fixture *f, const char *intent, const char *payload, cJSON **rec)
{
    struct intentus_err err = { 0 };
    cJSON *p = json_parse(payload, strlen(payload), 0, &err), *env, *resp;
    struct route_result res;

    assert_non_null(p);
    env = envelope_new(intent, p, NULL, &err);
    assert_non_null(env);
    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_true(res.recorded);
    *rec = rec_store_load(f->store, res.execution_id, &err);
    assert_non_null(*rec);
    assert_int_equal(route_result_own(&res), 0); /* kept past env (core/router.h) */
    resp = res.response;
    res.response = NULL;
    route_result_free(&res);
    cJSON_Delete(env);
    return resp;
}

static int
count(const cJSON *rec, const char *type)
{
    const cJSON *e;
    int n = 0;

    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "events"))
    {
        n += json_get_string(e, "type") != NULL && strcmp(json_get_string(e, "type"), type) == 0;
    }
    return n;
}

static const char *
error_message(const cJSON *resp)
{
    return json_get_string(response_error(resp), "message");
}

static void
test_http_agent_subintents_and_model_call(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    cJSON *rec, *resp;
    const cJSON *results;
    struct subtree *t;

    if (!f->have_http)
        skip();
    resp =
        route(f, "t.http", "{\"mode\": \"subintents\", \"sub\": [\"t.echo\", \"t.upper\"]}", &rec);
    assert_false(response_is_error(resp));
    results = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "payload"),
                                               "results");
    assert_int_equal(cJSON_GetArraySize(results), 2);
    assert_string_equal(
        json_get_string(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(results, 1), "payload"),
                        "text"),
        "T.UPPER");
    assert_int_equal(count(rec, "SUB_INTENT"), 2);
    assert_int_equal(count(rec, "MODEL_CALL"), 1);
    /* Still one attempt: the second call is part of it. */
    assert_int_equal(count(rec, "AGENT_ATTEMPT_START"), 1);
    t = subtree_load(f->store, record_id(rec), &err);
    assert_non_null(t);
    assert_int_equal(t->n, 3);
    assert_int_equal(t->nodes[1].depth, 1);
    assert_string_equal(t->nodes[1].parent_id, record_id(rec));
    assert_string_equal(t->nodes[1].sum.intent, "t.echo");
    assert_string_equal(t->nodes[2].sum.intent, "t.upper");
    subtree_free(t);
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_malformed_replies_named(void **state)
{
    struct fixture *f = *state;
    cJSON *rec, *resp;

    resp = route(f, "t.notarray", "{}", &rec);
    assert_string_equal(response_error_code(resp), "PROTOCOL_ERROR");
    assert_non_null(strstr(error_message(resp), "reply subIntents: must be an array"));
    assert_int_equal(count(rec, "SUB_INTENT"), 0);
    cJSON_Delete(resp);
    cJSON_Delete(rec);

    resp = route(f, "t.nointent", "{}", &rec);
    assert_non_null(
        strstr(error_message(resp), "reply subIntents[0]: \"intent\" must be a non-empty string"));
    cJSON_Delete(resp);
    cJSON_Delete(rec);

    resp = route(f, "t.badtokens", "{}", &rec);
    assert_non_null(strstr(error_message(resp),
                           "reply modelCalls[0]: \"inputTokens\" must be a non-negative integer"));
    /* Nothing of a malformed report is recorded. */
    assert_int_equal(count(rec, "MODEL_CALL"), 0);
    cJSON_Delete(resp);
    cJSON_Delete(rec);

    /* A failed reply's sub-intents are not run. */
    resp = route(f, "t.failing", "{}", &rec);
    assert_string_equal(response_error_code(resp), "AGENT_ERROR");
    assert_int_equal(count(rec, "SUB_INTENT"), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(rec, "finalResponse"), "subIntents"));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_endless_requests_bounded(void **state)
{
    struct fixture *f = *state;
    cJSON *rec, *resp = route(f, "t.forever", "{}", &rec);

    assert_string_equal(response_error_code(resp), "PROTOCOL_ERROR");
    assert_non_null(strstr(error_message(resp), "asked for sub-intents more than 8 times"));
    assert_int_equal(count(rec, "SUB_INTENT"), 8);
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_fanout_config_errors(void **state)
{
    static const char *const bad[][2] = {
        { "{\"agents\":[{\"name\":\"f\",\"builtin\":\"fanout\",\"intents\":[\"x\"]}]}",
          "agents[0].emit: must be a non-empty array of intent names" },
        { "{\"agents\":[{\"name\":\"f\",\"builtin\":\"fanout\",\"emit\":[3],\"intents\":[\"x\"]}]}",
          "agents[0].emit: must be a non-empty array of intent names" },
        { "{\"agents\":[{\"name\":\"f\",\"builtin\":\"echo\",\"emit\":[\"y\"],\"intents\":[\"x\"]}]"
          "}",
          "agents[0].emit: only the fanout builtin emits sub-intents" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct intentus_err err = { 0 };
        struct config *cfg = config_parse(bad[i][0], strlen(bad[i][0]), "t", &err);
        assert_null(cfg);
        if (strstr(err.msg, bad[i][1]) == NULL)
            fail_msg("expected '%s', got '%s'", bad[i][1], err.msg);
    }
}

static void
test_fingerprints(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct fingerprint a, b, c;
    char diff[512];
    cJSON *r1, *r2, *r3;
    cJSON *x1 = route(f, "t.fan", "{\"v\": 1}", &r1), *x2 = route(f, "t.fan", "{\"v\": 1}", &r2),
          *x3 = route(f, "t.fan", "{\"v\": 2}", &r3);

    assert_int_equal(fingerprint_record(r1, &a, &err), 0);
    assert_int_equal(fingerprint_record(r2, &b, &err), 0);
    assert_int_equal(fingerprint_record(r3, &c, &err), 0);
    /* Different ids, trace ids, timestamps and timings: the same fingerprint. */
    assert_string_not_equal(record_id(r1), record_id(r2));
    assert_string_equal(a.all, b.all);
    assert_false(fingerprint_first_diff(&a, &b, diff, sizeof(diff)));
    assert_int_equal(strlen(a.all), 64);
    /* Another payload: the response differs, and the first place is named. */
    assert_string_not_equal(a.all, c.all);
    assert_string_equal(a.decision, c.decision);
    assert_string_equal(a.attempts, c.attempts);
    assert_string_not_equal(a.response, c.response);
    assert_true(fingerprint_first_diff(&a, &c, diff, sizeof(diff)));
    assert_string_equal(diff, "response.payload.results[0].payload.v: 1 vs 2");
    fingerprint_free(&a);
    fingerprint_free(&b);
    fingerprint_free(&c);
    cJSON_Delete(x1);
    cJSON_Delete(x2);
    cJSON_Delete(x3);
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(r3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_agent_subintents_and_model_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_replies_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endless_requests_bounded, setup, teardown),
        cmocka_unit_test(test_fanout_config_errors),
        cmocka_unit_test_setup_teardown(test_fingerprints, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
