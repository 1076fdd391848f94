/* Redaction: every rule kind at depth and in arrays, value patterns, the
 * report, and records that stay self-consistent (hash of what is stored,
 * hash of what was received). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/model.h"
#include "core/record.h"
#include "core/redact.h"
#include "tests/support/testutil.h"

static struct redactor *
rules(const char *text)
{
    struct intentus_err err = { 0 };
    cJSON *v = text != NULL ? cJSON_Parse(text) : NULL;
    struct redactor *r = redactor_new(v, "redaction", &err);

    if (r == NULL)
        fail_msg("rules: %s", err.msg);
    cJSON_Delete(v);
    return r;
}

static char *
compact(const cJSON *v)
{
    struct buf b = BUF_INIT;

    assert_int_equal(json_print_compact(v, &b), 0);
    return buf_take(&b);
}

static bool
has_change(const struct redact_report *rep, const char *path, const char *rule)
{
    for (size_t i = 0; i < rep->n; i++) {
        if (strcmp(rep->items[i].path, path) == 0 && strcmp(rep->items[i].rule, rule) == 0)
            return true;
    }
    return false;
}

static void
test_default_keys_at_depth_and_in_arrays(void **state)
{
    (void)state;
    struct redactor *r = rules(NULL);
    struct redact_report rep = { 0 };
    cJSON *doc = cJSON_Parse(
        "{\"user\": {\"name\": \"ann\", \"Password\": \"pw-1\", \"apiKey\": 42,"
        " \"profile\": {\"sessions\": [{\"Authorization\": \"x\"}, {\"cookie\": {\"a\": 1}}]}},"
        " \"items\": [[{\"client_secret\": \"cs\"}], {\"ok\": \"fine\"}], \"max_tokens\": 100}");
    char *text;

    assert_true(redactor_enabled(r));
    assert_int_equal(redact_tree(r, doc, &rep), 0);
    text = compact(doc);
    assert_string_equal(
        text, "{\"user\":{\"name\":\"ann\",\"Password\":\"[REDACTED]\",\"apiKey\":\"[REDACTED]\","
              "\"profile\":{\"sessions\":[{\"Authorization\":\"[REDACTED]\"},{\"cookie\":"
              "\"[REDACTED]\"}]}},\"items\":[[{\"client_secret\":\"[REDACTED]\"}],{\"ok\":"
              "\"fine\"}],\"max_tokens\":100}");
    assert_int_equal(rep.fields, 5);
    assert_true(has_change(&rep, "user.Password", "key:password"));
    assert_true(has_change(&rep, "user.apiKey", "key:api_key"));
    assert_true(has_change(&rep, "user.profile.sessions[1].cookie", "key:cookie"));
    assert_true(has_change(&rep, "items[0][0].client_secret", "key:client_secret"));
    /* Redacting again changes nothing. */
    redact_report_free(&rep);
    assert_int_equal(redact_tree(r, doc, &rep), 0);
    assert_int_equal(rep.fields, 0);
    redact_report_free(&rep);
    free(text);
    cJSON_Delete(doc);
    redactor_free(r);
}

static void
test_globs_paths_and_custom_patterns(void **state)
{
    (void)state;
    struct redactor *r =
        rules("{\"defaults\": false, \"replacement\": \"***\", \"keys\": [\"*token*\"],"
              " \"paths\": [\"payload.credentials.secret\", \"payload.list.*.pin\"],"
              " \"patterns\": [{\"name\": \"card\", \"regex\": \"[0-9]{4}-[0-9]{4}\"}]}");
    struct redact_report rep = { 0 };
    cJSON *doc =
        cJSON_Parse("{\"payload\": {\"credentials\": {\"secret\": {\"deep\": 1}, \"user\": \"u\"},"
                    " \"secret\": \"top-level stays (defaults off)\", \"myTokenValue\": \"t\","
                    " \"list\": [{\"x\": {\"pin\": 1234}}, {\"x\": {\"pin\": 5678}}],"
                    " \"note\": \"cards 1111-2222 and 3333-4444\"}}");
    char *text;

    assert_int_equal(redact_tree(r, doc, &rep), 0);
    text = compact(doc);
    assert_string_equal(text,
                        "{\"payload\":{\"credentials\":{\"secret\":\"***\",\"user\":\"u\"},"
                        "\"secret\":\"top-level stays (defaults off)\",\"myTokenValue\":\"***\","
                        "\"list\":[{\"x\":{\"pin\":\"***\"}},{\"x\":{\"pin\":\"***\"}}],"
                        "\"note\":\"cards *** and ***\"}}");
    assert_true(has_change(&rep, "payload.credentials.secret", "path:payload.credentials.secret"));
    assert_true(has_change(&rep, "payload.myTokenValue", "key:*token*"));
    assert_true(has_change(&rep, "payload.list[1].x.pin", "path:payload.list.*.pin"));
    assert_true(has_change(&rep, "payload.note", "card"));
    redact_report_free(&rep);
    free(text);
    cJSON_Delete(doc);
    redactor_free(r);
}

