/* Router: the reference's strategies, event sequences, reasons and error
 * shapes, run in process against builtin agents with recording into a real
 * temporary directory. */
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

struct fixture {
    char *dir;
    struct config *cfg;
    struct rec_store *store;
    struct router *router;
};

static const char agents_cfg[] =
    "{\"require_determinism\": %s, \"agents\": ["
    "{\"name\":\"a-fail\",\"builtin\":\"fail\",\"intents\":[\"t.x\"],\"nodePriority\":1},"
    "{\"name\":\"b-crash\",\"builtin\":\"crash\",\"message\":\"b exploded\","
    " \"intents\":[\"t.x\"],\"nodePriority\":2},"
    "{\"name\":\"c-ok\",\"builtin\":\"echo\",\"intents\":[\"t.x\",\"t.ok\"],\"nodePriority\":3},"
    "{\"name\":\"d-ok\",\"builtin\":\"upper\",\"intents\":[\"t.x\",\"t.ok\"],\"nodePriority\":4},"
    "{\"name\":\"remote1\",\"builtin\":\"echo\",\"intents\":[\"t.order\"],"
    " \"nodeId\":\"node-2\",\"nodePriority\":1},"
    "{\"name\":\"zeta\",\"builtin\":\"echo\",\"intents\":[\"t.order\"],\"nodePriority\":10},"
    "{\"name\":\"alpha\",\"builtin\":\"echo\",\"intents\":[\"t.order\"],\"nodePriority\":10},"
    "{\"name\":\"wild\",\"builtin\":\"echo\",\"intents\":[\"*@9.9\"],\"nodePriority\":1000},"
    "{\"name\":\"f1\",\"builtin\":\"fail\",\"error_code\":\"AGENT_TIMEOUT\","
    " \"intents\":[\"t.allfail\"],\"nodePriority\":1},"
    "{\"name\":\"f2\",\"builtin\":\"fail\",\"error_code\":\"TRANSPORT_ERROR\",\"retryable\":true,"
    " \"intents\":[\"t.allfail\"],\"nodePriority\":2},"
    "{\"name\":\"r1\",\"builtin\":\"fail\",\"error_code\":\"AGENT_UNAVAILABLE\",\"retryable\":true,"
    " \"idempotent\":true,\"retry\":{\"max_attempts\":3,\"base_ms\":1,\"max_ms\":2},"
    " \"intents\":[\"t.retry\"],\"nodePriority\":1},"
    "{\"name\":\"r2\",\"builtin\":\"echo\",\"intents\":[\"t.retry\"],\"nodePriority\":2}"
    "]}";

static int
setup_with(void **state, const char *determinism)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };
    char text[sizeof(agents_cfg) + 16];

    snprintf(text, sizeof(text), agents_cfg, determinism);
    f->dir = tu_mkdtemp();
    f->cfg = config_parse(text, strlen(text), "test", &err);
    if (f->cfg == NULL)
        fail_msg("config: %s", err.msg);
    f->store = rec_store_open(f->dir, NULL, &err);
    f->router =
        router_new(f->cfg->registry,
                   &(struct router_opts){ .require_determinism = f->cfg->require_determinism,
                                          .store = f->store },
                   &err);
    assert_non_null(f->router);
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_with(state, "true");
}

