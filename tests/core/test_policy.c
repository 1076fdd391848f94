/* Policies (reference §4): list order, first match wins, defaults, the
 * reference's reason texts and decision object, globs (an extension), key
 * templates; token buckets on an injected clock (no sleeps). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/policy.h"
#include "core/ratelimit.h"
#include "tests/support/testutil.h"

static struct policy *
parse(const char *text)
{
    struct intentus_err err = { 0 };
    cJSON *v = json_parse(text, strlen(text), 0, &err);
    struct policy *p;

    if (v == NULL)
        fail_msg("json: %s", err.msg);
    p = policy_parse(v, "policy", &err);
    cJSON_Delete(v);
    if (p == NULL)
        fail_msg("policy: %s", err.msg);
    return p;
}

static void
test_order_first_match_and_defaults(void **state)
{
    (void)state;
    struct policy *p =
        parse("{\"default\": \"deny\", \"rules\": ["
              " {\"id\": \"no-guest-admin\", \"action\": \"deny\", \"intents\": [\"admin.*\"],"
              "  \"tenants\": [\"guest\"]},"
              " {\"id\": \"admins\", \"action\": \"allow\", \"intents\": [\"admin.*\"],"
              "  \"roles\": [\"admin\"], \"max_timeout_ms\": 250},"
              " {\"action\": \"allow\", \"intents\": [\"search@2.*\"], \"agents\": [\"s-*\"],"
              "  \"payload_regex\": {\"query\": \"^hello\"}},"
              " {\"id\": \"shadowed\", \"action\": \"deny\", \"intents\": [\"admin.*\"]}]}");
    const char *admin[] = { "admin" };
    struct policy_ctx c = {
        .subject = "cli", .tenant = "guest", .intent = "admin.drop", .roles = admin, .n_roles = 1
    };
    struct policy_decision d;
    cJSON *payload = cJSON_Parse("{\"query\": \"HELLO world\"}"), *j;

    assert_int_equal(policy_rule_count(p), 4);
    /* First match wins even though the next rule would allow. */
    policy_evaluate(p, &c, &d);
    assert_false(d.allowed);
    assert_string_equal(d.reason, "Denied by rule 'no-guest-admin'");
    assert_string_equal(d.matched_rule, "no-guest-admin");
    c.tenant = "acme";
    policy_evaluate(p, &c, &d);
    assert_true(d.allowed);
    assert_string_equal(d.reason, "Allowed by rule 'admins'");
    assert_true(d.has_timeout);
    assert_int_equal(d.max_timeout_ms, 250);
    /* Roles are an intersection; no role: on to the shadowing deny. */
    c.n_roles = 0;
    policy_evaluate(p, &c, &d);
    assert_false(d.allowed);
    assert_string_equal(d.matched_rule, "shadowed");
    /* Missing id is rule-<index>; version glob; regex case-insensitive. */
    c = (struct policy_ctx){
        .intent = "search", .intent_version = "2.1", .agent = "s-1", .payload = payload
    };
    policy_evaluate(p, &c, &d);
    assert_true(d.allowed);
    assert_string_equal(d.matched_rule, "rule-3");
    c.intent_version = "1.0";
    policy_evaluate(p, &c, &d);
    assert_false(d.allowed);
    assert_string_equal(d.reason, "Denied by default policy (no matching rule)");
    j = policy_decision_json(&d);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "matched_rule")));
    assert_string_equal(json_get_string(j, "source"), "intentusnet.policy");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "rate_limit_key")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "allowed")));
    cJSON_Delete(j);
    /* A null agent never matches an agents list. */
    c = (struct policy_ctx){ .intent = "search", .intent_version = "2.0", .payload = payload };
    policy_evaluate(p, &c, &d);
    assert_false(d.allowed);
    cJSON_Delete(payload);
    policy_free(p);

    /* The reference's defaults: missing default is allow; unknown action deny. */
    p = parse("{\"rules\": [{\"id\": \"x\", \"action\": \"maybe\", \"intents\": [\"a\"]}]}");
    c = (struct policy_ctx){ .intent = "b" };
    policy_evaluate(p, &c, &d);
    assert_true(d.allowed);
    assert_string_equal(d.reason, "Allowed by default policy (no matching rule)");
    c.intent = "a";
    policy_evaluate(p, &c, &d);
    assert_false(d.allowed);
    policy_free(p);
}

