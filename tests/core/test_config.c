/* Config: the demo loads through the same parser as files; every bad input
 * names the file, the JSON path and the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/policy.h"
#include "tests/support/testutil.h"

static void
test_demo_config(void **state)
{
    (void)state;
    struct intentus_err err = { 0 };
    struct config *cfg = config_demo(&err);
    struct agent *c[8];

    assert_non_null(cfg);
    assert_true(cfg->is_demo);
    assert_true(cfg->require_determinism);
    assert_int_equal(registry_count(cfg->registry), 5);
    /* demo.echo: echo-a, then flaky-b. */
    assert_int_equal(registry_candidates(cfg->registry, "demo.echo", "1.0", c), 2);
    assert_string_equal(c[0]->name, "echo-a");
    assert_string_equal(c[1]->name, "flaky-b");
    assert_int_equal(registry_candidates(cfg->registry, "demo.slow", "1.0", c), 1);
    assert_int_equal(registry_candidates(cfg->registry, "demo.fail", "1.0", c), 1);
    assert_int_equal(registry_candidates(cfg->registry, "demo.upper", "1.0", c), 2);
    assert_string_equal(c[0]->name, "upper-u");
    config_free(cfg);
}

/* What the console's demo traffic shows within seconds (#22): flaky-b's
 * breaker opens after 3 failures in a row, probes after 3 s and closes after
 * 2 good probes; guest may not run demo.admin (a policy refusal). */
static void
test_demo_config_breaker_and_policy(void **state)
{
    (void)state;
    struct intentus_err err = { 0 };
    struct config *cfg = config_demo(&err);
    struct breaker_policy bp;
    struct policy_decision d;
    struct agent *c[8];

    assert_non_null(cfg);
    assert_true(config_breaker_policy(cfg, "flaky-b", &bp));
    assert_true(bp.enabled);
    assert_int_equal(bp.failure_threshold, 3);
    assert_int_equal(bp.cooldown_ms, 3000);
    assert_int_equal(bp.half_open_probes, 2);
    assert_int_equal(registry_candidates(cfg->registry, "demo.admin", "1.0", c), 1);
    assert_string_equal(c[0]->name, "echo-a");
    assert_non_null(cfg->policy);
    policy_evaluate(
        cfg->policy,
        &(struct policy_ctx){
            .tenant = "guest", .intent = "demo.admin", .intent_version = "1.0", .agent = "echo-a" },
        &d);
    assert_false(d.allowed);
    assert_string_equal(d.matched_rule, "no-guest-admin");
    policy_evaluate(
        cfg->policy,
        &(struct policy_ctx){
            .tenant = "acme", .intent = "demo.admin", .intent_version = "1.0", .agent = "echo-a" },
        &d);
    assert_true(d.allowed);
    policy_evaluate(
        cfg->policy,
        &(struct policy_ctx){
            .tenant = "guest", .intent = "demo.echo", .intent_version = "1.0", .agent = "echo-a" },
        &d);
    assert_true(d.allowed);
    config_free(cfg);
}

/* Parse text expecting failure; the message must contain every needle. */
static void
expect_error(const char *text, const char *needle1, const char *needle2)
{
    struct intentus_err err = { 0 };
    struct config *cfg = config_parse(text, strlen(text), "my.json", &err);

    if (cfg != NULL)
        fail_msg("accepted: %s", text);
    assert_int_equal(err.code, IERR_CONFIG);
    if (strstr(err.msg, "my.json") == NULL || strstr(err.msg, needle1) == NULL ||
        (needle2 != NULL && strstr(err.msg, needle2) == NULL))
        fail_msg("message '%s' lacks '%s'/'%s'", err.msg, needle1, needle2 ? needle2 : "");
}

