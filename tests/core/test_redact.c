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

/* A string value of doc after redaction, by dotted key path. */
static const char *
str_at(const cJSON *doc, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, a);

    if (b != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    if (c != NULL)
        v = cJSON_GetObjectItemCaseSensitive(v, c);
    return cJSON_IsString(v) ? v->valuestring : "(not a string)";
}

/* 14.2: JSON inside a string (an agent's stderr, an HTTP body) is redacted
 * as JSON, whole or cut, and so is Python's repr of a dict; path rules are
 * counted from the JSON's own root; text around it is kept. */
static void
test_json_inside_text(void **state)
{
    (void)state;
    struct redactor *r = rules("{\"paths\": [\"payload.card\"]}");
    struct redact_report rep = { 0 };
    cJSON *doc = cJSON_Parse(
        "{\"stderr\": \"got {\\\"token\\\": \\\"zz-top-1\\\", \\\"ok\\\": 1} then exit\","
        " \"cut\": \"request {\\\"user\\\": \\\"ann\\\", \\\"password\\\": \\\"abc-def-g\","
        " \"repr\": \"kwargs={'api_key': 'k-123456', 'n': 2}\","
        " \"path\": \"[{\\\"payload\\\": {\\\"card\\\": \\\"4111-x\\\"}}]\","
        " \"nested\": \"{\\\"body\\\": \\\"{\\\\\\\"secret\\\\\\\": "
        "\\\\\\\"in-in-1\\\\\\\"}\\\"}\","
        " \"plain\": \"no json: {not json} [1, 2\"}");

    assert_non_null(doc);
    assert_int_equal(redact_tree(r, doc, &rep), 0);
    assert_string_equal(str_at(doc, "stderr", NULL, NULL),
                        "got {\"token\":\"[REDACTED]\",\"ok\":1} then exit");
    assert_string_equal(str_at(doc, "cut", NULL, NULL),
                        "request {\"user\": \"ann\", \"password\": \"[REDACTED]\"");
    assert_string_equal(str_at(doc, "repr", NULL, NULL),
                        "kwargs={'api_key': '[REDACTED]', 'n': 2}");
    assert_string_equal(str_at(doc, "path", NULL, NULL),
                        "[{\"payload\":{\"card\":\"[REDACTED]\"}}]");
    assert_null(strstr(str_at(doc, "nested", NULL, NULL), "in-in-1"));
    assert_string_equal(str_at(doc, "plain", NULL, NULL), "no json: {not json} [1, 2");
    assert_true(has_change(&rep, "stderr.token", "key:token"));
    assert_true(has_change(&rep, "cut", "key:password"));
    assert_true(has_change(&rep, "path[0].payload.card", "path:payload.card"));
    redact_report_free(&rep);
    cJSON_Delete(doc);
    redactor_free(r);
}

/* 14.2: the secret values of the envelope are masked wherever they appear
 * later, as written and JSON-escaped; values under REDACT_MIN_SECRET bytes
 * are not searched for. */
static void
test_known_secrets_masked_anywhere(void **state)
{
    (void)state;
    struct redactor *r = rules(NULL);
    struct intentus_err err = { 0 };
    cJSON *env =
        cJSON_Parse("{\"payload\": {\"password\": \"hun\\\"ter2\", \"access_token\": 987654,"
                    " \"secret\": {\"a\": \"nested-val\", \"b\": [\"abc\"]},"
                    " \"note\": \"use Bearer qwerty.uiop\"}}");
    struct redact_ctx *c = redact_ctx_new(r, env, &err);
    cJSON *doc = cJSON_Parse("{\"stderr\": \"login hun\\\"ter2 pin 987654 got nested-val abc\","
                             " \"echo\": \"raw {\\\"p\\\": \\\"hun\\\\\\\"ter2\\\"\","
                             " \"later\": \"token was qwerty.uiop\"}");

    assert_non_null(c);
    assert_non_null(doc);
    /* hun"ter2 as written and escaped, 987654, nested-val, the bearer match
     * and its token; "abc" is too short. */
    assert_int_equal(redact_ctx_secrets(c), 6);
    assert_int_equal(redact_ctx_tree(c, doc, NULL, NULL), 0);
    assert_string_equal(str_at(doc, "stderr", NULL, NULL),
                        "login [REDACTED] pin [REDACTED] got [REDACTED] abc");
    assert_string_equal(str_at(doc, "echo", NULL, NULL), "raw {\"p\": \"[REDACTED]\"");
    assert_string_equal(str_at(doc, "later", NULL, NULL), "token was [REDACTED]");
    /* The envelope itself is only read. */
    assert_string_equal(str_at(env, "payload", "password", NULL), "hun\"ter2");
    cJSON_Delete(doc);
    redact_ctx_free(c);
    cJSON_Delete(env);
    redactor_free(r);
}