static int
setup_parallel(void **state)
{
    return setup_with(state, "false");
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    router_free(f->router);
    rec_store_close(f->store);
    config_free(f->cfg);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Route and return the written record (loaded back from disk). */
static cJSON *
route(struct fixture *f, const char *intent, enum strategy s, const char *target,
      const char *const *fallback, cJSON **response)
{
    struct envelope_opts o = { .strategy = s,
                               .priority = PRIORITY_NORMAL,
                               .target_agent = target,
                               .fallback_agents = fallback };
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new(intent, cJSON_Parse("{\"text\":\"hi\"}"), &o, &err);
    struct route_result res;
    cJSON *rec;

    assert_non_null(env);
    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_true(res.recorded);
    rec = rec_store_load(f->store, res.execution_id, &err);
    if (rec == NULL)
        fail_msg("load: %s", err.msg);
    assert_int_equal(record_verify_hash(rec, &err), 0);
    /* FINAL_RESPONSE and finalResponse carry the returned response. */
    assert_true(cJSON_Compare(res.response, cJSON_GetObjectItem(rec, "finalResponse"), 1));
    /* The caller keeps the response past env: made self-contained first
     * (it may borrow env's payload, core/router.h). */
    assert_int_equal(route_result_own(&res), 0);
    *response = res.response;
    cJSON_Delete(env);
    return rec;
}

/* "TYPE,TYPE,..." of the record's events, also checking seq and timing.
 * Offsets never decrease, except under PARALLEL, whose branches record the
 * real start and end times of attempts that overlapped (each END still
 * follows its own START). */
static void
assert_events_ordered(const cJSON *rec, const char *want, bool monotonic)
{
    char got[1024] = "";
    const cJSON *ev;
    double seq = 1, last_off = -1;

    cJSON_ArrayForEach(ev, cJSON_GetObjectItem(rec, "events"))
    {
        const cJSON *off = cJSON_GetObjectItem(ev, "offsetUs");
        assert_int_equal((int)cJSON_GetObjectItem(ev, "seq")->valuedouble, (int)seq++);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(ev, "ts")));
        assert_true(cJSON_IsNumber(off));
        if (monotonic)
            assert_true(off->valuedouble >= last_off);
        last_off = off->valuedouble;
        if (got[0])
            strcat(got, ",");
        strcat(got, cJSON_GetObjectItem(ev, "type")->valuestring);
    }
    assert_string_equal(got, want);
}

static void
assert_events(const cJSON *rec, const char *want)
{
    assert_events_ordered(rec, want, true);
}

static const cJSON *
event_payload(const cJSON *rec, int index)
{
    return cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "events"), index),
                               "payload");
}

static const char *
str(const cJSON *obj, const char *key)
{
    const char *s = json_get_string(obj, key);
    return s != NULL ? s : "(null)";
}