static void
test_bad_configs_are_named(void **state)
{
    (void)state;
    expect_error("{", "line 1", NULL);
    expect_error("[]", "must be a JSON object", NULL);
    expect_error("{\"agentz\": []}", "agentz", "unknown key");
    expect_error("{\"wal\": {\"enabled\": 1}}", "wal.enabled", "true or false");
    expect_error("{\"retention\": {\"older\": \"30d\"}}", "retention.older", "unknown key");
    expect_error("{\"retention\": {\"max_bytes\": \"lots\"}}", "retention.max_bytes", NULL);
    expect_error("{\"require_determinism\": \"yes\"}", "require_determinism", "true or false");
    expect_error("{\"recording\": {\"dir\": 5}}", "recording.dir", NULL);
    expect_error("{\"recording\": {\"fsnc\": true}}", "recording.fsnc", "unknown");
    expect_error("{\"agents\": {}}", "agents", "array");
    expect_error("{\"agents\": [{\"builtin\": \"echo\", \"intents\": [\"x\"]}]}", "agents[0].name",
                 NULL);
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", \"intents\": []}]}",
                 "agents[0].intents", "has no capabilities");
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", \"intents\": [\"x\"]},"
                 "{\"name\": \"a\", \"builtin\": \"echo\", \"intents\": [\"y\"]}]}",
                 "agents[1]", "Agent 'a' is already registered");
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"nope\", \"intents\": [\"x\"]}]}",
                 "agents[0].builtin", "unknown builtin 'nope'");
    expect_error("{\"agents\": [{\"name\": \"a\", \"kind\": \"ftp\", \"intents\": [\"x\"]}]}",
                 "agents[0].kind", "unknown agent kind");
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", \"intents\": [\"x\"],"
                 " \"colour\": 1}]}",
                 "agents[0].colour", "unknown key");
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"flaky\", \"intents\": [\"x\"],"
                 " \"fail_rate\": 2}]}",
                 "agents[0].fail_rate", NULL);
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"fail\", \"intents\": [\"x\"],"
                 " \"error_code\": \"OOPS\"}]}",
                 "agents[0].error_code", NULL);
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", \"intents\": [\"x@\"]}]}",
                 "agents[0].intents[0]", NULL);
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", \"intents\": [\"x\"],"
                 " \"nodePriority\": 1.5}]}",
                 "agents[0].nodePriority", NULL);
}

static void
test_search_order_and_records_dir(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600], env[700];
    struct intentus_err err = { 0 };
    struct config *cfg;
    const char *text = "{\"recording\": {\"dir\": \"/srv/rec\", \"fsync\": true},"
                       " \"require_determinism\": false,"
                       " \"retention\": {\"older_than\": \"7d\", \"max_bytes\": \"1G\","
                       " \"archive_dir\": \"/srv/cold\"}}";

    snprintf(path, sizeof(path), "%s/c.json", dir);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    cfg = config_load(path, &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->records_dir, "/srv/rec");
    assert_true(cfg->fsync);
    assert_false(cfg->require_determinism);
    assert_string_equal(cfg->source, path);
    assert_int_equal(cfg->retention.max_age_ms, 7LL * 86400000);
    assert_int_equal(cfg->retention.max_bytes, 1LL << 30);
    assert_int_equal(cfg->retention.max_count, -1);
    assert_string_equal(cfg->retention.archive_dir, "/srv/cold");
    /* A file without agents has none (an agents list replaces the demo's). */
    assert_int_equal(registry_count(cfg->registry), 0);
    config_free(cfg);

    /* An explicit path that does not exist is an error, not the demo. */
    snprintf(path, sizeof(path), "%s/missing.json", dir);
    assert_null(config_load(path, &err));
    assert_int_equal(err.code, IERR_CONFIG);
    assert_non_null(strstr(err.msg, "missing.json"));

    /* $INTENTUSNET_RECORDS_PATH is the default records directory. */
    snprintf(env, sizeof(env), "%s/env-records", dir);
    setenv("INTENTUSNET_RECORDS_PATH", env, 1);
    cfg = config_demo(&err);
    assert_string_equal(cfg->records_dir, env);
    config_free(cfg);
    unsetenv("INTENTUSNET_RECORDS_PATH");
    cfg = config_demo(&err);
    assert_string_equal(cfg->records_dir, CONFIG_DEFAULT_RECORDS_DIR);
    config_free(cfg);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_config),
        cmocka_unit_test(test_demo_config_breaker_and_policy),
        cmocka_unit_test(test_bad_configs_are_named),
        cmocka_unit_test(test_search_order_and_records_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
