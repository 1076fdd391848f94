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

#include "core/clock.h"
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
    /* A file without an "agents" key keeps the demo agents, as every other
     * key keeps its default (an agents list replaces the demo's). */
    assert_int_equal(registry_count(cfg->registry), 5);
    assert_true(cfg->has_demo_agents);
    assert_false(cfg->is_demo);
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

/* 13.13: only "recording" set still routes demo.echo; "agents": [] is none. */
static void
test_no_agents_key_keeps_the_demo_agents(void **state)
{
    (void)state;
    const char *only_rec =
        "{\"recording\": {\"dir\": \"/tmp/x\"}, \"defaults\": {\"timeout\": \"2s\"}}";
    const char *none = "{\"agents\": []}";
    struct intentus_err err = { 0 };
    struct config *cfg = config_parse(only_rec, strlen(only_rec), "my.json", &err);
    struct agent *c[8];

    assert_non_null(cfg);
    assert_int_equal(registry_count(cfg->registry), 5);
    assert_int_equal(registry_candidates(cfg->registry, "demo.echo", "1.0", c), 2);
    assert_string_equal(c[0]->name, "echo-a");
    /* The file's defaults apply to them. */
    assert_int_equal(c[0]->timeout_ms, 2000);
    assert_string_equal(cfg->records_dir, "/tmp/x");
    config_free(cfg);
    cfg = config_parse(none, strlen(none), "my.json", &err);
    assert_non_null(cfg);
    assert_int_equal(registry_count(cfg->registry), 0);
    assert_false(cfg->has_demo_agents);
    config_free(cfg);
}

/* 13.13: a repeated key is an error naming its JSON path, never last-wins. */
static void
test_duplicate_keys_are_named(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600], conf[700];
    struct intentus_err err = { 0 };
    const char *pol = "{\"default\": \"deny\", \"rules\": [{\"id\": \"a\", \"action\": \"allow\","
                      " \"action\": \"deny\"}]}";

    expect_error("{\"recording\": {\"dir\": \"a\", \"dir\": \"b\"}}",
                 "my.json: recording.dir: ", "duplicate key");
    expect_error("{\"require_determinism\": true, \"require_determinism\": false}",
                 "my.json: require_determinism: ", "duplicate key");
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", \"intents\": [\"x\"]},"
                 " {\"name\": \"b\", \"intents\": [\"x\"], \"name\": \"c\"}]}",
                 "my.json: agents[1].name: ", "duplicate key");
    /* Three of a kind names the first repeat; the document order decides. */
    expect_error(
        "{\"wal\": {\"dir\": \"1\", \"enabled\": true, \"enabled\": false, \"dir\": \"2\"}}",
        "wal.enabled: ", "duplicate key");
    expect_error("{\"redaction\": {\"paths\": [], \"paths\": []}}", "redaction.paths", "duplicate");
    /* Policy files loaded from the config are read the same way. */
    snprintf(path, sizeof(path), "%s/pol.json", dir);
    assert_int_equal(tu_write_file(path, pol, strlen(pol), 0600), 0);
    snprintf(conf, sizeof(conf), "{\"policy\": {\"file\": \"%s\"}}", path);
    assert_null(config_parse(conf, strlen(conf), "my.json", &err));
    assert_int_equal(err.code, IERR_CONFIG);
    if (strstr(err.msg, "rules[0].action: duplicate key") == NULL ||
        strstr(err.msg, "pol.json") == NULL)
        fail_msg("message: %s", err.msg);
    tu_rmtree(dir);
    free(dir);
}

/* 14.10: names that are displayed must not carry terminal controls. */
static void
test_control_characters_in_names_are_refused(void **state)
{
    (void)state;
    expect_error("{\"agents\": [{\"name\": \"ev\\u001b[2Jil\", \"builtin\": \"echo\", "
                 "\"intents\": [\"x\"]}]}",
                 "agents[0].name: ", "U+001B");
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", "
                 "\"intents\": [\"x\", \"y\\u009b31m\"]}]}",
                 "agents[0].intents[1]: ", "U+009B");
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", "
                 "\"intents\": [\"x\"], \"nodeId\": \"n\\u0000\"}]}",
                 "agents[0].nodeId: ", "U+0000");
    expect_error("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", "
                 "\"intents\": [\"x\"], \"version\": \"1\\n\"}]}",
                 "agents[0].version: ", "U+000A");
    expect_error("{\"agents\": [{\"name\": \"a\\u007f\", \"builtin\": \"echo\", "
                 "\"intents\": [\"x\"]}]}",
                 "agents[0].name: ", "U+007F");
    expect_error("{\"policy\": {\"rules\": [{\"id\": \"r\\u001b\", \"action\": \"deny\"}]}}",
                 "policy.rules[0].id: ", "U+001B");
    expect_error("{\"policy\": {\"rules\": [{\"intents\": [\"a\\tb\"], \"action\": \"deny\"}]}}",
                 "policy.rules[0].intents[0]: ", "U+0009");
    /* Printable non-ASCII stays fine. */
    {
        const char *ok = "{\"agents\": [{\"name\": \"h\u00e9llo-\u65e5\", \"builtin\": \"echo\", "
                         "\"intents\": [\"x\"]}]}";
        struct intentus_err err = { 0 };
        struct config *cfg = config_parse(ok, strlen(ok), "my.json", &err);
        if (cfg == NULL)
            fail_msg("refused: %s", err.msg);
        config_free(cfg);
    }
}

