/* The router's hot path builds no trees of its own (issue 16): with
 * recording off, a route allocates no more than the agent calls it makes
 * (each agent's response and its decisionPath entry); the router's own
 * values (the decision, the last error of a chain) are plain values or
 * moved, never built or copied as cJSON trees. The counts come from
 * tests/support/alloc/malloc_count.c, which interposes malloc; a
 * sanitizer's allocator does not allow that: there the routes still run
 * (for the sanitizer to check) and the comparisons are counted skips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/agent.h"
#include "core/config.h"
#include "core/json.h"
#include "core/model.h"
#include "core/registry.h"
#include "core/router.h"
#include "tests/support/agent_testutil.h"
#include "tests/support/alloc/malloc_count.h"

/* Breakers off: every route takes the same path. */
static const char cfg_text[] =
    "{\"defaults\": {\"breaker\": {\"enabled\": false}}, \"agents\": ["
    "{\"name\":\"fail-1\",\"builtin\":\"fail\",\"error_code\":\"AGENT_ERROR\","
    " \"intents\":[\"t.fb\"],\"nodePriority\":1},"
    "{\"name\":\"fail-2\",\"builtin\":\"fail\",\"error_code\":\"AGENT_UNAVAILABLE\","
    " \"intents\":[\"t.fb\"],\"nodePriority\":2},"
    "{\"name\":\"echo-a\",\"builtin\":\"echo\",\"intents\":[\"t.echo\",\"t.fb\"],"
    " \"nodePriority\":3}]}";

/* About the bench's 200 byte payload. */
static const char payload_text[] =
    "{\"query\":\"route the intent café to an agent\",\"lang\":\"en\",\"maxResults\":10,"
    "\"temperature\":0.25,\"items\":[{\"id\":1,\"score\":12.5,\"tags\":[\"a\",\"b\"],"
    "\"text\":\"naïve façade summary\"}]}";

/* Issue 16's budgets, whatever the agents do: a DIRECT route to the echo
 * builtin made 53 allocations (the echo copied the payload, every key and
 * literal of the response was its own string), FALLBACK-3 121. The echo
 * now borrows the envelope's payload (core/router.h), the response's fixed
 * keys and literals are linked, not copied, and once a thread has routed,
 * the echo's success reuses the spare response route_result_free left
 * (response_recycle): what remains is the decisionPath entry, one node
 * linking the agent's interned name (core/intern.h; it was 2 while the
 * name was copied). A thread's first route builds its response (14). Each
 * failure of FALLBACK-3 reuses the last failure's shell in the same way,
 * and its error one a failure before it left (error_info_recycle), so all
 * that is left is each attempt's decisionPath entry: 3 x 1. */
#define DIRECT_MAX_ALLOCS 1   /* what a route makes now: any new one fails */
#define FALLBACK_MAX_ALLOCS 3 /* the same */

struct fixture {
    struct config *cfg;
    struct router *router;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };

    assert_non_null(f);
    f->cfg = config_parse(cfg_text, strlen(cfg_text), "test", &err);
    if (f->cfg == NULL)
        fail_msg("config: %s", err.msg);
    /* No store, no writer, no WAL: recording off. */
    f->router =
        router_new(f->cfg->registry, &(struct router_opts){ .require_determinism = true }, &err);
    assert_non_null(f->router);
    *state = f;
    return 0;
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

/* Allocations of one agent_call of the named agent on a copy of env, its
 * response then freed as route_result_free frees it. */
static size_t
agent_allocs(struct fixture *f, const cJSON *env, const char *name)
{
    struct agent *a = registry_find(f->cfg->registry, name);
    struct intentus_err err = { 0 };
    struct malloc_count mc;
    cJSON *copy = cJSON_Duplicate(env, 1), *resp;

    assert_non_null(a);
    assert_non_null(copy);
    malloc_count_start();
    resp = agent_call(a, copy, NULL, &err);
    malloc_count_stop(&mc);
    assert_non_null(resp);
    response_recycle(resp); /* as route_result_free does */
    cJSON_Delete(copy);
    return mc.calls;
}

/* Allocations of one route of a copy of env; the response must be want. */
static size_t
route_allocs(struct fixture *f, const cJSON *env, bool want_error, int want_attempts)
{
    struct malloc_count mc;
    struct route_result res;
    cJSON *copy = cJSON_Duplicate(env, 1);
    int rc;

    assert_non_null(copy);
    malloc_count_start();
    rc = router_route(f->router, copy, &res);
    malloc_count_stop(&mc);
    assert_int_equal(rc, 0);
    assert_non_null(res.response);
    assert_int_equal(response_is_error(res.response), want_error);
    assert_int_equal(res.attempts, want_attempts);
    assert_false(res.recorded);
    route_result_free(&res);
    cJSON_Delete(copy);
    return mc.calls;
}

/* DIRECT to echo: the route allocates what the echo call does (the
 * decisionPath entry; its response reuses the thread's spare) and nothing
 * else: before, the decision tree came on top (13 more). */
static void
test_direct_allocates_only_the_agent_call(void **state)
{
    struct fixture *f = *state;
    cJSON *env;
    size_t agent, route;

    env = envelope("t.echo", STRATEGY_DIRECT);
    (void)route_allocs(f, env, false, 1); /* per-thread state (ids, clocks) settles */
    agent = agent_allocs(f, env, "echo-a");
    route = route_allocs(f, env, false, 1);
    if (!malloc_count_available()) { /* the routes ran (sanitizers see them); nothing counted */
        cJSON_Delete(env);
        skip();
    }
    print_message("DIRECT, recording off: %zu allocations per route, %zu in the agent call\n",
                  route, agent);
    if (route > agent)
        fail_msg("a DIRECT route with recording off made %zu allocations, %zu more than its "
                 "agent call (%zu): the router built trees of its own",
                 route, route - agent, agent);
    if (route > DIRECT_MAX_ALLOCS)
        fail_msg("a DIRECT route to echo with recording off made %zu allocations, over the "
                 "budget of %d (the payload copied, or the response's keys and literals "
                 "allocated)",
                 route, DIRECT_MAX_ALLOCS);
    cJSON_Delete(env);
}

/* FALLBACK over two failing agents then echo: the three calls' allocations
 * and nothing else (before: the decision, and each failure's error copied
 * into the chain's last error). */
static void
test_fallback_allocates_only_the_agent_calls(void **state)
{
    struct fixture *f = *state;
    cJSON *env;
    size_t agents, route;

    env = envelope("t.fb", STRATEGY_FALLBACK);
    (void)route_allocs(f, env, false, 3);
    agents = agent_allocs(f, env, "fail-1") + agent_allocs(f, env, "fail-2") +
             agent_allocs(f, env, "echo-a");
    route = route_allocs(f, env, false, 3);
    if (!malloc_count_available()) {
        cJSON_Delete(env);
        skip();
    }
    print_message("FALLBACK-3, recording off: %zu allocations per route, %zu in the agent calls\n",
                  route, agents);
    if (route > agents)
        fail_msg("a FALLBACK route with recording off made %zu allocations, %zu more than its "
                 "three agent calls (%zu): the router built or copied trees of its own",
                 route, route - agents, agents);
    if (route > FALLBACK_MAX_ALLOCS)
        fail_msg("a FALLBACK-3 route with recording off made %zu allocations, over the budget "
                 "of %d",
                 route, FALLBACK_MAX_ALLOCS);
    cJSON_Delete(env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_direct_allocates_only_the_agent_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_allocates_only_the_agent_calls, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