static void
test_key_templates_and_bad_policies(void **state)
{
    (void)state;
    struct policy_ctx c = { .subject = "bob", .tenant = NULL, .intent = "i", .agent = "a" };
    struct intentus_err err = { 0 };
    char key[128];
    const char *bad[] = {
        "{\"rules\": [{\"rate_limit_key_template\": \"{source}\"}]}",
        "{\"rules\": [{\"rate_limit_key_template\": \"a}b\"}]}",
        "{\"rules\": [{\"intents\": \"x\"}]}",
        "{\"rules\": [{\"payload_regex\": {\"q\": \"(\"}}]}",
        "{\"rules\": [{\"actoin\": \"allow\"}]}",
        "{\"defualt\": \"allow\"}",
    };

    assert_int_equal(
        policy_format_key("{{{subject}}}:{tenant}:{intent}/{agent}", &c, key, sizeof(key), &err),
        0);
    assert_string_equal(key, "{bob}::i/a");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *v = cJSON_Parse(bad[i]);
        struct policy *p = policy_parse(v, "policy", &err);
        if (p != NULL)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err.msg, "policy"));
        cJSON_Delete(v);
    }
}

static void
test_reference_policy_file_loads(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600];
    const char *text =
        "{\"default\":\"allow\",\n"
        " \"rules\":[{\"id\":\"tenant-rate\",\"action\":\"allow\",\"intents\":[\"search\"],"
        "\"agents\":[],\"roles\":[\"user\"],\"tenants\":[\"acme\"],\"description\":\"\","
        "\"priority\":10,\"payload_regex\":{\"query\":\"secret\"},"
        "\"rate_limit_per_minute\":30,\"rate_limit_key_template\":\"{tenant}:{intent}\","
        "\"max_timeout_ms\":5000}]}";
    const char *roles[] = { "user" };
    cJSON *payload = cJSON_Parse("{\"query\": \"top SECRET stuff\"}");
    struct policy_ctx c = {
        .tenant = "acme", .intent = "search", .roles = roles, .n_roles = 1, .payload = payload
    };
    struct intentus_err err = { 0 };
    struct policy_decision d;
    struct policy *p;

    snprintf(path, sizeof(path), "%s/policies.json", dir);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    p = policy_load_file(path, &err);
    assert_non_null(p);
    policy_evaluate(p, &c, &d);
    assert_true(d.allowed);
    assert_true(d.has_key);
    assert_string_equal(d.rate_limit_key, "acme:search");
    assert_int_equal(d.rate_limit_per_minute, 30);
    policy_free(p);
    snprintf(path, sizeof(path), "%s/p.yaml", dir);
    assert_null(policy_load_file(path, &err));
    assert_non_null(strstr(err.msg, "YAML"));
    cJSON_Delete(payload);
    tu_rmtree(dir);
    free(dir);
}

static int64_t
fake_clock(void *ctx)
{
    return *(int64_t *)ctx;
}

static void
test_token_bucket_on_injected_clock(void **state)
{
    (void)state;
    int64_t now = 1000000;
    struct ratelimit *rl =
        ratelimit_new(&(struct ratelimit_opts){ .clock = fake_clock, .clock_ctx = &now });

    /* Full at first use: 3 per minute gives three, then refusal. */
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_check(rl, "k", 3));
    assert_false(ratelimit_check(rl, "k", 3));
    /* Other keys have their own bucket. */
    assert_true(ratelimit_check(rl, "other", 3));
    /* Refill rate/60 per second: one token after 20 s, not before. */
    now += 19 * 1000000;
    assert_false(ratelimit_check(rl, "k", 3));
    now += 1000000;
    assert_true(ratelimit_check(rl, "k", 3));
    assert_false(ratelimit_check(rl, "k", 3));
    /* Never more than capacity, however long it waited. */
    now += 3600LL * 1000000;
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_check(rl, "k", 3));
    assert_false(ratelimit_check(rl, "k", 3));
    /* Rate <= 0 refuses, as the reference does. */
    assert_false(ratelimit_check(rl, "z", 0));
    ratelimit_free(rl);
}

static void
test_bucket_memory_is_bounded(void **state)
{
    (void)state;
    int64_t now = 0;
    struct ratelimit *rl = ratelimit_new(
        &(struct ratelimit_opts){ .max_keys = 100, .clock = fake_clock, .clock_ctx = &now });
    char key[32];

    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_true(ratelimit_check(rl, key, 60));
        now += 1000; /* 1 ms apart: none is full again yet */
    }
    assert_true(ratelimit_size(rl) <= 100);
    /* Idle keys that refilled are evicted first, and evicting them changes
     * nothing: a returning key gets a full bucket either way. */
    now += 2 * 60 * 1000000LL;
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "new-%d", i);
        assert_true(ratelimit_check(rl, key, 60));
    }
    assert_true(ratelimit_size(rl) <= 100);
    ratelimit_free(rl);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_first_match_and_defaults),
        cmocka_unit_test(test_key_templates_and_bad_policies),
        cmocka_unit_test(test_reference_policy_file_loads),
        cmocka_unit_test(test_token_bucket_on_injected_clock),
        cmocka_unit_test(test_bucket_memory_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