static void
test_direct_success(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.ok", STRATEGY_DIRECT, NULL, NULL, &resp);
    const cJSON *d = cJSON_GetObjectItem(rec, "routerDecision");

    assert_events(rec, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,ROUTER_DECISION,"
                       "FINAL_RESPONSE");
    assert_string_equal(str(d, "agent"), "c-ok");
    assert_string_equal(str(d, "reason"), "direct match");
    assert_string_equal(str(event_payload(rec, 1), "strategy"), "DIRECT");
    assert_null(cJSON_GetObjectItem(event_payload(rec, 1), "index"));
    assert_string_equal(str(event_payload(rec, 2), "status"), "ok");
    assert_false(response_is_error(resp));
    assert_string_equal(str(cJSON_GetObjectItem(resp, "payload"), "text"), "hi");
    /* INTENT_RECEIVED carries the real config hash and the flag. */
    assert_int_equal(strlen(str(event_payload(rec, 0), "config_hash")), 64);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(event_payload(rec, 0), "require_determinism")));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_direct_agent_error_is_returned_as_is(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.x", STRATEGY_DIRECT, NULL, NULL, &resp);
    const cJSON *d = cJSON_GetObjectItem(rec, "routerDecision");

    assert_events(rec, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,ROUTER_DECISION,"
                       "FINAL_RESPONSE");
    assert_string_equal(str(d, "agent"), "a-fail");
    assert_string_equal(str(d, "reason"), "routing failed");
    assert_string_equal(response_error_code(resp), "AGENT_ERROR");
    assert_string_equal(str(cJSON_GetObjectItem(resp, "metadata"), "agent"), "a-fail");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_direct_wrapper_exception(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.x", STRATEGY_DIRECT, "b-crash", NULL, &resp);
    const cJSON *e = response_error(resp);

    /* The reference writes no END and no decision on this path. */
    assert_events(rec, "INTENT_RECEIVED,AGENT_ATTEMPT_START,FINAL_RESPONSE");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(rec, "routerDecision")));
    assert_string_equal(str(e, "code"), "ROUTING_ERROR");
    assert_string_equal(str(e, "message"), "b exploded");
    assert_string_equal(str(cJSON_GetObjectItem(resp, "metadata"), "agent"), "b-crash");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_direct_target_not_capable(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.x", STRATEGY_DIRECT, "alpha", NULL, &resp);

    assert_events(rec, "INTENT_RECEIVED,FINAL_RESPONSE");
    assert_string_equal(response_error_code(resp), "ROUTING_ERROR");
    assert_string_equal(str(response_error(resp), "message"),
                        "Target agent 'alpha' not registered for intent 't.x'");
    assert_string_equal(str(cJSON_GetObjectItem(resp, "metadata"), "agent"), "router");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_capability_not_found_and_wildcard(void **state)
{
    struct fixture *f = *state;
    struct envelope_opts o = { .intent_version = "9.9" };
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new("no.such", NULL, &o, &err);
    cJSON *resp, *rec = route(f, "no.such", STRATEGY_FALLBACK, NULL, NULL, &resp);
    struct route_result res;

    assert_events(rec, "INTENT_RECEIVED,FINAL_RESPONSE");
    assert_string_equal(response_error_code(resp), "CAPABILITY_NOT_FOUND");
    assert_string_equal(str(response_error(resp), "message"),
                        "No agents registered for intent 'no.such'");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(rec, "routerDecision")));
    /* The "*" agent (here only for version 9.9) takes any intent name. */
    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_false(response_is_error(res.response));
    assert_string_equal(str(cJSON_GetObjectItem(res.response, "metadata"), "agent"), "wild");
    route_result_free(&res);
    cJSON_Delete(env);
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_fallback_chain(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.x", STRATEGY_FALLBACK, NULL, NULL, &resp);
    const cJSON *d = cJSON_GetObjectItem(rec, "routerDecision");
    const cJSON *env_path = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "envelope"), "routingMetadata"),
        "decisionPath");

    assert_events(rec, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,FALLBACK_TRIGGERED,"
                       "AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,FALLBACK_TRIGGERED,"
                       "AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,ROUTER_DECISION,FINAL_RESPONSE");
    assert_string_equal(str(event_payload(rec, 1), "agent"), "a-fail");
    assert_int_equal(cJSON_GetObjectItem(event_payload(rec, 1), "index")->valueint, 0);
    assert_string_equal(str(event_payload(rec, 3), "from"), "a-fail");
    assert_string_equal(str(event_payload(rec, 3), "to"), "b-crash");
    assert_string_equal(str(event_payload(rec, 5), "exception"), "b exploded");
    assert_null(cJSON_GetObjectItem(event_payload(rec, 2), "exception"));
    assert_int_equal(cJSON_GetObjectItem(event_payload(rec, 7), "index")->valueint, 2);
    assert_string_equal(str(d, "agent"), "c-ok");
    assert_string_equal(str(d, "reason"), "fallback success at index 2");
    /* The record holds the envelope as it was before any agent ran. */
    assert_int_equal(cJSON_GetArraySize(env_path), 0);
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

/* decisionPath links the tried agents' interned names (core/intern.h),
 * not their own: the caller keeps the envelope after the route, here past
 * the router and the configuration that made the agents (as a hot reload
 * frees them). It still prints, duplicates and frees as a tree of its own
 * (under ASan and valgrind a link to a freed name fails here). */
