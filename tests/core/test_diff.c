/* Tests for core/diff: the structural JSON diff (paths, kinds, order) and
 * the section diff of two records with the reference's helper keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/diff.h"
#include "core/json.h"

static cJSON *
parse(const char *text)
{
    struct intentus_err err = { 0 };
    cJSON *v = json_parse(text, strlen(text), 0, &err);

    if (v == NULL)
        fail_msg("bad test JSON: %s: %s", err.msg, text);
    return v;
}

/* Diff two JSON texts (plain diff); the result must be freed. */
static void
diff_texts(const char *a, const char *b, struct diff_result *r)
{
    struct intentus_err err = { 0 };
    cJSON *ja = parse(a), *jb = parse(b);

    memset(r, 0, sizeof(*r));
    assert_int_equal(diff_json(ja, jb, r, &err), 0);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
}

static void
assert_entry(const struct diff_result *r, size_t i, const char *kind, const char *path,
             const char *left, const char *right)
{
    assert_true(i < r->n);
    assert_string_equal(diff_kind_name(r->items[i].kind), kind);
    assert_string_equal(r->items[i].path, path);
    if (left == NULL)
        assert_null(r->items[i].left);
    else
        assert_string_equal(r->items[i].left, left);
    if (right == NULL)
        assert_null(r->items[i].right);
    else
        assert_string_equal(r->items[i].right, right);
}

/* ---- plain diff ---- */

static void
test_equal_values_have_no_changes(void **state)
{
    struct diff_result r;

    (void)state;
    diff_texts("{\"b\":[1,{\"x\":null}],\"a\":\"s\",\"n\":1.50}",
               "{\"a\":\"s\",\"n\":1.5,\"b\":[1,{\"x\":null}]}", &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.n_sections, 0);
    diff_result_free(&r);
}

static void
test_scalar_change_at_depth(void **state)
{
    struct diff_result r;

    (void)state;
    diff_texts("{\"payload\":{\"user\":{\"name\":\"ann\",\"age\":3}}}",
               "{\"payload\":{\"user\":{\"name\":\"bob\",\"age\":3}}}", &r);
    assert_int_equal(r.n, 1);
    assert_entry(&r, 0, "changed", "/payload/user/name", "\"ann\"", "\"bob\"");
    assert_null(r.items[0].section);
    diff_result_free(&r);
}

static void
test_keys_in_sorted_order(void **state)
{
    struct diff_result r;

    (void)state;
    /* Written out of order on both sides; reported by sorted key. */
    diff_texts("{\"z\":1,\"b\":1,\"m\":1}", "{\"m\":2,\"z\":2,\"a\":2,\"b\":2}", &r);
    assert_int_equal(r.n, 4);
    assert_entry(&r, 0, "added", "/a", NULL, "2");
    assert_entry(&r, 1, "changed", "/b", "1", "2");
    assert_entry(&r, 2, "changed", "/m", "1", "2");
    assert_entry(&r, 3, "changed", "/z", "1", "2");
    diff_result_free(&r);
}

static void
test_array_length_change(void **state)
{
    struct diff_result r;

    (void)state;
    diff_texts("{\"k\":[1,2]}", "{\"k\":[1,3,[4],{\"q\":5}]}", &r);
    assert_int_equal(r.n, 3);
    assert_entry(&r, 0, "changed", "/k[1]", "2", "3");
    assert_entry(&r, 1, "added", "/k[2]", NULL, "[4]");
    assert_entry(&r, 2, "added", "/k[3]", NULL, "{\"q\":5}");
    diff_result_free(&r);
    diff_texts("{\"k\":[1,2,3]}", "{\"k\":[1]}", &r);
    assert_int_equal(r.n, 2);
    assert_entry(&r, 0, "removed", "/k[1]", "2", NULL);
    assert_entry(&r, 1, "removed", "/k[2]", "3", NULL);
    diff_result_free(&r);
    /* Nested arrays and a root array. */
    diff_texts("[[1],[2,3]]", "[[1],[2,4]]", &r);
    assert_int_equal(r.n, 1);
    assert_entry(&r, 0, "changed", "/[1][1]", "3", "4");
    diff_result_free(&r);
}

static void
test_type_change(void **state)
{
    struct diff_result r;

    (void)state;
    diff_texts("{\"a\":\"1\",\"b\":{\"x\":1},\"c\":[1],\"d\":true,\"e\":1,\"f\":true}",
               "{\"a\":1,\"b\":[1],\"c\":{\"x\":1},\"d\":\"true\",\"e\":1.0,\"f\":false}", &r);
    assert_int_equal(r.n, 6);
    assert_entry(&r, 0, "changed", "/a", "\"1\"", "1");
    assert_entry(&r, 1, "changed", "/b", "{\"x\":1}", "[1]");
    assert_entry(&r, 2, "changed", "/c", "[1]", "{\"x\":1}");
    assert_entry(&r, 3, "changed", "/d", "true", "\"true\"");
    /* 1 and 1.0 hash differently (Python keeps int and float apart). */
    assert_entry(&r, 4, "changed", "/e", "1", "1.0");
    assert_entry(&r, 5, "changed", "/f", "true", "false");
    diff_result_free(&r);
}

