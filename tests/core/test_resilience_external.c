/* Agents outside the process, through the real router with recording: each
 * failure of a real child process or a real HTTP server on 127.0.0.1 lands
 * in a record with the right error code, a hung agent never holds the
 * router past its deadline, and the breaker of an HTTP agent moves through
 * CLOSED -> OPEN -> HALF_OPEN -> CLOSED as configured, all on record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/router.h"
#include "tests/support/agent_testutil.h"
#include "tests/support/testutil.h"

struct fx {
    char *dir;
    struct config *cfg;
    struct rec_store *store;
    struct router *router;
    struct tu_http_server http;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };
    char text[4096];

    f->dir = tu_mkdtemp();
    assert_int_equal(tu_http_server_start(&f->http, NULL), 0);
    snprintf(text, sizeof(text),
             "{\"agents\": ["
             " {\"name\": \"ext\", \"kind\": \"exec\", \"argv\": [\"%s\", "
             "\"examples/agents/summarize.py\"], \"timeout\": \"1500ms\","
             "  \"breaker\": {\"enabled\": false}, \"intents\": [\"t.exec\"]},"
             " {\"name\": \"web\", \"kind\": \"http\", \"url\": \"http://127.0.0.1:%d/agent\","
             "  \"timeout\": \"1s\", \"breaker\": {\"failure_threshold\": 2, \"failure_rate\": 0,"
             "  \"cooldown\": \"150ms\"}, \"intents\": [\"t.http\"]}"
             "]}",
             tu_python(), f->http.port);
    f->cfg = config_parse(text, strlen(text), "test", &err);
    if (f->cfg == NULL)
        fail_msg("config: %s", err.msg);
    f->store = rec_store_open(f->dir, NULL, &err);
    f->router =
        router_new(f->cfg->registry,
                   &(struct router_opts){ .require_determinism = true, .store = f->store }, &err);
    assert_non_null(f->router);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    router_free(f->router);
    rec_store_close(f->store);
    config_free(f->cfg);
    tu_http_server_stop(&f->http);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Route intent with payload; return the record as stored (verified). */
static cJSON *
route(struct fx *f, const char *intent, const char *payload, cJSON **resp)
{
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new(intent, json_parse(payload, strlen(payload), 0, NULL), NULL, &err);
    struct route_result res;
    cJSON *rec;

    assert_non_null(env);
    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_true(res.recorded);
    rec = rec_store_load(f->store, res.execution_id, &err);
    if (rec == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(record_verify_hash(rec, &err), 0);
    assert_true(cJSON_Compare(res.response, cJSON_GetObjectItem(rec, "finalResponse"), 1));
    assert_int_equal(route_result_own(&res), 0); /* kept past env (core/router.h) */
    *resp = res.response;
    cJSON_Delete(env);
    return rec;
}

static const char *
final_code(const cJSON *rec)
{
    const char *c = response_error_code(cJSON_GetObjectItem(rec, "finalResponse"));
    return c != NULL ? c : "";
}

static void
test_exec_failures_are_recorded(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *payload, *code;
    } cases[] = {
        { "{\"mode\": \"ok\", \"text\": \"hello\"}", "" },
        { "{\"mode\": \"fail\"}", "AGENT_ERROR" },
        { "{\"mode\": \"crash\"}", "INTERNAL_AGENT_ERROR" },
        { "{\"mode\": \"exit3\"}", "INTERNAL_AGENT_ERROR" },
        { "{\"mode\": \"garbage\"}", "PROTOCOL_ERROR" },
        { "{\"mode\": \"big\"}", "PROTOCOL_ERROR" },
        { "{\"mode\": \"hang\"}", "AGENT_TIMEOUT" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t t0 = clock_mono_us();
        cJSON *resp, *rec = route(f, "t.exec", cases[i].payload, &resp);
        int64_t took = clock_mono_us() - t0;
        if (strcmp(final_code(rec), cases[i].code) != 0)
            fail_msg("%s: recorded %s, want %s", cases[i].payload, final_code(rec),
                     cases[i].code[0] ? cases[i].code : "success");
        /* The hung agent is cut off at its 1.5 s timeout, not later. */
        assert_true(took < 4000 * 1000);
        cJSON_Delete(resp);
        cJSON_Delete(rec);
    }
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

static void
test_http_failures_and_breaker_cycle(void **state)
{
    struct fx *f = *state;
    struct timespec cool = { 0, 250 * 1000000L };
    char seq[1024];
    cJSON *resp, *rec;

    rec = route(f, "t.http", "{\"mode\": \"badbody\"}", &resp);
    assert_string_equal(final_code(rec), "PROTOCOL_ERROR");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* Second failure in a row: the circuit opens, on record. */
    rec = route(f, "t.http", "{\"mode\": \"status500\"}", &resp);
    assert_string_equal(final_code(rec), "TRANSPORT_ERROR");
    types(rec, seq, sizeof(seq));
    assert_non_null(strstr(seq, "AGENT_ATTEMPT_END,CIRCUIT_STATE_CHANGE"));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* Open: the server is not even called. */
    rec = route(f, "t.http", "{\"mode\": \"ok\"}", &resp);
    types(rec, seq, sizeof(seq));
    assert_string_equal(seq, "INTENT_RECEIVED,CIRCUIT_OPEN_SKIPPED,FINAL_RESPONSE");
    assert_string_equal(final_code(rec), "AGENT_UNAVAILABLE");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* After the cool-down a probe succeeds: HALF_OPEN, then CLOSED. */
    nanosleep(&cool, NULL);
    rec = route(f, "t.http", "{\"mode\": \"ok\"}", &resp);
    types(rec, seq, sizeof(seq));
    assert_string_equal(seq, "INTENT_RECEIVED,CIRCUIT_STATE_CHANGE,AGENT_ATTEMPT_START,"
                             "AGENT_ATTEMPT_END,CIRCUIT_STATE_CHANGE,ROUTER_DECISION,"
                             "FINAL_RESPONSE");
    assert_string_equal(final_code(rec), "");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* Connection refused once the server is gone. */
    tu_http_server_stop(&f->http);
    rec = route(f, "t.http", "{\"mode\": \"ok\"}", &resp);
    assert_string_equal(final_code(rec), "AGENT_UNAVAILABLE");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(response_error(resp), "retryable")));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exec_failures_are_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_failures_and_breaker_cycle, setup, teardown),
    };
    if (tu_python() == NULL) {
        fprintf(stderr, "python3 is needed for the example agents\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