static void
test_decision_path_outlives_the_agents(void **state)
{
    struct fixture *f = *state;
    struct envelope_opts o = { .strategy = STRATEGY_FALLBACK, .priority = PRIORITY_NORMAL };
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new("t.x", cJSON_Parse("{\"text\":\"hi\"}"), &o, &err), *copy;
    struct route_result res;
    struct buf text = BUF_INIT;

    assert_non_null(env);
    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_int_equal(route_result_own(&res), 0);
    route_result_free(&res);
    router_free(f->router);
    config_free(f->cfg);
    f->router = NULL;
    f->cfg = NULL;
    /* The names were copied into the table, then the agents freed. */
    assert_int_equal(
        json_print_compact(json_item(json_item(env, "routingMetadata"), "decisionPath"), &text), 0);
    assert_string_equal(text.data, "[\"a-fail\",\"b-crash\",\"c-ok\"]");
    buf_free(&text);
    copy = cJSON_Duplicate(env, 1);
    assert_non_null(copy);
    assert_true(cJSON_Compare(copy, env, 1));
    cJSON_Delete(env);
    assert_string_equal(
        cJSON_GetArrayItem(json_item(json_item(copy, "routingMetadata"), "decisionPath"), 1)
            ->valuestring,
        "b-crash");
    cJSON_Delete(copy);
}

static void
test_fallback_all_fail(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.allfail", STRATEGY_FALLBACK, NULL, NULL, &resp);
    const cJSON *md = cJSON_GetObjectItem(resp, "metadata");

    /* No FALLBACK_TRIGGERED after the last candidate. */
    assert_events(rec, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,FALLBACK_TRIGGERED,"
                       "AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,ROUTER_DECISION,FINAL_RESPONSE");
    assert_string_equal(str(md, "agent"), "fallback");
    assert_string_equal(md->child->string, "traceId"); /* the reference's key order */
    assert_string_equal(response_error_code(resp), "TRANSPORT_ERROR"); /* the last error */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(response_error(resp), "retryable")));
    assert_string_equal(str(cJSON_GetObjectItem(rec, "routerDecision"), "reason"),
                        "routing failed");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_fallback_agents_extension(void **state)
{
    struct fixture *f = *state;
    const char *chain[] = { "d-ok", "ghost", "alpha", "a-fail", NULL };
    cJSON *resp, *rec = route(f, "t.x", STRATEGY_FALLBACK, NULL, chain, &resp);

    assert_events(rec, "INTENT_RECEIVED,AGENT_SKIPPED,AGENT_SKIPPED,AGENT_ATTEMPT_START,"
                       "AGENT_ATTEMPT_END,ROUTER_DECISION,FINAL_RESPONSE");
    assert_string_equal(str(event_payload(rec, 1), "reason"), "not registered");
    assert_string_equal(str(event_payload(rec, 2), "reason"), "not capable of this intent");
    assert_string_equal(str(event_payload(rec, 3), "agent"), "d-ok");
    assert_string_equal(str(cJSON_GetObjectItem(rec, "routerDecision"), "reason"),
                        "fallback success at index 0");
    assert_string_equal(str(cJSON_GetObjectItem(resp, "payload"), "text"), "HI");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_broadcast_last_success(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.x", STRATEGY_BROADCAST, NULL, NULL, &resp);
    const cJSON *ev;

    assert_events(rec, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,"
                       "AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,AGENT_ATTEMPT_START,"
                       "AGENT_ATTEMPT_END,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,"
                       "ROUTER_DECISION,FINAL_RESPONSE");
    cJSON_ArrayForEach(ev, cJSON_GetObjectItem(rec, "events"))
        assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "payload"), "exception"));
    /* d-ok is the last candidate and succeeds. */
    assert_string_equal(str(cJSON_GetObjectItem(rec, "routerDecision"), "agent"), "d-ok");
    assert_string_equal(str(cJSON_GetObjectItem(rec, "routerDecision"), "reason"),
                        "broadcast last success");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_parallel_refused_under_determinism(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.x", STRATEGY_PARALLEL, NULL, NULL, &resp);
    const cJSON *details = cJSON_GetObjectItem(response_error(resp), "details");

    assert_events(rec, "INTENT_RECEIVED,FINAL_RESPONSE");
    assert_string_equal(response_error_code(resp), "VALIDATION_ERROR");
    assert_string_equal(str(details, "strategy"), "PARALLEL");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(details, "require_determinism")));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_parallel_first_success(void **state)
{
    struct fixture *f = *state;

    for (int round = 0; round < 5; round++) {
        cJSON *resp, *rec = route(f, "t.ok", STRATEGY_PARALLEL, NULL, NULL, &resp);
        const cJSON *d = cJSON_GetObjectItem(rec, "routerDecision");
        const char *winner = str(d, "agent");
        assert_false(response_is_error(resp));
        assert_string_equal(str(d, "reason"), "parallel first success");
        assert_true(strcmp(winner, "c-ok") == 0 || strcmp(winner, "d-ok") == 0);
        /* START/END pairs up to the winner, then the decision. */
        assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(rec, "events")) >= 5);
        cJSON_Delete(resp);
        cJSON_Delete(rec);
    }
}