static void
test_key_added_and_removed(void **state)
{
    struct diff_result r;

    (void)state;
    diff_texts("{\"keep\":1,\"gone\":{\"deep\":[1]}}", "{\"keep\":1,\"new\":\"v\"}", &r);
    assert_int_equal(r.n, 2);
    assert_entry(&r, 0, "removed", "/gone", "{\"deep\":[1]}", NULL);
    assert_entry(&r, 1, "added", "/new", NULL, "\"v\"");
    diff_result_free(&r);
}

static void
test_null_to_value_is_added_value_to_null_removed(void **state)
{
    struct diff_result r;

    (void)state;
    diff_texts("{\"a\":null,\"b\":{\"x\":1},\"c\":null}", "{\"a\":{\"x\":1},\"b\":null,\"c\":null}",
               &r);
    assert_int_equal(r.n, 2);
    assert_entry(&r, 0, "added", "/a", NULL, "{\"x\":1}");
    assert_entry(&r, 1, "removed", "/b", "{\"x\":1}", NULL);
    diff_result_free(&r);
    /* A missing key against an explicit null is still a difference. */
    diff_texts("{\"a\":null}", "{\"b\":null}", &r);
    assert_int_equal(r.n, 2);
    assert_entry(&r, 0, "removed", "/a", "null", NULL);
    assert_entry(&r, 1, "added", "/b", NULL, "null");
    diff_result_free(&r);
    /* The root itself. */
    diff_texts("null", "[1]", &r);
    assert_int_equal(r.n, 1);
    assert_entry(&r, 0, "added", "/", NULL, "[1]");
    diff_result_free(&r);
    diff_texts("7", "8", &r);
    assert_entry(&r, 0, "changed", "/", "7", "8");
    diff_result_free(&r);
}

static void
test_appends_and_result_json(void **state)
{
    struct diff_result r;
    struct intentus_err err = { 0 };
    cJSON *a = parse("{\"s\":\"h\\u00e9\",\"n\":[1]}"), *b = parse("{\"s\":\"x\",\"n\":[]}");
    cJSON *j;
    const cJSON *ch, *e;

    (void)state;
    memset(&r, 0, sizeof(r));
    assert_int_equal(diff_json(a, b, &r, &err), 0);
    assert_int_equal(diff_json(a, b, &r, &err), 0); /* appends */
    assert_int_equal(r.n, 4);
    j = diff_result_json(&r, NULL, NULL);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 1); /* plain: only changes */
    ch = cJSON_GetObjectItemCaseSensitive(j, "changes");
    assert_int_equal(cJSON_GetArraySize(ch), 4);
    e = cJSON_GetArrayItem(ch, 0);
    assert_string_equal(json_get_string(e, "path"), "/n[0]");
    assert_string_equal(json_get_string(e, "kind"), "removed");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "left")->valueint, 1);
    assert_null(cJSON_GetObjectItemCaseSensitive(e, "right"));
    assert_null(cJSON_GetObjectItemCaseSensitive(e, "section"));
    e = cJSON_GetArrayItem(ch, 1);
    assert_string_equal(json_get_string(e, "path"), "/s");
    assert_string_equal(json_get_string(e, "left"), "h\xc3\xa9"); /* a value, not its text */
    assert_string_equal(json_get_string(e, "right"), "x");
    cJSON_Delete(j);
    diff_result_free(&r);
    diff_result_free(&r); /* freed results are empty; NULL is accepted */
    diff_result_free(NULL);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* ---- records ---- */

#define ENVELOPE(text)                                                                             \
    "{\"version\":\"1.0\",\"intent\":{\"name\":\"demo.echo\",\"version\":\"1.0\"},"                \
    "\"payload\":{\"text\":\"" text "\",\"k\":[1,2]}}"

static const char rec_a[] =
    "{\"header\":{\"executionId\":\"exec-a\",\"createdUtcIso\":\"2026-01-01T00:00:00+00:00\","
    "\"envelopeHash\":\"aaaa\",\"replayable\":true,\"replayableReason\":null},"
    "\"envelope\":" ENVELOPE(
        "hello") ","
                 "\"routerDecision\":{\"agent\":\"b\",\"intent\":\"demo.echo\",\"reason\":"
                 "\"fallback success"
                 " at index 1\"},"
                 "\"events\":[{\"seq\":1,\"type\":\"INTENT_RECEIVED\",\"payload\":{}},"
                 "{\"seq\":2,\"type\":\"FALLBACK_TRIGGERED\",\"payload\":{\"from\":\"a\",\"to\":"
                 "\"b\"}},"
                 "{\"seq\":3,\"type\":\"MODEL_CALL\",\"payload\":{\"agent\":\"b\",\"provider\":"
                 "\"p\"}}],"
                 "\"finalResponse\":{\"status\":\"success\",\"payload\":{\"text\":\"hello\"}}}";

