/* Deadlines, circuit breakers, retries and the async worker pool, through
 * the real router with recording into a temporary directory. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/executor.h"
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

static const char cfg_text[] =
    "{\"require_determinism\": false,"
    " \"defaults\": {\"timeout\": \"5s\", \"breaker\": {\"failure_threshold\": 3,"
    "   \"failure_rate\": 0, \"cooldown\": \"80ms\"}},"
    " \"agents\": ["
    "  {\"name\":\"slow\",\"builtin\":\"slow\",\"delay_ms\":3000,\"timeout\":\"100ms\","
    "   \"intents\":[\"t.slow\"],\"nodePriority\":1},"
    "  {\"name\":\"quick\",\"builtin\":\"echo\",\"intents\":[\"t.slow\",\"t.mix\"],"
    "   \"nodePriority\":2},"
    "  {\"name\":\"dead\",\"builtin\":\"fail\",\"intents\":[\"t.dead\"]},"
    "  {\"name\":\"healer\",\"builtin\":\"flaky\",\"fail_first\":3,\"fail_rate\":0,"
    "   \"intents\":[\"t.heal\"]},"
    "  {\"name\":\"retrier\",\"builtin\":\"flaky\",\"fail_first\":2,\"fail_rate\":0,"
    "   \"idempotent\":true,\"retry\":{\"max_attempts\":4,\"base_ms\":1,\"max_ms\":5},"
    "   \"breaker\":{\"enabled\":false},\"intents\":[\"t.retry\"]},"
    "  {\"name\":\"noretry\",\"builtin\":\"flaky\",\"fail_first\":1,\"fail_rate\":0,"
    "   \"intents\":[\"t.noretry\"]},"
    "  {\"name\":\"sometimes\",\"builtin\":\"flaky\",\"fail_rate\":0.3,\"seed\":7,"
    "   \"breaker\":{\"enabled\":false},\"intents\":[\"t.mix\"],\"nodePriority\":1},"
    "  {\"name\":\"snail\",\"builtin\":\"slow\",\"delay_ms\":2,\"intents\":[\"t.mix2\"]}"
    " ]}";

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };

    f->dir = tu_mkdtemp();
    f->cfg = config_parse(cfg_text, strlen(cfg_text), "test", &err);
    if (f->cfg == NULL)
        fail_msg("config: %s", err.msg);
    f->store = rec_store_open(f->dir, NULL, &err);
    f->router = router_new(
        f->cfg->registry,
        &(struct router_opts){ .require_determinism = false, .store = f->store, .seed = 42 }, &err);
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
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static cJSON *
route(struct fixture *f, const char *intent, enum strategy s, int64_t timeout_ms, cJSON **response)
{
    struct envelope_opts o = { .strategy = s, .timeout_ms = timeout_ms };
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new(intent, NULL, &o, &err), *rec;
    struct route_result res;
    long long got;

    if (timeout_ms > 0) /* the model writes the router's deadline key */
        assert_int_equal(json_get_int64(cJSON_GetObjectItem(env, "routing"), "timeoutMs", &got), 0);
    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_true(res.recorded);
    rec = rec_store_load(f->store, res.execution_id, &err);
    assert_non_null(rec);
    assert_int_equal(record_verify_hash(rec, &err), 0);
    assert_int_equal(route_result_own(&res), 0); /* kept past env (core/router.h) */
    *response = res.response;
    cJSON_Delete(env);
    return rec;
}

static void
types(const cJSON *rec, char *out, size_t size)
{
    const cJSON *ev;

    out[0] = '\0';
    cJSON_ArrayForEach(ev, cJSON_GetObjectItem(rec, "events"))
    {
        if (out[0])
            strncat(out, ",", size - strlen(out) - 1);
        strncat(out, cJSON_GetObjectItem(ev, "type")->valuestring, size - strlen(out) - 1);
    }
}

static const cJSON *
ev_payload(const cJSON *rec, int i)
{
    return cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "events"), i),
                               "payload");
}

