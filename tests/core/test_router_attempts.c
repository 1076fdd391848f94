/* route_result.attempts and completion.attempts: the agent calls an
 * execution made (retries and fallbacks included), which serve's
 * GET /v1/events reports. A real runtime from a config file. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/model.h"
#include "core/runtime.h"
#include "tests/support/testutil.h"

static const char config[] =
    "{\"agents\": [\n"
    " {\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": [\"t.echo\"]},\n"
    " {\"name\": \"retry-r\", \"builtin\": \"fail\", \"error_code\": \"AGENT_TIMEOUT\",\n"
    "  \"retryable\": true, \"idempotent\": true, \"intents\": [\"t.retry\"],\n"
    "  \"retry\": {\"max_attempts\": 3, \"base_ms\": 1, \"max_ms\": 2},\n"
    "  \"breaker\": {\"failure_threshold\": 100}},\n"
    " {\"name\": \"a-fail\", \"builtin\": \"fail\", \"intents\": [\"t.fb\"], \"nodePriority\": "
    "1},\n"
    " {\"name\": \"b-echo\", \"builtin\": \"echo\", \"intents\": [\"t.fb\"], \"nodePriority\": "
    "2}]}\n";

static struct runtime *
open_rt(char **dir)
{
    char path[1024];
    struct intentus_err err = { 0 };
    struct runtime *rt;

    *dir = tu_mkdtemp();
    snprintf(path, sizeof(path), "%s/c.json", *dir);
    assert_int_equal(tu_write_file(path, config, strlen(config), 0600), 0);
    rt = runtime_open(path, &(struct runtime_opts){ .no_record = true, .workers = 1 }, &err);
    if (rt == NULL)
        fail_msg("%s", err.msg);
    return rt;
}

static int
attempts_of(struct runtime *rt, const char *intent, enum strategy st)
{
    struct envelope_opts o = { .strategy = st, .priority = PRIORITY_NORMAL, .source = "t" };
    cJSON *env = envelope_new(intent, cJSON_CreateObject(), &o, NULL);
    struct route_result res;
    int n;

    assert_non_null(env);
    assert_int_equal(runtime_route(rt, env, &res), 0);
    n = res.attempts;
    route_result_free(&res);
    cJSON_Delete(env);
    return n;
}

static void
test_attempts_counted(void **state)
{
    char *dir;
    struct runtime *rt = open_rt(&dir);

    (void)state;
    assert_int_equal(attempts_of(rt, "t.echo", STRATEGY_DIRECT), 1);
    assert_int_equal(attempts_of(rt, "t.retry", STRATEGY_DIRECT), 3);  /* two retries */
    assert_int_equal(attempts_of(rt, "t.fb", STRATEGY_FALLBACK), 2);   /* a-fail, then b-echo */
    assert_int_equal(attempts_of(rt, "t.nobody", STRATEGY_DIRECT), 0); /* no agent called */
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

/* The worker pool hands the count on in the completion. */
static void
test_completion_carries_attempts(void **state)
{
    char *dir;
    struct runtime *rt = open_rt(&dir);
    struct envelope_opts o = { .strategy = STRATEGY_DIRECT,
                               .priority = PRIORITY_NORMAL,
                               .source = "t" };
    struct completion c[1];
    size_t n = 0;

    (void)state;
    assert_int_equal(
        runtime_submit(rt, envelope_new("t.retry", cJSON_CreateObject(), &o, NULL), 7, NULL), 0);
    for (int i = 0; i < 100 && n == 0; i++) {
        struct pollfd p = { runtime_completion_fd(rt), POLLIN, 0 };
        poll(&p, 1, 100);
        n = runtime_collect(rt, c, 1);
    }
    assert_int_equal(n, 1);
    assert_int_equal(c[0].tag, 7);
    assert_int_equal(c[0].attempts, 3);
    completion_free(&c[0]);
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempts_counted),
        cmocka_unit_test(test_completion_carries_attempts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