static void
test_parallel_all_fail(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.allfail", STRATEGY_PARALLEL, NULL, NULL, &resp);

    assert_events_ordered(rec,
                          "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,"
                          "AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,ROUTER_DECISION,"
                          "FINAL_RESPONSE",
                          false);
    assert_true(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "events"), 2), "offsetUs")
            ->valuedouble >=
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "events"), 1), "offsetUs")
            ->valuedouble);
    assert_string_equal(str(cJSON_GetObjectItem(resp, "metadata"), "agent"), "parallel");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_deterministic_order(void **state)
{
    struct fixture *f = *state;
    struct agent *c[16];
    size_t n = registry_candidates(f->cfg->registry, "t.order", "1.0", c);

    /* §2.2: local alpha, local zeta (both 10), then remote1 despite priority 1. */
    assert_int_equal(n, 3);
    assert_string_equal(c[0]->name, "alpha");
    assert_string_equal(c[1]->name, "zeta");
    assert_string_equal(c[2]->name, "remote1");
    for (int i = 0; i < 5; i++) {
        cJSON *resp, *rec = route(f, "t.order", STRATEGY_DIRECT, NULL, NULL, &resp);
        assert_string_equal(str(cJSON_GetObjectItem(resp, "metadata"), "agent"), "alpha");
        cJSON_Delete(resp);
        cJSON_Delete(rec);
    }
}

static void
test_unknown_strategy_routes_as_fallback(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new("t.x", NULL, NULL, &err), *rec;
    struct route_result res;

    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(env, "routing"), "strategy",
                              cJSON_CreateString("round-robin"));
    assert_int_equal(router_route(f->router, env, &res), 0);
    rec = rec_store_load(f->store, res.execution_id, &err);
    assert_non_null(rec);
    assert_string_equal(str(event_payload(rec, 1), "strategy"), "FALLBACK");
    assert_string_equal(str(cJSON_GetObjectItem(rec, "routerDecision"), "reason"), "success");
    cJSON_Delete(rec);
    route_result_free(&res);
    cJSON_Delete(env);
}

static void
test_empty_trace_id_is_filled(void **state)
{
    struct fixture *f = *state;
    struct envelope_opts o = { .trace_id = "" };
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new("t.ok", NULL, &o, &err);
    struct route_result res;

    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_int_equal(strlen(envelope_trace_id(env)), 36);
    assert_string_equal(str(cJSON_GetObjectItem(res.response, "metadata"), "traceId"),
                        envelope_trace_id(env));
    /* The live envelope's decisionPath records the agent that ran. */
    assert_string_equal(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(env, "routingMetadata"), "decisionPath"), 0)
            ->valuestring,
        "c-ok");
    route_result_free(&res);
    cJSON_Delete(env);
}

static void
test_recording_off(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct router *r = router_new(f->cfg->registry, &(struct router_opts){ .store = NULL }, &err);
    cJSON *env = envelope_new("t.ok", NULL, NULL, &err);
    struct route_result res;

    assert_int_equal(router_route(r, env, &res), 0);
    assert_false(res.recorded);
    assert_string_equal(res.execution_id, "");
    assert_int_equal(tu_count_files(f->dir, ".json"), 0);
    route_result_free(&res);
    cJSON_Delete(env);
    router_free(r);
}

