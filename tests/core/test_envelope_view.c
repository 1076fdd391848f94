/* core/model.h's envelope view: what the router reads of an envelope once
 * per route must answer what the cJSON-taking helpers answer, whatever the
 * envelope holds (members missing, of the wrong type, given twice), and
 * must stay true while the router changes the envelope through it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/intern.h"
#include "core/json.h"
#include "core/model.h"

static const char *const cases[] = {
    "{\"version\":\"1.0\",\"intent\":{\"name\":\"t.echo\",\"version\":\"2.0\"},\"payload\":{\"a\":"
    "1},"
    "\"context\":{\"tags\":[]},\"metadata\":{\"requestId\":\"r\",\"source\":\"s\",\"traceId\":"
    "\"t\","
    "\"identityChain\":[]},\"routing\":{\"strategy\":\"fallback\",\"targetAgent\":\"echo\","
    "\"fallbackAgents\":[\"a\",\"b\"],\"timeoutMs\":250},\"routingMetadata\":{\"decisionPath\":[],"
    "\"retries\":0}}",
    /* wrong types everywhere */
    "{\"intent\":\"x\",\"payload\":[1],\"metadata\":[1],\"routing\":{\"strategy\":\"PARALLEL\","
    "\"targetAgent\":\"\",\"fallbackAgents\":{},\"timeoutMs\":1.5},\"routingMetadata\":\"no\"}",
    "{\"intent\":{\"name\":3},\"metadata\":{\"traceId\":null,\"identityChain\":{}},"
    "\"routing\":[\"strategy\"],\"routingMetadata\":{\"decisionPath\":\"p\",\"retries\":\"1\"}}",
    /* given twice: the first counts */
    "{\"intent\":{\"name\":\"a\",\"name\":\"b\"},\"intent\":{\"name\":\"c\"},\"metadata\":{"
    "\"traceId\":"
    "\"\",\"traceId\":\"t2\"},\"routing\":{\"strategy\":5,\"strategy\":\"broadcast\",\"timeoutMs\":"
    "\"9\",\"timeoutMs\":9},\"routingMetadata\":{\"retries\":2,\"retries\":7}}",
    "{\"metadata\":\"m\",\"routing\":null,\"routingMetadata\":[]}",
    "{}",
    "[]",
    "[{\"intent\":{\"name\":\"x\"}}]",
};

static cJSON *
parse(const char *text)
{
    cJSON *env = cJSON_Parse(text);

    assert_non_null(env);
    return env;
}

/* The helpers as they were written before the view, on json_item. */
static const char *
ref_string(const cJSON *env, const char *section, const char *key, const char *dflt)
{
    const char *s = json_get_string(json_item(env, section), key);
    return s != NULL ? s : dflt;
}

static enum strategy
ref_strategy(const cJSON *env)
{
    const char *s = json_get_string(json_item(env, "routing"), "strategy");

    if (s == NULL)
        return STRATEGY_DIRECT;
    for (int i = 0; i < STRATEGY_COUNT; i++) {
        if (strcmp(s, model_strategy_wire((enum strategy)i)) == 0)
            return (enum strategy)i;
    }
    return STRATEGY_UNKNOWN;
}

static const char *
ref_target(const cJSON *env)
{
    const char *s = json_get_string(json_item(env, "routing"), "targetAgent");
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static const cJSON *
ref_fallback(const cJSON *env)
{
    const cJSON *v = json_item(json_item(env, "routing"), "fallbackAgents");
    return cJSON_IsArray(v) ? v : NULL;
}

/* Both the view and the helpers built on it, against the references (the
 * same member where one is found, strings equal where a default is). */
static void
test_view_answers_as_the_helpers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *env = parse(cases[i]);
        struct envelope_view v;
        long long a = -1, b = -1;
        int ra, rb;

        envelope_view_fill(&v, env);
        assert_string_equal(envelope_view_intent_name(&v), ref_string(env, "intent", "name", ""));
        assert_string_equal(envelope_intent_name(env), ref_string(env, "intent", "name", ""));
        assert_string_equal(envelope_view_intent_version(&v),
                            ref_string(env, "intent", "version", "1.0"));
        assert_string_equal(envelope_intent_version(env),
                            ref_string(env, "intent", "version", "1.0"));
        assert_string_equal(envelope_view_trace_id(&v), ref_string(env, "metadata", "traceId", ""));
        assert_string_equal(envelope_trace_id(env), ref_string(env, "metadata", "traceId", ""));
        assert_int_equal(envelope_view_strategy(&v), ref_strategy(env));
        assert_int_equal(envelope_strategy(env), ref_strategy(env));
        assert_ptr_equal(envelope_view_target_agent(&v), ref_target(env));
        assert_ptr_equal(envelope_target_agent(env), ref_target(env));
        assert_ptr_equal(envelope_view_fallback_agents(&v), ref_fallback(env));
        assert_ptr_equal(envelope_fallback_agents(env), ref_fallback(env));
        assert_ptr_equal(envelope_view_request_id(&v),
                         ref_string(env, "metadata", "requestId", NULL));
        assert_ptr_equal(envelope_view_source(&v), ref_string(env, "metadata", "source", NULL));
        assert_ptr_equal(v.payload, json_item(env, "payload"));
        assert_ptr_equal(v.context, json_item(env, "context"));
        ra = envelope_view_timeout_ms(&v, &a);
        rb = json_get_int64(json_item(env, "routing"), "timeoutMs", &b);
        assert_int_equal(ra, rb);
        assert_true(ra != 0 || a == b);
        cJSON_Delete(env);
    }
}