/* Event i's offsetUs. */
static double
ev_off(const cJSON *rec, int i)
{
    const cJSON *o =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "events"), i), "offsetUs");

    assert_true(cJSON_IsNumber(o));
    return o->valuedouble;
}

static void
test_agent_timeout_then_fallback(void **state)
{
    struct fixture *f = *state;
    int64_t t0 = clock_mono_us();
    cJSON *resp, *rec = route(f, "t.slow", STRATEGY_FALLBACK, 0, &resp);
    int64_t took = clock_mono_us() - t0;
    char seq[512];

    types(rec, seq, sizeof(seq));
    assert_string_equal(seq, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,"
                             "FALLBACK_TRIGGERED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,"
                             "ROUTER_DECISION,FINAL_RESPONSE");
    /* The slow agent was cut off at its 100 ms timeout, with the elapsed time. */
    assert_true(took < 1500 * 1000);
    assert_true(cJSON_GetObjectItem(ev_payload(rec, 2), "elapsedUs")->valuedouble >= 90000);
    assert_false(response_is_error(resp));
    assert_string_equal(json_get_string(cJSON_GetObjectItem(resp, "metadata"), "agent"), "quick");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_execution_deadline_stops_the_chain(void **state)
{
    struct fixture *f = *state;
    int64_t t0 = clock_mono_us();
    cJSON *resp, *rec = route(f, "t.slow", STRATEGY_DIRECT, 50, &resp);

    /* The 50 ms execution deadline beats the agent's 100 ms timeout. */
    assert_true(clock_mono_us() - t0 < 1000 * 1000);
    assert_string_equal(response_error_code(resp), "AGENT_TIMEOUT");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(response_error(resp), "retryable")));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_breaker_cycle_recorded(void **state)
{
    struct fixture *f = *state;
    struct timespec wait = { 0, 120 * 1000000L };
    cJSON *resp, *rec;
    char seq[1024];

    /* Three failures open the circuit (CLOSED -> OPEN recorded). */
    for (int i = 0; i < 3; i++) {
        rec = route(f, "t.heal", STRATEGY_DIRECT, 0, &resp);
        types(rec, seq, sizeof(seq));
        if (i == 2) {
            assert_string_equal(seq, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,"
                                     "CIRCUIT_STATE_CHANGE,ROUTER_DECISION,FINAL_RESPONSE");
            assert_string_equal(json_get_string(ev_payload(rec, 3), "from"), "CLOSED");
            assert_string_equal(json_get_string(ev_payload(rec, 3), "to"), "OPEN");
            /* One clock read per moment: INTENT_RECEIVED is the record's
             * start, the breaker's verdict the attempt's end, and the
             * decision and final response one reading at the end. */
            assert_true(ev_off(rec, 0) == 0);
            assert_true(ev_off(rec, 1) <= ev_off(rec, 2));
            assert_true(ev_off(rec, 3) == ev_off(rec, 2));
            assert_true(ev_off(rec, 4) >= ev_off(rec, 3));
            assert_true(ev_off(rec, 5) == ev_off(rec, 4));
        }
        cJSON_Delete(resp);
        cJSON_Delete(rec);
    }
    /* Open: DIRECT fails fast with AGENT_UNAVAILABLE, the skip recorded. */
    rec = route(f, "t.heal", STRATEGY_DIRECT, 0, &resp);
    types(rec, seq, sizeof(seq));
    assert_string_equal(seq, "INTENT_RECEIVED,CIRCUIT_OPEN_SKIPPED,FINAL_RESPONSE");
    assert_string_equal(response_error_code(resp), "AGENT_UNAVAILABLE");
    assert_string_equal(json_get_string(ev_payload(rec, 1), "state"), "OPEN");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* After the cool-down a probe goes through and succeeds: HALF_OPEN, CLOSED. */
    nanosleep(&wait, NULL);
    rec = route(f, "t.heal", STRATEGY_DIRECT, 0, &resp);
    types(rec, seq, sizeof(seq));
    assert_string_equal(seq, "INTENT_RECEIVED,CIRCUIT_STATE_CHANGE,AGENT_ATTEMPT_START,"
                             "AGENT_ATTEMPT_END,CIRCUIT_STATE_CHANGE,ROUTER_DECISION,"
                             "FINAL_RESPONSE");
    assert_string_equal(json_get_string(ev_payload(rec, 1), "to"), "HALF_OPEN");
    assert_string_equal(json_get_string(ev_payload(rec, 4), "to"), "CLOSED");
    /* HALF_OPEN is decided at the attempt's start, CLOSED at its end. */
    assert_true(ev_off(rec, 1) == ev_off(rec, 2));
    assert_true(ev_off(rec, 3) == ev_off(rec, 4));
    assert_true(ev_off(rec, 2) <= ev_off(rec, 3));
    assert_false(response_is_error(resp));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_open_circuit_skipped_by_fallback(void **state)
{
    struct fixture *f = *state;
    cJSON *resp, *rec;
    struct breaker_change ch;
    struct agent *dead = registry_find(f->cfg->registry, "dead");
    char seq[512];

    for (int i = 0; i < 3; i++) {
        rec = route(f, "t.dead", STRATEGY_FALLBACK, 0, &resp);
        cJSON_Delete(resp);
        cJSON_Delete(rec);
    }
    rec = route(f, "t.dead", STRATEGY_FALLBACK, 0, &resp);
    types(rec, seq, sizeof(seq));
    assert_string_equal(seq, "INTENT_RECEIVED,CIRCUIT_OPEN_SKIPPED,ROUTER_DECISION,"
                             "FINAL_RESPONSE");
    assert_string_equal(response_error_code(resp), "AGENT_UNAVAILABLE");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* Reset by hand: the next call reaches the agent again. */
    breaker_reset(dead->breaker, &ch);
    assert_true(ch.changed);
    rec = route(f, "t.dead", STRATEGY_FALLBACK, 0, &resp);
    assert_string_equal(response_error_code(resp), "AGENT_ERROR");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_retries_for_idempotent_agents_only(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    cJSON *env, *resp, *rec;
    struct route_result res;
    char seq[512];

    env = envelope_new("t.retry", NULL, NULL, &err);
    assert_int_equal(router_route(f->router, env, &res), 0);
    rec = rec_store_load(f->store, res.execution_id, &err);
    types(rec, seq, sizeof(seq));
    /* Two failures, then success on attempt 3; each attempt numbered. */
    assert_string_equal(seq, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,"
                             "AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,AGENT_ATTEMPT_START,"
                             "AGENT_ATTEMPT_END,ROUTER_DECISION,FINAL_RESPONSE");
    assert_int_equal(cJSON_GetObjectItem(ev_payload(rec, 5), "attempt")->valueint, 3);
    assert_false(response_is_error(res.response));
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(env, "routingMetadata"), "retries")->valueint, 2);
    cJSON_Delete(rec);
    route_result_free(&res);
    cJSON_Delete(env);
    /* Not idempotent: one attempt, the retryable error is returned. */
    rec = route(f, "t.noretry", STRATEGY_DIRECT, 0, &resp);
    types(rec, seq, sizeof(seq));
    assert_string_equal(seq, "INTENT_RECEIVED,AGENT_ATTEMPT_START,AGENT_ATTEMPT_END,"
                             "ROUTER_DECISION,FINAL_RESPONSE");
    assert_null(cJSON_GetObjectItem(ev_payload(rec, 1), "attempt"));
    assert_string_equal(response_error_code(resp), "AGENT_UNAVAILABLE");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_retry_without_idempotent_is_a_config_error(void **state)
{
    (void)state;
    const char *text = "{\"agents\":[{\"name\":\"x\",\"builtin\":\"echo\",\"intents\":[\"a\"],"
                       "\"retry\":{\"max_attempts\":3}}]}";
    struct intentus_err err = { 0 };

    assert_null(config_parse(text, strlen(text), "c.json", &err));
    assert_non_null(strstr(err.msg, "agents[0].retry"));
    assert_non_null(strstr(err.msg, "idempotent"));
}

/* 1,000 submits against good, flaky and slow agents: every one completes,
 * every one is recorded, and the eventfd wakes a poll() loop. */
static void
test_async_thousand_submits(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct executor *ex = executor_new(
        f->router, &(struct executor_opts){ .workers = 4, .queue_capacity = 2000 }, &err);
    const char *intents[] = { "t.mix", "t.mix2", "t.dead", "t.mix" };
    struct completion batch[64];
    size_t got = 0, ok = 0, failed = 0;
    int64_t deadline = clock_mono_us() + 60 * 1000000LL;
    char seen[1000] = { 0 };

    assert_non_null(ex);
    for (int i = 0; i < 1000; i++) {
        cJSON *env = envelope_new(intents[i % 4], NULL,
                                  &(struct envelope_opts){ .strategy = STRATEGY_FALLBACK }, &err);
        assert_int_equal(executor_submit(ex, env, (uint64_t)i, &err), 0);
    }
    while (got < 1000 && clock_mono_us() < deadline) {
        struct pollfd p = { executor_fd(ex), POLLIN, 0 };
        size_t n;
        poll(&p, 1, 1000);
        n = executor_collect(ex, batch, 64);
        for (size_t i = 0; i < n; i++) {
            assert_true(batch[i].tag < 1000);
            assert_false(seen[batch[i].tag]);
            seen[batch[i].tag] = 1;
            assert_true(batch[i].recorded);
            if (response_is_error(batch[i].response))
                failed++;
            else
                ok++;
            completion_free(&batch[i]);
        }
        got += n;
    }
    assert_int_equal(got, 1000);
    assert_int_equal(executor_outstanding(ex), 0);
    assert_int_equal(tu_count_files(f->dir, ".json"), 1000);
    assert_true(ok >= 700);   /* t.mix falls back to quick; t.mix2 is slow but fine */
    assert_true(failed >= 1); /* t.dead always fails (then its circuit opens) */
    executor_free(ex);
}

static void
test_async_queue_full_and_cancel_at_shutdown(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct executor *ex =
        executor_new(f->router, &(struct executor_opts){ .workers = 1, .queue_capacity = 3 }, &err);
    struct completion c[16];
    size_t n = 0, cancelled = 0, tries = 0;
    int accepted = 0;

    /* The single worker is busy with a slow call, so the queue fills. */
    for (int i = 0; i < 10; i++) {
        cJSON *env = envelope_new("t.slow", NULL, NULL, &err);
        if (executor_submit(ex, env, (uint64_t)i, &err) == 0) {
            accepted++;
        } else {
            assert_int_equal(err.code, IERR_LIMIT);
            assert_non_null(strstr(err.msg, "queue full"));
            cJSON_Delete(env);
        }
    }
    assert_true(accepted >= 3 && accepted <= 4);
    executor_shutdown(ex, false);
    {
        cJSON *env = envelope_new("t.slow", NULL, NULL, &err);
        assert_int_equal(executor_submit(ex, env, 99, &err), -1);
        assert_int_equal(err.code, IERR_INVALID);
        cJSON_Delete(env);
    }
    while (n < (size_t)accepted && tries++ < 100)
        n += executor_collect(ex, c + n, 16 - n);
    assert_int_equal(n, (size_t)accepted);
    for (size_t i = 0; i < n; i++) {
        if (c[i].cancelled) {
            cancelled++;
            assert_string_equal(response_error_code(c[i].response), "WORKFLOW_ABORTED");
            assert_true(c[i].recorded); /* what happened is on record */
        }
        completion_free(&c[i]);
    }
    assert_true(cancelled >= 2);
    assert_int_equal(tu_count_files(f->dir, ".json"), accepted);
    executor_free(ex);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_timeout_then_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_execution_deadline_stops_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_breaker_cycle_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_circuit_skipped_by_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_for_idempotent_agents_only, setup, teardown),
        cmocka_unit_test(test_retry_without_idempotent_is_a_config_error),
        cmocka_unit_test_setup_teardown(test_async_thousand_submits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_queue_full_and_cancel_at_shutdown, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