/* A config of n builtin agents in shuffled name order (a fixed LCG), with
 * priorities that repeat, so neither the registry's order nor its name
 * lookups can ride on the file's order. */
static char *
many_agents_text(size_t n)
{
    size_t cap = n * 110 + 64, len = 0;
    char *s = malloc(cap);
    size_t *idx = malloc(n * sizeof(*idx));
    uint64_t x = 12345;

    assert_non_null(s);
    assert_non_null(idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j, t;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        j = (size_t)((x >> 33) % (i + 1));
        t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    len += (size_t)snprintf(s + len, cap - len, "{\"agents\": [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"name\": \"agent-%06zu\", \"builtin\": \"echo\", "
                                "\"intents\": [\"b.i%zu\"], \"nodePriority\": %zu}",
                                i ? "," : "", idx[i], idx[i] % 100, idx[i] % 7);
    snprintf(s + len, cap - len, "]}");
    free(idx);
    return s;
}

/* Best of three, in seconds. */
static double
load_seconds(const char *text)
{
    double best = 1e9;

    for (int r = 0; r < 3; r++) {
        struct intentus_err err = { 0 };
        int64_t t0 = clock_mono_us();
        struct config *cfg = config_parse(text, strlen(text), "many.json", &err);
        double s = (double)(clock_mono_us() - t0) / 1e6;
        if (cfg == NULL)
            fail_msg("many agents: %s", err.msg);
        config_free(cfg);
        if (s < best)
            best = s;
    }
    return best;
}

/* 14.11: 16,000 agents load into the right registry (routing order,
 * lookups, breakers, candidates). How the time grows is a benchmark's to
 * say (`intentus-bench --only config`, beside the reference), never a timed
 * assertion here: the figures are printed for the log only. */
static void
test_many_agents_load_and_resolve(void **state)
{
    (void)state;
    char *small = many_agents_text(4000), *big = many_agents_text(16000);
    double ts = load_seconds(small), tb = load_seconds(big);
    struct intentus_err err = { 0 };
    struct config *cfg = config_parse(big, strlen(big), "many.json", &err);
    struct breaker_policy bp;
    struct agent *c[16000];
    size_t n;

    print_message("# 4000 agents %.3f s, 16000 agents %.3f s (for the log; not asserted)\n", ts,
                  tb);
    /* Still the right registry: routing order, lookups, breakers. */
    assert_non_null(cfg);
    assert_int_equal(registry_count(cfg->registry), 16000);
    for (size_t i = 1; i < 16000; i++)
        assert_true(
            registry_compare(registry_at(cfg->registry, i - 1), registry_at(cfg->registry, i)) < 0);
    assert_non_null(registry_find(cfg->registry, "agent-015999"));
    assert_null(registry_find(cfg->registry, "agent-016000"));
    assert_true(config_breaker_policy(cfg, "agent-000042", &bp));
    assert_false(config_breaker_policy(cfg, "nobody", &bp));
    n = registry_candidates(cfg->registry, "b.i7", "1.0", c);
    assert_int_equal(n, 160);
    config_free(cfg);
    free(small);
    free(big);
}

/* The console section (issue 18, part 2.9): was refused as "not supported";
 * now its keys are read and a bad value is named. */
static void
test_console_section(void **state)
{
    const char *ok = "{\"agents\": [], \"console\": {\"theme\": \"light\", \"sort\": \"-duration\","
                     " \"agents_sort\": \"calls\", \"mouse\": false}}";
    struct intentus_err err = { 0 };
    struct config *cfg = config_parse(ok, strlen(ok), "my.json", &err);

    (void)state;
    if (cfg == NULL)
        fail_msg("refused: %s", err.msg);
    assert_string_equal(cfg->console.theme, "light");
    assert_string_equal(cfg->console.sort, "-duration");
    assert_string_equal(cfg->console.agents_sort, "calls");
    assert_true(cfg->console.mouse_set);
    assert_false(cfg->console.mouse);
    config_free(cfg);
    expect_error("{\"console\": []}", "console", "must be an object");
    expect_error("{\"console\": {\"colour\": \"x\"}}", "console.colour", "unknown key");
    expect_error("{\"console\": {\"mouse\": \"yes\"}}", "console.mouse", "true or false");
    expect_error("{\"console\": {\"theme\": \"\"}}", "console.theme", "non-empty string");
    expect_error("{\"console\": {\"sort\": \"calls\"}}", "console.sort", "not a records column");
    expect_error("{\"console\": {\"agents_sort\": \"-time\"}}", "console.agents_sort",
                 "not an agents column");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_section),
        cmocka_unit_test(test_demo_config),
        cmocka_unit_test(test_demo_config_breaker_and_policy),
        cmocka_unit_test(test_bad_configs_are_named),
        cmocka_unit_test(test_search_order_and_records_dir),
        cmocka_unit_test(test_no_agents_key_keeps_the_demo_agents),
        cmocka_unit_test(test_duplicate_keys_are_named),
        cmocka_unit_test(test_control_characters_in_names_are_refused),
        cmocka_unit_test(test_many_agents_load_and_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