/* A number member; a missing one fails the test (not a crash). */
static int
int_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(obj, key);

    if (!cJSON_IsNumber(v))
        fail_msg("no number \"%s\"", key);
    return v->valueint;
}

/* Every failed AGENT_ATTEMPT_END says why: errorCode, message, retryable
 * (extra keys beside the reference's agent/status/exception). */
static void
test_failed_attempts_carry_their_error(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.allfail", STRATEGY_FALLBACK, NULL, NULL, &resp);
    const cJSON *e1 = event_payload(rec, 2), *e2 = event_payload(rec, 5);

    assert_string_equal(str(e1, "status"), "error");
    assert_string_equal(str(e1, "errorCode"), "AGENT_TIMEOUT");
    assert_string_equal(str(e1, "message"), "f1: simulated permanent failure");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(e1, "retryable")));
    assert_string_equal(str(e2, "errorCode"), "TRANSPORT_ERROR");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e2, "retryable")));
    assert_null(cJSON_GetObjectItem(e1, "attempt")); /* no retries: no attempt numbers */
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* The wrapper's exception (b-crash) keeps the reference's "exception"
     * and is an INTERNAL_AGENT_ERROR, as the strategies treat it; a success
     * carries no error keys. */
    rec = route(f, "t.x", STRATEGY_FALLBACK, NULL, NULL, &resp);
    assert_string_equal(str(event_payload(rec, 5), "exception"), "b exploded");
    assert_string_equal(str(event_payload(rec, 5), "errorCode"), "INTERNAL_AGENT_ERROR");
    assert_string_equal(str(event_payload(rec, 5), "message"), "b exploded");
    assert_string_equal(str(event_payload(rec, 2), "errorCode"), "AGENT_ERROR");
    assert_string_equal(str(event_payload(rec, 8), "status"), "ok");
    assert_null(cJSON_GetObjectItem(event_payload(rec, 8), "errorCode"));
    assert_null(cJSON_GetObjectItem(event_payload(rec, 8), "message"));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

/* Retries: each END carries its attempt number and the error; the record's
 * routingMetadata.retries is the real count (the envelope stays as received,
 * so its hash still verifies). */
static void
test_retries_are_counted_in_the_record(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec = route(f, "t.retry", STRATEGY_FALLBACK, NULL, NULL, &resp);
    const cJSON *ev;
    int ends = 0;

    assert_string_equal(str(cJSON_GetObjectItem(rec, "routerDecision"), "agent"), "r2");
    cJSON_ArrayForEach(ev, cJSON_GetObjectItem(rec, "events"))
    {
        const cJSON *p = cJSON_GetObjectItem(ev, "payload");
        if (strcmp(str(ev, "type"), "AGENT_ATTEMPT_END") != 0 || strcmp(str(p, "agent"), "r1") != 0)
            continue;
        ends++;
        assert_int_equal(int_of(p, "attempt"), ends);
        assert_string_equal(str(p, "errorCode"), "AGENT_UNAVAILABLE");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "retryable")));
    }
    assert_int_equal(ends, 3);
    assert_int_equal(int_of(cJSON_GetObjectItem(rec, "routingMetadata"), "retries"), 2);
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    rec = route(f, "t.ok", STRATEGY_DIRECT, NULL, NULL, &resp);
    assert_int_equal(int_of(cJSON_GetObjectItem(rec, "routingMetadata"), "retries"), 0);
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_direct_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_agent_error_is_returned_as_is, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_wrapper_exception, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_target_not_capable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capability_not_found_and_wildcard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decision_path_outlives_the_agents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_all_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_attempts_carry_their_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_are_counted_in_the_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_agents_extension, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_last_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_refused_under_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_first_success, setup_parallel, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_all_fail, setup_parallel, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_strategy_routes_as_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_trace_id_is_filled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording_off, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