static void
test_value_patterns(void **state)
{
    (void)state;
    struct redactor *r = rules(NULL);
    static const struct {
        const char *in, *out, *rule;
    } cases[] = {
        { "Authorization: Bearer abc.DEF-123_x== ok", "Authorization: [REDACTED] ok", "bearer" },
        { "key sk-proj-AbCdEfGhIjKlMnOpQrSt12 end", "key [REDACTED] end", "sk-key" },
        { "AKIAIOSFODNN7EXAMPLE", "[REDACTED]", "aws-access-key" },
        { "tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "tok [REDACTED]", "jwt" },
        { "0123456789abcdef0123456789ABCDEF0123", "[REDACTED]", "long-hex" },
        { "s=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpL", "s=[REDACTED]", "long-base64" },
        /* Not secrets: a long path, a short hex, a UUID, plain words. */
        { "/usr/local/share/intentus/examples/agents/summarize", NULL, NULL },
        { "deadbeef", NULL, NULL },
        { "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", NULL, NULL },
        { "the quick brown fox", NULL, NULL },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *doc = cJSON_CreateObject();
        struct redact_report rep = { 0 };
        cJSON_AddStringToObject(doc, "v", cases[i].in);
        assert_int_equal(redact_tree(r, doc, &rep), 0);
        if (cases[i].out == NULL) {
            if (rep.fields != 0)
                fail_msg("case %zu redacted: %s", i, json_get_string(doc, "v"));
        } else {
            if (strcmp(json_get_string(doc, "v"), cases[i].out) != 0)
                fail_msg("case %zu: '%s' -> '%s'", i, cases[i].in, json_get_string(doc, "v"));
            assert_true(has_change(&rep, "v", cases[i].rule));
        }
        redact_report_free(&rep);
        cJSON_Delete(doc);
    }
    redactor_free(r);
}

static void
test_record_hash_is_of_what_is_stored(void **state)
{
    (void)state;
    struct redactor *r = rules(NULL);
    struct intentus_err err = { 0 };
    cJSON *env =
        envelope_new("t.x", cJSON_Parse("{\"password\": \"hunter2\", \"a\": 1}"), NULL, &err);
    struct recorder *rec = recorder_new(env, &err);
    cJSON *resp = response_success(cJSON_Parse("{\"echo\": {\"token\": \"t0k\"}}"), "a", "tr");
    cJSON *mc = cJSON_Parse("{\"agent\": \"a\", \"input\": {\"api_key\": \"k\"}}");
    struct redact_report rep = { 0 };
    char orig[65];
    cJSON *tree, *header;

    assert_int_equal(json_canonical_sha256(env, orig, &err), 0);
    assert_int_equal(recorder_event(rec, "MODEL_CALL", mc), 0);
    assert_int_equal(recorder_final(rec, resp), 0);
    tree = recorder_take(rec);
    assert_int_equal(redact_record(r, tree, &rep, &err), 0);
    header = cJSON_GetObjectItem(tree, "header");
    /* Stored envelope hash verifies; the original is kept beside it. */
    assert_int_equal(record_verify_hash(tree, &err), 0);
    assert_string_equal(json_get_string(header, "originalEnvelopeHash"), orig);
    assert_string_not_equal(json_get_string(header, "envelopeHash"), orig);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(header, "redaction"), "applied")));
    assert_non_null(strstr(json_get_string(cJSON_GetObjectItem(header, "redaction"), "rules"),
                           "intentus-redact/1:"));
    assert_true(has_change(&rep, "envelope.payload.password", "key:password"));
    assert_true(has_change(&rep, "finalResponse.payload.echo.token", "key:token"));
    assert_true(has_change(&rep, "events[0].payload.input.api_key", "key:api_key"));
    assert_true(has_change(&rep, "events[1].payload.payload.echo.token", "key:token"));
    /* The agent-facing envelope is untouched. */
    assert_string_equal(json_get_string(cJSON_GetObjectItem(env, "payload"), "password"),
                        "hunter2");
    /* A second pass keeps the first original hash. */
    redact_report_free(&rep);
    assert_int_equal(redact_record(r, tree, &rep, &err), 0);
    assert_string_equal(json_get_string(header, "originalEnvelopeHash"), orig);
    assert_int_equal(rep.fields, 0);
    redact_report_free(&rep);
    cJSON_Delete(tree);
    cJSON_Delete(resp);
    recorder_free(rec);
    cJSON_Delete(env);
    redactor_free(r);
}

static void
test_bad_rules_named(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"keyz\": []}",
        "{\"patterns\": [{\"name\": \"x\", \"regex\": \"(\"}]}",
        "{\"patterns\": [{\"regex\": \"a\"}]}",
        "{\"paths\": [\"a..b\"]}",
        "{\"enabled\": \"yes\"}",
    };
    struct intentus_err err = { 0 };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *v = cJSON_Parse(bad[i]);
        struct redactor *r = redactor_new(v, "redaction", &err);
        if (r != NULL)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err.msg, "redaction"));
        cJSON_Delete(v);
    }
}

/* The command-line preview: help shows the rule format; changes are
 * listed with their rule. */
static void
test_redact_command(void **state)
{
    (void)state;
    char *const help[] = { (char *)tu_bin(), "redact", "--help", NULL };
    char *const run[] = { (char *)tu_bin(), "redact", "-", "--json", NULL };
    struct tu_run r;
    cJSON *out;

    assert_int_equal(tu_run(help, NULL, NULL, NULL, 10000, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"patterns\""));
    assert_non_null(strstr(r.out, "payload.credentials.secret"));
    tu_run_free(&r);
    assert_int_equal(tu_run(run, NULL, "{\"a\": {\"api_key\": \"k1\"}}", NULL, 10000, &r), 0);
    assert_int_equal(r.status, 0);
    out = cJSON_Parse(r.out);
    assert_non_null(out);
    assert_string_equal(
        json_get_string(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "document"), "a"), "api_key"),
        "[REDACTED]");
    assert_string_equal(
        json_get_string(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "changes"), 0), "rule"),
        "key:api_key");
    cJSON_Delete(out);
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_keys_at_depth_and_in_arrays),
        cmocka_unit_test(test_globs_paths_and_custom_patterns),
        cmocka_unit_test(test_value_patterns),
        cmocka_unit_test(test_record_hash_is_of_what_is_stored),
        cmocka_unit_test(test_bad_rules_named),
        cmocka_unit_test(test_redact_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