static const char rec_b[] =
    "{\"header\":{\"executionId\":\"exec-b\",\"createdUtcIso\":\"2026-01-01T00:00:00+00:00\","
    "\"envelopeHash\":\"bbbb\",\"replayable\":true,\"replayableReason\":null},"
    "\"envelope\":" ENVELOPE(
        "world") ","
                 "\"routerDecision\":null,"
                 "\"events\":[{\"seq\":1,\"type\":\"INTENT_RECEIVED\",\"payload\":{}}],"
                 "\"finalResponse\":{\"status\":\"success\",\"payload\":{\"text\":\"hello\"}}}";

static const struct diff_section *
section(const struct diff_result *r, const char *name)
{
    for (size_t i = 0; i < r->n_sections; i++) {
        if (strcmp(r->sections[i].name, name) == 0)
            return &r->sections[i];
    }
    fail_msg("no section %s", name);
    return &r->sections[0]; /* not reached */
}

static void
test_identical_records(void **state)
{
    struct intentus_err err = { 0 };
    struct diff_result r = { 0 };
    cJSON *a = parse(rec_a), *a2 = parse(rec_a), *j;

    (void)state;
    assert_int_equal(diff_records(a, a2, &r, &err), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.n_sections, 4);
    assert_string_equal(r.sections[0].name, "input");
    assert_string_equal(r.sections[1].name, "output");
    assert_string_equal(r.sections[2].name, "trace");
    assert_string_equal(r.sections[3].name, "metadata");
    for (size_t i = 0; i < 4; i++) {
        assert_true(r.sections[i].identical);
        assert_int_equal(r.sections[i].changes, 0);
        assert_int_equal(strlen(r.sections[i].hash_a), 16);
        assert_string_equal(r.sections[i].hash_a, r.sections[i].hash_b);
    }
    assert_false(r.router_decision_changed);
    assert_false(r.final_response_changed);
    j = diff_result_json(&r, a, a2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "identical")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "changes")), 0);
    cJSON_Delete(j);
    diff_result_free(&r);
    cJSON_Delete(a);
    cJSON_Delete(a2);
}

static void
test_section_hash_is_canonical_sha256_prefix(void **state)
{
    struct intentus_err err = { 0 };
    struct diff_result r = { 0 };
    cJSON *a = parse(rec_a), *b = parse(rec_b);
    char hex[65];

    (void)state;
    assert_int_equal(diff_records(a, b, &r, &err), 0);
    assert_int_equal(
        json_canonical_sha256(cJSON_GetObjectItemCaseSensitive(a, "envelope"), hex, &err), 0);
    assert_memory_equal(section(&r, "input")->hash_a, hex, 16);
    assert_int_equal(
        json_canonical_sha256(cJSON_GetObjectItemCaseSensitive(b, "events"), hex, &err), 0);
    assert_memory_equal(section(&r, "trace")->hash_b, hex, 16);
    diff_result_free(&r);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void
test_records_sections_and_helper_keys(void **state)
{
    struct intentus_err err = { 0 };
    struct diff_result r = { 0 };
    cJSON *a = parse(rec_a), *b = parse(rec_b), *j;
    const struct diff_section *s;
    const cJSON *fa, *secs, *ch;
    bool saw_payload = false, saw_events = false, saw_decision = false;

    (void)state;
    assert_int_equal(diff_records(a, b, &r, &err), 0);
    s = section(&r, "input");
    assert_false(s->identical);
    assert_int_equal(s->changes, 1);
    s = section(&r, "output");
    assert_true(s->identical);
    assert_int_equal(s->changes, 0);
    assert_false(section(&r, "trace")->identical);
    assert_false(section(&r, "metadata")->identical);
    assert_true(r.router_decision_changed);
    assert_false(r.final_response_changed);
    for (size_t i = 0; i < r.n; i++) {
        const struct diff_entry *e = &r.items[i];
        if (strcmp(e->path, "/payload/text") == 0) {
            assert_string_equal(e->section, "input");
            assert_string_equal(e->left, "\"hello\"");
            assert_string_equal(e->right, "\"world\"");
            saw_payload = true;
        }
        if (strcmp(e->path, "/events[1]") == 0) {
            assert_string_equal(e->section, "trace");
            assert_int_equal(e->kind, DIFF_REMOVED);
            saw_events = true;
        }
        if (strcmp(e->path, "/routerDecision") == 0) {
            assert_string_equal(e->section, "metadata");
            assert_int_equal(e->kind, DIFF_REMOVED);
            saw_decision = true;
        }
    }
    assert_true(saw_payload && saw_events && saw_decision);

    j = diff_result_json(&r, a, b);
    assert_non_null(j);
    assert_string_equal(json_get_string(j, "executionA"), "exec-a");
    assert_string_equal(json_get_string(j, "executionB"), "exec-b");
    assert_string_equal(json_get_string(j, "envelopeHashA"), "aaaa");
    assert_string_equal(json_get_string(j, "envelopeHashB"), "bbbb");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "routerDecisionChanged")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "finalResponseChanged")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "identical")));
    fa = cJSON_GetObjectItemCaseSensitive(j, "fallbackEventsA");
    assert_int_equal(cJSON_GetArraySize(fa), 1);
    assert_string_equal(json_get_string(cJSON_GetArrayItem(fa, 0), "from"), "a");
    assert_string_equal(json_get_string(cJSON_GetArrayItem(fa, 0), "to"), "b");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "fallbackEventsB")), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "modelCallsA")), 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "modelCallsB")), 0);
    secs = cJSON_GetObjectItemCaseSensitive(j, "sections");
    assert_int_equal(cJSON_GetArraySize(secs), 4);
    assert_string_equal(json_get_string(cJSON_GetArrayItem(secs, 0), "name"), "input");
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(secs, 1), "identical")));
    ch = cJSON_GetObjectItemCaseSensitive(j, "changes");
    assert_int_equal(cJSON_GetArraySize(ch), (int)r.n);
    assert_string_equal(json_get_string(cJSON_GetArrayItem(ch, 0), "section"), "input");
    cJSON_Delete(j);
    diff_result_free(&r);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void