/* Trees built in code link literal keys (cJSON_StringIsConst) and borrow
 * strings and objects (cJSON_IsReference), as error_info_new and the
 * borrowing responses do. Redacting a value of such a tree must neither
 * free what it borrows nor forget that its key is not its own: the tree is
 * freed cleanly afterwards (under ASan and valgrind a free of a literal or
 * of the borrowed payload fails this test). */
static void
test_ctx_tree_in_code_built_trees(void **state)
{
    (void)state;
    struct redactor *r = rules(NULL);
    struct intentus_err err = { 0 };
    cJSON *env = cJSON_Parse("{\"payload\": {\"password\": \"hunter22\"}}");
    struct redact_ctx *c = redact_ctx_new(r, env, &err);
    cJSON *doc = cJSON_CreateObject();
    cJSON *e = error_info_new(ERR_AGENT_ERROR, "login hunter22 refused", false, NULL);
    cJSON *borrowed = cJSON_CreateObjectReference(cJSON_GetObjectItem(env, "payload")->child);

    assert_non_null(c);
    assert_non_null(doc);
    assert_non_null(e);
    assert_non_null(borrowed);
    assert_true(cJSON_AddItemToObjectCS(doc, "error", e));
    assert_true(cJSON_AddItemToObjectCS(doc, "secret", cJSON_CreateStringReference("hunter22")));
    assert_true(cJSON_AddItemToObjectCS(doc, "password", borrowed));
    assert_int_equal(redact_ctx_tree(c, doc, NULL, NULL), 0);
    assert_string_equal(str_at(doc, "error", "message", NULL), "login [REDACTED] refused");
    assert_string_equal(str_at(doc, "secret", NULL, NULL), "[REDACTED]");
    assert_string_equal(str_at(doc, "password", NULL, NULL), "[REDACTED]");
    /* What was borrowed is untouched. */
    assert_string_equal(str_at(env, "payload", "password", NULL), "hunter22");
    assert_string_equal(str_at(doc, "error", "code", NULL), "AGENT_ERROR");
    cJSON_Delete(doc);
    redact_ctx_free(c);
    cJSON_Delete(env);
    redactor_free(r);
}

/* WAL payloads keep their ids and hashes (a 64-hex hash would otherwise be
 * long-hex), everything else is redacted; with redaction off nothing is. */
static void
test_ctx_tree_keeps_ids_and_hashes(void **state)
{
    (void)state;
    static const char *const keep[] = { "step_id", "input_hash", NULL };
    static const char hash[] = "5902ddec0ee23b4e2d89ce2a6991824a82ccf0ba5741de413c7dfadac8b41417";
    struct redactor *r = rules(NULL), *off = rules("{\"enabled\": false}");
    struct intentus_err err = { 0 };
    cJSON *env = cJSON_Parse("{\"payload\": {\"password\": \"hunter2\"}}");
    struct redact_ctx *c = redact_ctx_new(r, env, &err), *c_off = redact_ctx_new(off, env, &err);
    char text[400];
    cJSON *p;

    snprintf(text, sizeof(text),
             "{\"step_id\": \"step-1-a\", \"input_hash\": \"%s\", \"other_hash\": \"%s\","
             " \"reason\": \"a: hunter2 rejected, sk-abcdefghijklmnopqrst\"}",
             hash, hash);
    p = cJSON_Parse(text);
    assert_int_equal(redact_ctx_tree(c, p, keep, NULL), 0);
    assert_string_equal(str_at(p, "step_id", NULL, NULL), "step-1-a");
    assert_string_equal(str_at(p, "input_hash", NULL, NULL), hash);
    assert_string_equal(str_at(p, "other_hash", NULL, NULL), "[REDACTED]");
    assert_string_equal(str_at(p, "reason", NULL, NULL), "a: [REDACTED] rejected, [REDACTED]");
    cJSON_Delete(p);
    p = cJSON_Parse(text);
    assert_int_equal(redact_ctx_secrets(c_off), 0);
    assert_int_equal(redact_ctx_tree(c_off, p, keep, NULL), 0);
    assert_int_equal(redact_ctx_tree(NULL, p, keep, NULL), 0);
    assert_non_null(strstr(str_at(p, "reason", NULL, NULL), "hunter2"));
    cJSON_Delete(p);
    redact_ctx_free(c);
    redact_ctx_free(c_off);
    cJSON_Delete(env);
    redactor_free(r);
    redactor_free(off);
}

