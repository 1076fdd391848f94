/* A response that borrows from its envelope (core/router.h, route_result):
 * the builtin echo answers with a cJSON reference to the envelope's
 * payload, nothing copied, so every path that hands a response on must keep
 * the envelope until the response is gone, or make the response its own.
 * Each test here reads the borrowed payload after the point where the old
 * code freed the envelope (the executor before its completion, PARALLEL's
 * branch envelopes, a sub-intent's child envelope): an ASan build reports
 * the heap-use-after-free a wrong lifetime makes, and the payload compared
 * byte for byte catches a stale read in a plain build. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/executor.h"
#include "core/model.h"
#include "core/router.h"
#include "tests/support/agent_testutil.h"

static const char cfg_text[] =
    "{\"defaults\": {\"breaker\": {\"enabled\": false}}, \"agents\": ["
    "{\"name\":\"echo-a\",\"builtin\":\"echo\",\"intents\":[\"t.echo\",\"t.par\"],"
    " \"nodePriority\":1},"
    "{\"name\":\"fail-b\",\"builtin\":\"fail\",\"intents\":[\"t.par\"],\"nodePriority\":2},"
    "{\"name\":\"fan\",\"builtin\":\"fanout\",\"intents\":[\"t.fan\"],"
    " \"emit\":[\"t.echo\"]}]}";

static const char payload_text[] =
    "{\"query\":\"route the intent café to an agent\",\"n\":10,"
    "\"items\":[{\"id\":1,\"tags\":[\"a\",\"b\"],\"text\":\"naïve façade\"}]}";

struct fixture {
    struct config *cfg;
    struct router *router;
};

static int
setup_opts(void **state, bool determinism)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };

    assert_non_null(f);
    f->cfg = config_parse(cfg_text, strlen(cfg_text), "test", &err);
    if (f->cfg == NULL)
        fail_msg("config: %s", err.msg);
    f->router = router_new(f->cfg->registry,
                           &(struct router_opts){ .require_determinism = determinism }, &err);
    if (f->router == NULL)
        fail_msg("router: %s", err.msg);
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_opts(state, true);
}

static int
setup_parallel(void **state)
{
    return setup_opts(state, false);
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    router_free(f->router);
    config_free(f->cfg);
    free(f);
    return 0;
}

static cJSON *
envelope(const char *intent, enum strategy s)
{
    struct intentus_err err = { 0 };
    cJSON *env = tu_envelope(intent, s, payload_text, &err);

    if (env == NULL)
        fail_msg("envelope: %s", err.msg);
    return env;
}

/* The response's payload, printed, is the sent payload's text. */
static void
assert_payload_is(const cJSON *resp, const char *want_text)
{
    cJSON *want = cJSON_Parse(want_text);
    char *got, *exp;

    assert_non_null(want);
    assert_false(response_is_error(resp));
    got = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(resp, "payload"));
    exp = cJSON_PrintUnformatted(want);
    assert_non_null(got);
    assert_non_null(exp);
    assert_string_equal(got, exp);
    free(got);
    free(exp);
    cJSON_Delete(want);
}

/* The router's own answer borrows (what the rest protects), and
 * route_result_own makes it independent of the envelope. */
static void
test_direct_borrows_and_own_copies(void **state)
{
    struct fixture *f = *state;
    cJSON *env = envelope("t.echo", STRATEGY_DIRECT);
    struct route_result res;

    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_true(response_borrows(res.response));
    assert_payload_is(res.response, payload_text);
    assert_int_equal(route_result_own(&res), 0);
    assert_false(response_borrows(res.response));
    cJSON_Delete(env); /* the response no longer needs it */
    assert_payload_is(res.response, payload_text);
    route_result_free(&res);
}

/* The executor's worker routes and hands the response over in a
 * completion, on another thread, after the route returned: the old code
 * freed the job's envelope in between. */
static void
test_executor_completion_keeps_envelope(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct executor *e = executor_new(f->router, &(struct executor_opts){ .workers = 2 }, &err);
    struct completion c[8];
    size_t got = 0;

    assert_non_null(e);
    for (uint64_t i = 0; i < 8; i++)
        assert_int_equal(executor_submit(e, envelope("t.echo", STRATEGY_DIRECT), i, &err), 0);
    for (int round = 0; round < 500 && got < 8; round++) { /* at most ~10 s */
        struct pollfd pfd = { .fd = executor_fd(e), .events = POLLIN };
        (void)poll(&pfd, 1, 20);
        got += executor_collect(e, c + got, 8 - got);
    }
    assert_int_equal(got, 8);
    executor_shutdown(e, true);
    /* Other jobs' envelopes were freed and their memory reused meanwhile. */
    for (size_t i = 0; i < got; i++) {
        assert_payload_is(c[i].response, payload_text);
        assert_true(response_borrows(c[i].response));
        assert_non_null(c[i].env); /* kept for the response, freed after it */
        completion_free(&c[i]);
        assert_null(c[i].env);
    }
    executor_free(e);
}

/* PARALLEL runs each branch on its own copy of the envelope and frees the
 * copies before the route returns: the winner must not borrow from one. */
static void
test_parallel_winner_outlives_branch_envelopes(void **state)
{
    struct fixture *f = *state;
    cJSON *env = envelope("t.par", STRATEGY_PARALLEL);
    struct route_result res;

    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_payload_is(res.response, payload_text);
    route_result_free(&res);
    cJSON_Delete(env);
}

/* A sub-intent's response goes into the parent agent's subResults, past
 * the child envelope; the fanout agent then answers with it. */
static void
test_subintent_result_outlives_child_envelope(void **state)
{
    struct fixture *f = *state;
    cJSON *env = envelope("t.fan", STRATEGY_DIRECT);
    struct route_result res;
    const cJSON *results, *first;

    assert_int_equal(router_route(f->router, env, &res), 0);
    assert_false(response_is_error(res.response));
    results = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(res.response, "payload"), "results");
    assert_int_equal(cJSON_GetArraySize(results), 1);
    first = cJSON_GetArrayItem(results, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(first, "status")->valuestring, "ok");
    /* The echo child's answer, read after its envelope was freed. */
    assert_payload_is(first, payload_text);
    route_result_free(&res);
    cJSON_Delete(env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_direct_borrows_and_own_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_executor_completion_keeps_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_winner_outlives_branch_envelopes,
                                        setup_parallel, teardown),
        cmocka_unit_test_setup_teardown(test_subintent_result_outlives_child_envelope, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