/* The old envelope_normalize/append_decision's member handling. */
static cJSON *
ref_ensure_object(cJSON *parent, const char *key)
{
    cJSON *o = json_item(parent, key);

    if (cJSON_IsObject(o))
        return o;
    o = cJSON_CreateObject();
    if (json_item(parent, key) != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(parent, key, o);
    else
        cJSON_AddItemToObject(parent, key, o);
    return o;
}

static void
ref_ensure_array(cJSON *obj, const char *key)
{
    const cJSON *v = json_item(obj, key);

    if (cJSON_IsArray(v))
        return;
    if (v != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(obj, key, cJSON_CreateArray());
    else
        cJSON_AddItemToObject(obj, key, cJSON_CreateArray());
}

static void
ref_append(cJSON *env, const char *agent)
{
    cJSON *rm = ref_ensure_object(env, "routingMetadata");

    ref_ensure_array(rm, "decisionPath");
    cJSON_AddItemToArray(json_item(rm, "decisionPath"), cJSON_CreateString(agent));
}

/* What the router did to the envelope before the view, by the old code:
 * normalise, two agents' decisions, a retry counted. */
static void
change_by_helpers(cJSON *env)
{
    cJSON *rm, *rt;

    cJSON *md = ref_ensure_object(env, "metadata");
    const char *t = json_get_string(md, "traceId");

    if (t == NULL || t[0] == '\0') {
        if (json_item(md, "traceId") != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(md, "traceId", cJSON_CreateString("fresh"));
        else
            cJSON_AddItemToObject(md, "traceId", cJSON_CreateString("fresh"));
    }
    ref_ensure_array(md, "identityChain");
    ref_append(env, "a1");
    ref_append(env, "a2");
    rm = json_item(env, "routingMetadata");
    rt = json_item(rm, "retries");
    if (cJSON_IsNumber(rt))
        cJSON_ReplaceItemInObjectCaseSensitive(rm, "retries",
                                               cJSON_CreateNumber(rt->valuedouble + 1));
}

static void
test_view_follows_the_changes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *want = parse(cases[i]), *got = parse(cases[i]);
        struct envelope_view v;
        char *w, *g;

        change_by_helpers(want);
        /* Normalised once before (as a refused child's envelope is): the
         * second time changes nothing. */
        assert_int_equal(i % 2 ? envelope_normalize(got) : 0, 0);
        envelope_view_fill(&v, got);
        assert_int_equal(envelope_view_normalize(&v), 0);
        /* Copied, then linked: the same entries either way. */
        assert_int_equal(envelope_view_append_decision(&v, "a1"), 0);
        assert_int_equal(envelope_view_link_decision(&v, intern_string("a2")), 0);
        assert_ptr_equal(
            cJSON_GetArrayItem(v.decision_path, -1 + cJSON_GetArraySize(v.decision_path))
                ->valuestring,
            intern_string("a2"));
        envelope_view_count_retry(&v);
        /* The view still tells the truth about what it changed... */
        assert_string_equal(envelope_view_trace_id(&v), envelope_trace_id(got));
        assert_true(envelope_view_trace_id(&v)[0] != '\0');
        assert_ptr_equal(v.metadata, json_item(got, "metadata"));
        assert_ptr_equal(v.identity_chain, json_item(v.metadata, "identityChain"));
        assert_ptr_equal(v.routing_metadata, json_item(got, "routingMetadata"));
        assert_ptr_equal(v.decision_path, json_item(v.routing_metadata, "decisionPath"));
        /* ...and the envelope is what the helpers make of it (the fresh
         * trace ids aside). */
        if (json_item(want, "metadata") != NULL && json_item(got, "metadata") != NULL) {
            cJSON_ReplaceItemInObjectCaseSensitive(json_item(want, "metadata"), "traceId",
                                                   cJSON_CreateString("T"));
            cJSON_ReplaceItemInObjectCaseSensitive(json_item(got, "metadata"), "traceId",
                                                   cJSON_CreateString("T"));
        }
        w = cJSON_PrintUnformatted(want);
        g = cJSON_PrintUnformatted(got);
        assert_string_equal(g, w);
        free(w);
        free(g);
        cJSON_Delete(want);
        cJSON_Delete(got);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_answers_as_the_helpers),
        cmocka_unit_test(test_view_follows_the_changes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