/* 14.3 and the router's own events: every field of the record is
 * redacted (response metadata, error details, the free text of any event,
 * routerDecision), its hashes and event bookkeeping are kept, and the
 * record still verifies. */
static void
test_record_every_field(void **state)
{
    (void)state;
    struct redactor *r = rules(NULL);
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new("t.x", cJSON_Parse("{\"password\": \"hunter2-pw\"}"), NULL, &err);
    struct recorder *rec = recorder_new(env, &err);
    cJSON *resp = response_success(cJSON_Parse("{}"), "a", "tr");
    cJSON *tree, *ev, *header, *dec;
    char cfg_hash[65], *text;

    memset(cfg_hash, 'a', 64);
    cfg_hash[64] = '\0';
    cJSON_AddItemToObject(cJSON_GetObjectItem(resp, "metadata"), "apiKey",
                          cJSON_CreateString("hunter3-key"));
    ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "config_hash", cfg_hash);
    assert_int_equal(recorder_event(rec, "INTENT_RECEIVED", ev), 0);
    assert_int_equal(recorder_event(rec, "AGENT_ATTEMPT_END",
                                    cJSON_Parse("{\"agent\": \"a\", \"status\": \"error\","
                                                " \"errorCode\": \"AGENT_ERROR\","
                                                " \"message\": \"a: bad password hunter2-pw\","
                                                " \"exception\": \"Bearer zzz.yyy\"}")),
                     0);
    dec = decision_new("a", "t.x", "sk-abcdefghijklmnopqrst");
    assert_int_equal(recorder_decision(rec, dec), 0);
    cJSON_Delete(dec);
    assert_int_equal(recorder_final(rec, resp), 0);
    tree = recorder_take(rec);
    assert_int_equal(redact_record(r, tree, NULL, &err), 0);
    assert_int_equal(record_verify_hash(tree, &err), 0);
    assert_string_equal(str_at(tree, "finalResponse", "metadata", "apiKey"), "[REDACTED]");
    assert_string_equal(str_at(tree, "finalResponse", "metadata", "agent"), "a");
    assert_string_equal(str_at(tree, "routerDecision", "reason", NULL), "[REDACTED]");
    ev = cJSON_GetArrayItem(cJSON_GetObjectItem(tree, "events"), 0);
    assert_string_equal(str_at(ev, "type", NULL, NULL), "INTENT_RECEIVED");
    assert_string_equal(str_at(ev, "payload", "config_hash", NULL), cfg_hash);
    ev = cJSON_GetArrayItem(cJSON_GetObjectItem(tree, "events"), 1);
    assert_string_equal(str_at(ev, "type", NULL, NULL), "AGENT_ATTEMPT_END");
    assert_string_equal(str_at(ev, "payload", "message", NULL), "a: bad password [REDACTED]");
    assert_string_equal(str_at(ev, "payload", "exception", NULL), "[REDACTED]");
    assert_string_equal(str_at(ev, "payload", "errorCode", NULL), "AGENT_ERROR");
    header = cJSON_GetObjectItem(tree, "header");
    assert_string_equal(str_at(header, "executionId", NULL, NULL), recorder_id(rec));
    text = compact(tree);
    assert_null(strstr(text, "hunter"));
    free(text);
    cJSON_Delete(tree);
    cJSON_Delete(resp);
    recorder_free(rec);
    cJSON_Delete(env);
    redactor_free(r);
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
        cmocka_unit_test(test_json_inside_text),
        cmocka_unit_test(test_known_secrets_masked_anywhere),
        cmocka_unit_test(test_ctx_tree_in_code_built_trees),
        cmocka_unit_test(test_ctx_tree_keeps_ids_and_hashes),
        cmocka_unit_test(test_record_every_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