test_absent_sections_hash_null(void **state)
{
    struct intentus_err err = { 0 };
    struct diff_result r = { 0 };
    /* No routerDecision and no finalResponse at all, against explicit nulls. */
    cJSON *a = parse("{\"header\":{\"executionId\":\"x\"},\"envelope\":{},\"events\":[]}");
    cJSON *b = parse("{\"header\":{\"executionId\":\"x\"},\"envelope\":{},\"events\":[],"
                     "\"routerDecision\":null,\"finalResponse\":null}");
    cJSON *c = parse("{\"header\":{\"executionId\":\"x\"},\"envelope\":{},\"events\":[],"
                     "\"routerDecision\":{\"agent\":\"q\"},\"finalResponse\":{\"status\":\"ok\"}}");
    const struct diff_section *s;

    (void)state;
    assert_int_equal(diff_records(a, b, &r, &err), 0);
    assert_int_equal(r.n, 0); /* absent and null are the same for a section */
    s = section(&r, "output");
    assert_string_equal(s->hash_a, "null");
    assert_string_equal(s->hash_b, "null");
    assert_true(s->identical);
    /* The routerDecision lives in metadata, which has a header: a real hash. */
    assert_int_equal(strlen(section(&r, "metadata")->hash_a), 16);
    assert_true(section(&r, "metadata")->identical);
    assert_false(r.router_decision_changed);
    diff_result_free(&r);

    assert_int_equal(diff_records(a, c, &r, &err), 0);
    s = section(&r, "output");
    assert_string_equal(s->hash_a, "null");
    assert_int_equal(strlen(s->hash_b), 16);
    assert_false(s->identical);
    assert_int_equal(s->changes, 1);
    assert_entry(&r, 0, "added", "/", NULL, "{\"status\":\"ok\"}");
    assert_string_equal(r.items[0].section, "output");
    assert_entry(&r, 1, "added", "/routerDecision", NULL, "{\"agent\":\"q\"}");
    assert_string_equal(r.items[1].section, "metadata");
    assert_true(r.router_decision_changed);
    assert_true(r.final_response_changed);
    diff_result_free(&r);

    /* Not an object: refused. */
    assert_int_equal(diff_records(a, cJSON_GetObjectItemCaseSensitive(a, "events"), &r, &err), -1);
    assert_int_equal(err.code, IERR_INVALID);
    diff_result_free(&r);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_values_have_no_changes),
        cmocka_unit_test(test_scalar_change_at_depth),
        cmocka_unit_test(test_keys_in_sorted_order),
        cmocka_unit_test(test_array_length_change),
        cmocka_unit_test(test_type_change),
        cmocka_unit_test(test_key_added_and_removed),
        cmocka_unit_test(test_null_to_value_is_added_value_to_null_removed),
        cmocka_unit_test(test_appends_and_result_json),
        cmocka_unit_test(test_identical_records),
        cmocka_unit_test(test_section_hash_is_canonical_sha256_prefix),
        cmocka_unit_test(test_records_sections_and_helper_keys),
        cmocka_unit_test(test_absent_sections_hash_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
