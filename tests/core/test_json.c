/* Tests for core/json: parser, printers, canonical text and hashes. Every
 * expected canonical string below was produced by CPython's json module
 * (json.dumps(json.loads(text), sort_keys=True, separators=(",",":"),
 * ensure_ascii=True)); the reference records come from the Python runtime. */
#include <dirent.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"

/* ---- helpers ---- */

static cJSON *
parse_ok(const char *text)
{
    struct intentus_err err = { IERR_OK, "" };
    cJSON *v = json_parse(text, strlen(text), 0, &err);

    if (v == NULL)
        fail_msg("parse of %s failed: %s", text, err.msg);
    return v;
}

/* Canonical text of `text`, compared with Python's answer. */
static void
check_canon(const char *text, const char *expected)
{
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    cJSON *v = parse_ok(text);

    assert_int_equal(json_canonical(v, &out, &err), 0);
    assert_string_equal(out.data, expected);
    buf_free(&out);
    cJSON_Delete(v);
}

static char *
print_with(const char *text, int pretty)
{
    struct buf out = BUF_INIT;
    cJSON *v = parse_ok(text);
    int rc = pretty ? json_print_pretty(v, &out) : json_print_compact(v, &out);

    assert_int_equal(rc, 0);
    cJSON_Delete(v);
    return buf_take(&out);
}

static void
check_pretty(const char *text, const char *expected)
{
    char *s = print_with(text, 1);

    assert_string_equal(s, expected);
    free(s);
}

static void
check_compact(const char *text, const char *expected)
{
    char *s = print_with(text, 0);

    assert_string_equal(s, expected);
    free(s);
}

static void
check_parse_error(const char *text, size_t len, int max_depth, const char *expected_prefix)
{
    struct intentus_err err = { IERR_OK, "" };
    cJSON *v = json_parse(text, len, max_depth, &err);

    if (v != NULL) {
        cJSON_Delete(v);
        fail_msg("parse of [%.*s] unexpectedly succeeded", (int)len, text);
    }
    assert_int_equal(err.code, IERR_PARSE);
    if (strncmp(err.msg, expected_prefix, strlen(expected_prefix)) != 0)
        fail_msg("error for [%.*s] is \"%s\", expected it to start with \"%s\"", (int)len, text,
                 err.msg, expected_prefix);
}

static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc((size_t)n + 1);
        if (data != NULL && fread(data, 1, (size_t)n, f) != (size_t)n) {
            free(data);
            data = NULL;
        } else if (data != NULL) {
            data[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return data;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted full paths of the *.json files in <test data>/<sub>. Tests run from
 * the repository root; INTENTUS_TEST_DATA points elsewhere if needed. */
static size_t
list_fixtures(const char *sub, char ***out)
{
    const char *root = getenv("INTENTUS_TEST_DATA");
    struct buf dir = BUF_INIT, path = BUF_INIT;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, len;
    DIR *d;

    buf_printf(&dir, "%s/%s", root != NULL && *root ? root : "tests/data", sub);
    assert_false(dir.failed);
    d = opendir(dir.data);
    if (d == NULL)
        fail_msg("cannot open fixture directory %s", dir.data);
    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof(*names));
        assert_non_null(names);
        buf_printf(&path, "%s/%s", dir.data, de->d_name);
        names[n] = buf_take(&path);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    buf_free(&dir);
    if (n > 0)
        qsort(names, n, sizeof(*names), name_cmp);
    *out = names;
    return n;
}

static void
free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- hash vectors from the model ---- */

static void
test_model_envelope_vector(void **state)
{
    /* The envelope of model section 3.2, in insertion order and indented, so
     * sorting and whitespace removal are both exercised. */
    static const char envelope[] =
        "{\n"
        "  \"version\": \"1.0\",\n"
        "  \"intent\": {\"name\": \"demo.echo\", \"version\": \"1.0\"},\n"
        "  \"payload\": {\"text\": \"h\xc3\xa9llo\", \"n\": 1.5, \"k\": [1, 2]},\n"
        "  \"context\": {\"sourceAgent\": \"client\", \"timestamp\": "
        "\"2026-01-01T00:00:00+00:00\",\n"
        "              \"priority\": \"normal\", \"tags\": [\"a\"]},\n"
        "  \"metadata\": {\"requestId\": \"req-1\", \"source\": \"client\",\n"
        "               \"createdAt\": \"2026-01-01T00:00:00+00:00\", \"traceId\": \"trace-1\",\n"
        "               \"identityChain\": []},\n"
        "  \"routing\": {\"strategy\": \"direct\", \"targetAgent\": null, \"fallbackAgents\": "
        "[]},\n"
        "  \"routingMetadata\": {\"decisionPath\": [], \"retries\": 0}\n"
        "}\n";
    static const char canon[] =
        "{\"context\":{\"priority\":\"normal\",\"sourceAgent\":\"client\",\"tags\":[\"a\"],"
        "\"timestamp\":\"2026-01-01T00:00:00+00:00\"},\"intent\":{\"name\":\"demo.echo\","
        "\"version\":\"1.0\"},\"metadata\":{\"createdAt\":\"2026-01-01T00:00:00+00:00\","
        "\"identityChain\":[],\"requestId\":\"req-1\",\"source\":\"client\",\"traceId\":"
        "\"trace-1\"},\"payload\":{\"k\":[1,2],\"n\":1.5,\"text\":\"h\\u00e9llo\"},\"routing\":"
        "{\"fallbackAgents\":[],\"strategy\":\"direct\",\"targetAgent\":null},"
        "\"routingMetadata\":{\"decisionPath\":[],\"retries\":0},\"version\":\"1.0\"}";
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    char hex[65];
    cJSON *v;

    (void)state;
    v = parse_ok(envelope);
    assert_int_equal(json_canonical(v, &out, &err), 0);
    assert_int_equal(out.len, 472);
    assert_string_equal(out.data, canon);
    assert_int_equal(json_canonical_sha256(v, hex, &err), 0);
    assert_string_equal(hex, "98375dbc0747e365da0299b00174a7744202ee71f729423712263e0b3f7612b1");
    buf_free(&out);
    cJSON_Delete(v);
}

static void
check_hash(const char *text, const char *expected)
{
    struct intentus_err err = { IERR_OK, "" };
    char hex[65];
    cJSON *v = parse_ok(text);

    assert_int_equal(json_canonical_sha256(v, hex, &err), 0);
    assert_string_equal(hex, expected);
    cJSON_Delete(v);
}

static void
test_config_hash_empty_registry(void **state)
{
    (void)state;
    check_hash("{\"agents\":[],\"require_determinism\":true,\"version\":\"1.0\"}",
               "c73b81c7eef520ce5082981b4c4e4066e49617e8a6c1ea8a8584b0e97f4e3f17");
    /* Same object in another order and spacing: same hash. */
    check_hash("{ \"version\" : \"1.0\", \"require_determinism\" : true, \"agents\" : [ ] }",
               "c73b81c7eef520ce5082981b4c4e4066e49617e8a6c1ea8a8584b0e97f4e3f17");
}

static void
test_config_hash_one_agent(void **state)
{
    (void)state;
    check_hash("{\"agents\":[{\"is_remote\":false,\"name\":\"agent-a\",\"priority\":10}],"
               "\"require_determinism\":true,\"version\":\"1.0\"}",
               "700d7b007090227ab596ecac2196b89f968311870e8e6ac4f0ebfd688cf57d4f");
}

/* Built in code rather than parsed: the same hash must come out. */
static void
test_config_hash_built_in_code(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    cJSON *root = cJSON_CreateObject(), *agents = cJSON_CreateArray(), *a = cJSON_CreateObject();
    char hex[65];

    (void)state;
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddBoolToObject(root, "require_determinism", 1);
    cJSON_AddNumberToObject(a, "priority", 10);
    cJSON_AddStringToObject(a, "name", "agent-a");
    cJSON_AddBoolToObject(a, "is_remote", 0);
    cJSON_AddItemToArray(agents, a);
    cJSON_AddItemToObject(root, "agents", agents);
    assert_int_equal(json_canonical_sha256(root, hex, &err), 0);
    assert_string_equal(hex, "700d7b007090227ab596ecac2196b89f968311870e8e6ac4f0ebfd688cf57d4f");
    cJSON_Delete(root);
}

static void
test_sha256_hex(void **state)
{
    char hex[65];

    (void)state;
    json_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    json_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* ---- reference records ---- */

static void
test_reference_records_envelope_hash(void **state)
{
    char **files, hex[65];
    size_t n, i, len;

    (void)state;
    n = list_fixtures("reference-records", &files);
    assert_true(n >= 39);
    for (i = 0; i < n; i++) {
        struct intentus_err err = { IERR_OK, "" };
        char *text = read_file(files[i], &len);
        cJSON *rec, *header;
        const char *want;

        assert_non_null(text);
        rec = json_parse(text, len, 0, &err);
        if (rec == NULL)
            fail_msg("%s: %s", files[i], err.msg);
        header = cJSON_GetObjectItemCaseSensitive(rec, "header");
        want = json_get_string(header, "envelopeHash");
        assert_non_null(want);
        if (json_canonical_sha256(cJSON_GetObjectItemCaseSensitive(rec, "envelope"), hex, &err) !=
            0)
            fail_msg("%s: %s", files[i], err.msg);
        if (strcmp(hex, want) != 0)
            fail_msg("%s: envelope hash %s, header says %s", files[i], hex, want);
        cJSON_Delete(rec);
        free(text);
    }
    free_list(files, n);
}

/* The reference writes json.dump(indent=2, ensure_ascii=False) with no
 * trailing newline; parse + pretty print must give the file back exactly. */
static void
test_reference_records_round_trip(void **state)
{
    char **files;
    size_t n, i, len;

    (void)state;
    n = list_fixtures("reference-records", &files);
    assert_true(n >= 39);
    for (i = 0; i < n; i++) {
        struct intentus_err err = { IERR_OK, "" };
        struct buf out = BUF_INIT;
        char *text = read_file(files[i], &len);
        cJSON *rec;

        assert_non_null(text);
        rec = json_parse(text, len, 0, &err);
        assert_non_null(rec);
        assert_int_equal(json_print_pretty(rec, &out), 0);
        if (out.len != len || memcmp(out.data, text, len) != 0)
            fail_msg("%s does not round-trip byte for byte", files[i]);
        buf_free(&out);
        cJSON_Delete(rec);
        free(text);
    }
    free_list(files, n);
}

/* Compact text and a cJSON_Duplicate copy hash the same as the original. */
static void
test_reference_records_compact_and_duplicate(void **state)
{
    char **files, h1[65], h2[65], h3[65];
    size_t n, i, len;

    (void)state;
    n = list_fixtures("reference-records", &files);
    assert_true(n > 0);
    for (i = 0; i < n; i++) {
        struct intentus_err err = { IERR_OK, "" };
        struct buf out = BUF_INIT;
        char *text = read_file(files[i], &len);
        cJSON *rec = json_parse(text, len, 0, &err), *again, *dup;

        assert_non_null(rec);
        assert_int_equal(json_print_compact(rec, &out), 0);
        assert_null(memchr(out.data, '\n', out.len));
        again = json_parse(out.data, out.len, 0, &err);
        assert_non_null(again);
        dup = cJSON_Duplicate(rec, 1);
        assert_non_null(dup);
        assert_int_equal(json_canonical_sha256(rec, h1, &err), 0);
        assert_int_equal(json_canonical_sha256(again, h2, &err), 0);
        assert_int_equal(json_canonical_sha256(dup, h3, &err), 0);
        assert_string_equal(h1, h2);
        assert_string_equal(h1, h3);
        cJSON_Delete(dup);
        cJSON_Delete(again);
        cJSON_Delete(rec);
        buf_free(&out);
        free(text);
    }
    free_list(files, n);
}

static void
test_reference_truncated_rejected(void **state)
{
    char **files;
    size_t n, i, len;

    (void)state;
    n = list_fixtures("reference-truncated", &files);
    assert_true(n >= 2);
    for (i = 0; i < n; i++) {
        struct intentus_err err = { IERR_OK, "" };
        char *text = read_file(files[i], &len);

        assert_non_null(text);
        assert_null(json_parse(text, len, 0, &err));
        assert_int_equal(err.code, IERR_PARSE);
        assert_non_null(strstr(err.msg, "line"));
        assert_non_null(strstr(err.msg, "column"));
        free(text);
    }
    free_list(files, n);
}

/* Every prefix of a record, each in an exactly-sized heap block so ASan
 * catches any read past len: no crash, and only the full text parses. */
static void
test_parse_every_prefix(void **state)
{
    char **files;
    size_t n, len, cut;
    char *text;

    (void)state;
    n = list_fixtures("reference-records", &files);
    assert_true(n > 0);
    text = read_file(files[0], &len);
    assert_non_null(text);
    for (cut = 0; cut <= len; cut++) {
        struct intentus_err err = { IERR_OK, "" };
        char *copy = malloc(cut > 0 ? cut : 1);
        cJSON *v;

        assert_non_null(copy);
        memcpy(copy, text, cut);
        v = json_parse(copy, cut, 0, &err);
        if (cut == len)
            assert_non_null(v);
        else
            assert_null(v);
        cJSON_Delete(v);
        free(copy);
    }
    free(text);
    free_list(files, n);
}

/* Deterministic byte mutations of a small document must never crash. */
static void
test_parse_mutations_do_not_crash(void **state)
{
    static const char base[] = "{\"a\":[1,-2.5e3,\"x\\u00e9\\ud83d\\ude00\",true,null],"
                               "\"b\":{\"c\":\"\xc3\xa9\xf0\x9f\x98\x80\",\"a\":0}}";
    static const unsigned char bytes[] = {
        '"', '\\', '{', '}',  '[',  ']',  ',',  ':',  'u',  '0',
        '-', 'e',  '.', 0x00, 0x80, 0xc3, 0xed, 0xf0, 0xff, ' '
    };
    unsigned int seed = 12345;
    size_t len = sizeof(base) - 1;
    int round, parsed = 0;

    (void)state;
    for (round = 0; round < 20000; round++) {
        struct intentus_err err = { IERR_OK, "" };
        struct buf out = BUF_INIT;
        char *copy = malloc(len);
        cJSON *v;
        int k;

        assert_non_null(copy);
        memcpy(copy, base, len);
        for (k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % len] = (char)bytes[(seed >> 20) % sizeof(bytes)];
        }
        v = json_parse(copy, len, 0, &err);
        if (v != NULL) {
            parsed++;
            assert_int_equal(json_canonical(v, &out, &err), 0);
            assert_int_equal(json_print_pretty(v, &out), 0);
            cJSON_Delete(v);
        } else {
            assert_int_equal(err.code, IERR_PARSE);
        }
        buf_free(&out);
        free(copy);
    }
    assert_true(parsed > 0);
}

/* ---- canonical form (expectations from CPython) ---- */

static void
test_canon_floats(void **state)
{
    (void)state;
    check_canon("1E2", "100.0");
    check_canon("1.50", "1.5");
    check_canon("1e16", "1e+16");
    check_canon("1e+16", "1e+16");
    check_canon("1e-5", "1e-05");
    check_canon("0.0001", "0.0001");
    check_canon("123456789012345678.0", "1.2345678901234568e+17");
    check_canon("-0.0", "-0.0");
    check_canon("5e-324", "5e-324");
    check_canon("1.7976931348623157e308", "1.7976931348623157e+308");
    check_canon("0.1", "0.1");
    check_canon("2.5e-7", "2.5e-07");
    check_canon("1.0e0", "1.0");
    check_canon("[1.0,-1.5e-10,3e22,1e15,1e17]", "[1.0,-1.5e-10,3e+22,1000000000000000.0,1e+17]");
}

static void
test_canon_integers(void **state)
{
    (void)state;
    check_canon("12345678901234567890123", "12345678901234567890123");
    check_canon("-0", "0");
    check_canon("0", "0");
    check_canon("-12", "-12");
    check_canon("100", "100");
    check_canon("[-0,[-0]]", "[0,[0]]");
}

static void
test_canon_overflow_rejected(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    cJSON *v = parse_ok("{\"a\":\"keep\",\"b\":[1e400]}");
    char hex[65];

    (void)state;
    buf_puts(&out, "prefix");
    assert_int_equal(json_canonical(v, &out, &err), -1);
    assert_int_equal(err.code, IERR_INVALID);
    assert_non_null(strstr(err.msg, "out of range"));
    /* The caller's buffer is left as it was. */
    assert_string_equal(out.data, "prefix");
    assert_int_equal(json_canonical_sha256(v, hex, &err), -1);
    buf_free(&out);
    cJSON_Delete(v);
    /* A huge integer is text, not a double: it stays valid. */
    check_canon("1000000000000000000000000000000000000000000000000000000000000000000000"
                "0000000000000000000000000000000000000000000000000000000000000000000000"
                "0000000000000000000000000000000000000000000000000000000000000000000000"
                "0000000000000000000000000000000000000000000000000000000000000000000000"
                "0000000000000000000000000000000000000000000000000000000000000000000000",
                "1000000000000000000000000000000000000000000000000000000000000000000000"
                "0000000000000000000000000000000000000000000000000000000000000000000000"
                "0000000000000000000000000000000000000000000000000000000000000000000000"
                "0000000000000000000000000000000000000000000000000000000000000000000000"
                "0000000000000000000000000000000000000000000000000000000000000000000000");
}

static void
test_canon_strings(void **state)
{
    (void)state;
    check_canon("\"\\u0000\"", "\"\\u0000\"");
    check_canon("\"\\u007f\"", "\"\\u007f\"");
    check_canon("\"\x7f\"", "\"\\u007f\"");
    check_canon("\"\\u00e9\"", "\"\\u00e9\"");
    check_canon("\"\xc3\xa9\"", "\"\\u00e9\"");
    check_canon("\"\xf0\x9f\x98\x80\"", "\"\\ud83d\\ude00\"");
    check_canon("\"\\ud83d\\ude00\"", "\"\\ud83d\\ude00\"");
    check_canon("\"\\ud800\"", "\"\\ud800\"");
    check_canon("\"\\udc00\"", "\"\\udc00\"");
    check_canon("\"\\ud800\\u0041\"", "\"\\ud800A\"");
    check_canon("\"a/b\"", "\"a/b\"");
    check_canon("\"\\/\"", "\"/\"");
    check_canon("\"q\\\"b\\\\s\"", "\"q\\\"b\\\\s\"");
    check_canon("\"\\b\\f\\n\\r\\t\\u001f\\u0001\"", "\"\\b\\f\\n\\r\\t\\u001f\\u0001\"");
    check_canon("\"\xe2\x80\xa8\xe2\x80\xa9\xef\xbb\xbf\"", "\"\\u2028\\u2029\\ufeff\"");
    check_canon("\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"", "\"\\u65e5\\u672c\\u8a9e\"");
}

static void
test_canon_key_order(void **state)
{
    (void)state;
    /* Code point order, not UTF-16 order: U+FFFF sorts before U+1F600. */
    check_canon("{\"\xf0\x9f\x98\x80\":2,\"\\uffff\":1}", "{\"\\uffff\":1,\"\\ud83d\\ude00\":2}");
    /* U+0000 (stored as C0 80) first after "", lone surrogates below U+E000. */
    check_canon("{\"b\":1,\"a\":2,\"\":3,\"\\u0000\":4,\"\\ud800\":5,\"\\ue000\":6}",
                "{\"\":3,\"\\u0000\":4,\"a\":2,\"b\":1,\"\\ud800\":5,\"\\ue000\":6}");
    check_canon("{\"\xc3\xa9\":1,\"e\":2,\"z\":3}", "{\"e\":2,\"z\":3,\"\\u00e9\":1}");
    check_canon("{\"A\":1,\"a\":2,\"B\":3}", "{\"A\":1,\"B\":3,\"a\":2}");
    check_canon("{\"ab\":1,\"a\":2,\"a\\u0000\":3}", "{\"a\":2,\"a\\u0000\":3,\"ab\":1}");
}

static void
test_canon_duplicate_keys(void **state)
{
    (void)state;
    check_canon("{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}");
    check_canon("{\"a\":{\"x\":1},\"a\":[1],\"a\":\"last\"}", "{\"a\":\"last\"}");
}

static void
test_canon_nested_and_empty(void **state)
{
    (void)state;
    check_canon("{\"z\":{\"b\":[{\"d\":1,\"c\":2}],\"a\":null},\"y\":true,\"x\":false}",
                "{\"x\":false,\"y\":true,\"z\":{\"a\":null,\"b\":[{\"c\":2,\"d\":1}]}}");
    check_canon("[{\"b\":1,\"a\":1},[{\"d\":0,\"c\":0}]]",
                "[{\"a\":1,\"b\":1},[{\"c\":0,\"d\":0}]]");
    check_canon("{}", "{}");
    check_canon("[]", "[]");
    check_canon(" { \"a\" : { } , \"b\" : [ ] , \"c\" : [ { } ] } ",
                "{\"a\":{},\"b\":[],\"c\":[{}]}");
}

static void
test_canon_code_created_numbers(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    cJSON *a = cJSON_CreateArray();

    (void)state;
    cJSON_AddItemToArray(a, cJSON_CreateNumber(3));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(-0.0));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(0.5));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(9007199254740991.0));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(9007199254740992.0));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(1e300));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(-2.5e-7));
    assert_int_equal(json_canonical(a, &out, &err), 0);
    assert_string_equal(out.data, "[3,0,0.5,9007199254740991,9007199254740992.0,1e+300,-2.5e-07]");
    cJSON_Delete(a);
    buf_free(&out);

    a = cJSON_CreateNumber(INFINITY);
    assert_int_equal(json_canonical(a, &out, &err), -1);
    assert_int_equal(err.code, IERR_INVALID);
    cJSON_Delete(a);
    buf_free(&out);
}

/* Strings built in code may hold bytes that are not UTF-8; they hash as
 * U+FFFD instead of failing or crashing. */
static void
test_canon_invalid_utf8_from_code(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    cJSON *s = cJSON_CreateString("a\xff"
                                  "b\xc3");

    (void)state;
    assert_int_equal(json_canonical(s, &out, &err), 0);
    assert_string_equal(out.data, "\"a\\ufffdb\\ufffd\"");
    cJSON_Delete(s);
    buf_free(&out);
}

static void
test_canon_raw_node(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    cJSON *o = cJSON_CreateObject();

    (void)state;
    cJSON_AddItemToObject(o, "r", cJSON_CreateRaw("{\"b\": 1.50, \"a\": \"\xc3\xa9\"}"));
    cJSON_AddNumberToObject(o, "n", 1);
    assert_int_equal(json_canonical(o, &out, &err), 0);
    assert_string_equal(out.data, "{\"n\":1,\"r\":{\"a\":\"\\u00e9\",\"b\":1.5}}");
    buf_reset(&out);
    assert_int_equal(json_print_compact(o, &out), 0);
    assert_string_equal(out.data, "{\"r\":{\"b\": 1.50, \"a\": \"\xc3\xa9\"},\"n\":1}");
    cJSON_Delete(o);
    buf_free(&out);

    o = cJSON_CreateRaw("{bad");
    assert_int_equal(json_canonical(o, &out, &err), -1);
    assert_int_equal(err.code, IERR_PARSE);
    cJSON_Delete(o);
    buf_free(&out);
}

static void
test_canon_appends(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    cJSON *v = parse_ok("[1]");

    (void)state;
    buf_puts(&out, "x=");
    assert_int_equal(json_canonical(v, &out, &err), 0);
    assert_string_equal(out.data, "x=[1]");
    assert_int_equal(json_canonical(NULL, &out, &err), -1);
    cJSON_Delete(v);
    buf_free(&out);
}

/* ---- parser ---- */

static void
test_parse_errors(void **state)
{
    static const struct {
        const char *text;
        const char *prefix;
    } cases[] = {
        { "", "line 1, column 1: empty input" },
        { "  \n ", "line 2, column 2: empty input" },
        { "{", "line 1, column 2: unexpected end of input" },
        { "[", "line 1, column 2: unexpected end of input" },
        { "[1,]", "line 1, column 4: trailing comma" },
        { "{\"a\":1,}", "line 1, column 8: trailing comma" },
        { "NaN", "line 1, column 1: NaN and Infinity" },
        { "Infinity", "line 1, column 1: NaN and Infinity" },
        { "-Infinity", "line 1, column 1: Infinity" },
        { "[nan]", "line 1, column 2: unexpected character 'n'" },
        { "01", "line 1, column 1: numbers cannot have leading zeros" },
        { "-01", "line 1, column 1: numbers cannot have leading zeros" },
        { "+1", "line 1, column 1: unexpected character '+'" },
        { ".5", "line 1, column 1: unexpected character '.'" },
        { "1.", "line 1, column 3: expected a digit after '.'" },
        { "1.e5", "line 1, column 3: expected a digit after '.'" },
        { "1e", "line 1, column 3: expected a digit in the exponent" },
        { "1e+", "line 1, column 4: expected a digit in the exponent" },
        { "-", "line 1, column 2: expected a digit after '-'" },
        { "\"\\x\"", "line 1, column 2: invalid escape" },
        { "\"\\u12g4\"", "line 1, column 2: invalid \\uXXXX" },
        { "\"\\u12\"", "line 1, column 2: invalid \\uXXXX" },
        { "\"\\", "line 1, column 2: unterminated escape" },
        { "\"abc", "line 1, column 1: unterminated string" },
        { "\"a\x01"
          "b\"",
          "line 1, column 3: control character 0x01" },
        { "\"a\tb\"", "line 1, column 3: control character 0x09" },
        { "\"\xff\"", "line 1, column 2: invalid UTF-8 byte 0xff" },
        { "\"\xc0\xaf\"", "line 1, column 2: invalid UTF-8" },          /* overlong '/' */
        { "\"\xc0\x80\"", "line 1, column 2: invalid UTF-8" },          /* overlong NUL */
        { "\"\xe0\x80\xaf\"", "line 1, column 2: invalid UTF-8" },      /* overlong */
        { "\"\xed\xa0\x80\"", "line 1, column 2: invalid UTF-8" },      /* surrogate */
        { "\"\xf4\x90\x80\x80\"", "line 1, column 2: invalid UTF-8" },  /* > U+10FFFF */
        { "\"\x80\"", "line 1, column 2: invalid UTF-8" },              /* stray continuation */
        { "\"\xe2\x82\"", "line 1, column 2: invalid UTF-8" },          /* truncated */
        { "\xef\xbb\xbf{}", "line 1, column 1: unexpected byte 0xef" }, /* BOM */
        { "1 2", "line 1, column 3: unexpected data after the JSON value" },
        { "{} x", "line 1, column 4: unexpected data after the JSON value" },
        { "[1 2]", "line 1, column 4: unexpected character '2', expected ',' or ']'" },
        { "{\"a\" 1}", "line 1, column 6: unexpected character '1', expected ':'" },
        { "{1:2}", "line 1, column 2: unexpected character '1', expected a string key" },
        { "{\"a\":}", "line 1, column 6: unexpected character '}', expected a JSON value" },
        { "tru", "line 1, column 1: unexpected character 't'" },
        { "nul", "line 1, column 1: unexpected character 'n'" },
        { "[,1]", "line 1, column 2: unexpected character ','" },
        { "\v1", "line 1, column 1: unexpected byte 0x0b" },
        { "'a'", "line 1, column 1: unexpected character '''" },
        { "{\n  \"a\": 1,\n  \"b\": x\n}", "line 3, column 8: unexpected character 'x'" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_parse_error(cases[i].text, strlen(cases[i].text), 0, cases[i].prefix);
}

static void
test_parse_error_raw_nul_byte(void **state)
{
    (void)state;
    check_parse_error("\"a\0b\"", 5, 0, "line 1, column 3: control character 0x00");
    check_parse_error("[1]\0", 4, 0, "line 1, column 4: unexpected data");
}

static void
test_parse_depth_limit(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    char deep[600];
    cJSON *v;
    int i;

    (void)state;
    v = json_parse("[[[[[[[[]]]]]]]]", 16, 8, &err);
    assert_non_null(v);
    cJSON_Delete(v);
    check_parse_error("[[[[[[[[[]]]]]]]]]", 18, 8, "line 1, column 9: nesting deeper than 8");
    check_parse_error("{\"a\":{\"a\":{\"a\":1}}}", 19, 2, "line 1, column 11: nesting deeper");

    /* Default limit: 256 levels parse, 257 do not. */
    for (i = 0; i < 256; i++) {
        deep[i] = '[';
        deep[256 + i] = ']';
    }
    v = json_parse(deep, 512, 0, &err);
    assert_non_null(v);
    cJSON_Delete(v);
    memmove(deep + 1, deep, 512);
    deep[0] = '[';
    deep[513] = ']';
    check_parse_error(deep, 514, 0, "line 1, column 257: nesting deeper than 256");
}

/* The input is a length-delimited buffer, not a C string. */
static void
test_parse_respects_len(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    cJSON *v;

    (void)state;
    v = json_parse("[1,2]garbage", 5, 0, &err);
    assert_non_null(v);
    assert_int_equal(json_print_compact(v, &out), 0);
    assert_string_equal(out.data, "[1,2]");
    cJSON_Delete(v);
    v = json_parse("1234", 2, 0, &err);
    assert_non_null(v);
    assert_string_equal(v->valuestring, "12");
    cJSON_Delete(v);
    check_parse_error("true", 3, 0, "line 1, column 1");
    check_parse_error("\"abc\"", 4, 0, "line 1, column 1: unterminated string");
    check_parse_error(NULL, 0, 0, "line 1, column 1: empty input");
    buf_free(&out);
}

static void
test_parse_number_nodes(void **state)
{
    cJSON *v;

    (void)state;
    v = parse_ok("[1.50, -0, 12345678901234567890123, 1e10, -1e10, 42, 1E2]");
    cJSON *n = v->child;
    assert_true(cJSON_IsNumber(n));
    assert_string_equal(n->valuestring, "1.50");
    assert_true(n->valuedouble == 1.5);
    assert_int_equal(n->valueint, 1);
    n = n->next;
    assert_string_equal(n->valuestring, "-0");
    assert_true(n->valuedouble == 0);
    n = n->next;
    assert_string_equal(n->valuestring, "12345678901234567890123");
    assert_true(n->valuedouble == 12345678901234567890123.0);
    assert_int_equal(n->valueint, INT_MAX);
    n = n->next;
    assert_int_equal(n->valueint, INT_MAX);
    n = n->next;
    assert_int_equal(n->valueint, INT_MIN);
    n = n->next;
    assert_int_equal(n->valueint, 42);
    assert_true(n->valuedouble == 42);
    n = n->next;
    assert_string_equal(n->valuestring, "1E2");
    assert_true(n->valuedouble == 100);
    /* cJSON_Duplicate copies the text (and cJSON_Delete frees both). */
    n = cJSON_Duplicate(v->child, 0);
    assert_non_null(n);
    assert_string_equal(n->valuestring, "1.50");
    assert_ptr_not_equal(n->valuestring, v->child->valuestring);
    cJSON_Delete(n);
    cJSON_Delete(v);
}

/* A locale with a ',' decimal point (the TUI calls setlocale) must not
 * change numbers. Without such a locale installed there is nothing to
 * check (cmocka's skip() would count as "not ok" in tests/run.sh). */
static void
test_locale_independent(void **state)
{
    static const char *const names[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8" };
    const char *got = NULL;
    char out[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]) && got == NULL; i++)
        got = setlocale(LC_ALL, names[i]);
    if (got == NULL)
        return;
    check_canon("[1.5,2.5e-7,1E2]", "[1.5,2.5e-07,100.0]");
    json_format_double(0.1, out, sizeof(out));
    setlocale(LC_ALL, "C");
    assert_string_equal(out, "0.1");
}

static void
test_parse_literals_and_whitespace(void **state)
{
    cJSON *v;

    (void)state;
    v = parse_ok(" \t\r\n[true ,false\n,null]\r\n ");
    assert_true(cJSON_IsTrue(v->child));
    assert_true(cJSON_IsFalse(v->child->next));
    assert_true(cJSON_IsNull(v->child->next->next));
    assert_null(v->child->next->next->next);
    cJSON_Delete(v);
    v = parse_ok("\"just a string\"");
    assert_true(cJSON_IsString(v));
    assert_string_equal(v->valuestring, "just a string");
    cJSON_Delete(v);
}

/* The very first string of a parse is empty: the scratch buffer must be a
 * valid C string before anything was appended to it. */
static void
test_parse_empty_strings(void **state)
{
    cJSON *v;

    (void)state;
    v = parse_ok("\"\"");
    assert_string_equal(v->valuestring, "");
    cJSON_Delete(v);
    v = parse_ok("{\"\":\"\"}");
    assert_string_equal(v->child->string, "");
    assert_string_equal(v->child->valuestring, "");
    cJSON_Delete(v);
}

/* How strings are stored: U+0000 as C0 80, lone surrogates as ED xx xx,
 * escaped pairs as one 4-byte character. */
static void
test_parse_string_storage(void **state)
{
    cJSON *v;

    (void)state;
    v = parse_ok("[\"a\\u0000b\", \"\\ud800\", \"\\udfff\", \"\\ud83d\\ude00\", \"\\u00E9\\/\\\"\","
                 " \"\\ud83d\\u0041\", \"\\ud83d\\ud83d\\ude00\", \"\\ude00\\ud83d\"]");
    cJSON *s = v->child;
    assert_string_equal(s->valuestring, "a\xc0\x80"
                                        "b");
    s = s->next;
    assert_string_equal(s->valuestring, "\xed\xa0\x80");
    s = s->next;
    assert_string_equal(s->valuestring, "\xed\xbf\xbf");
    s = s->next;
    assert_string_equal(s->valuestring, "\xf0\x9f\x98\x80");
    s = s->next;
    assert_string_equal(s->valuestring, "\xc3\xa9/\"");
    s = s->next;
    assert_string_equal(s->valuestring, "\xed\xa0\xbd"
                                        "A");
    s = s->next;
    assert_string_equal(s->valuestring, "\xed\xa0\xbd\xf0\x9f\x98\x80");
    s = s->next;
    assert_string_equal(s->valuestring, "\xed\xb8\x80\xed\xa0\xbd");
    cJSON_Delete(v);
}

static void
test_parse_duplicate_keys_keep_first_position(void **state)
{
    cJSON *v;

    (void)state;
    v = parse_ok("{\"a\":1,\"b\":{\"x\":[1,2]},\"a\":{\"deep\":[3]},\"c\":4,\"b\":\"s\",\"a\":5}");
    assert_string_equal(v->child->string, "a");
    assert_string_equal(v->child->valuestring, "5");
    assert_string_equal(v->child->next->string, "b");
    assert_string_equal(v->child->next->valuestring, "s");
    assert_string_equal(v->child->next->next->string, "c");
    assert_null(v->child->next->next->next);
    assert_int_equal(cJSON_GetArraySize(v), 3);
    cJSON_Delete(v);
    check_compact("{\"k\":[1],\"k\":{}}", "{\"k\":{}}");
    /* Keys that differ only after U+0000 are different keys. */
    check_compact("{\"a\\u0000\":1,\"a\":2}", "{\"a\\u0000\":1,\"a\":2}");
}

/* Many keys, all duplicated: must stay fast and correct. */
static void
test_parse_many_duplicate_keys(void **state)
{
    struct buf text = BUF_INIT;
    cJSON *v;
    int i;

    (void)state;
    buf_putc(&text, '{');
    for (i = 0; i < 40000; i++)
        buf_printf(&text, "%s\"k%d\":%d", i ? "," : "", i % 2000, i);
    buf_putc(&text, '}');
    v = parse_ok(text.data);
    assert_int_equal(cJSON_GetArraySize(v), 2000);
    assert_string_equal(v->child->string, "k0");
    assert_string_equal(v->child->valuestring, "38000");
    buf_free(&text);
    cJSON_Delete(v);
}

/* ---- printers (expectations from CPython json.dumps) ---- */

static void
test_print_pretty_layout(void **state)
{
    (void)state;
    check_pretty(
        "{\"a\":[1,2,{\"b\":null}],\"c\":{},\"d\":[],\"e\":\"x\",\"f\":[[]],\"g\":{\"h\":{}}}",
        "{\n  \"a\": [\n    1,\n    2,\n    {\n      \"b\": null\n    }\n  ],\n"
        "  \"c\": {},\n  \"d\": [],\n  \"e\": \"x\",\n  \"f\": [\n    []\n  ],\n"
        "  \"g\": {\n    \"h\": {}\n  }\n}");
    check_pretty("[true,false,null,-1.5,12345678901234567890123]",
                 "[\n  true,\n  false,\n  null,\n  -1.5,\n  12345678901234567890123\n]");
    check_pretty("[]", "[]");
    check_pretty("{}", "{}");
    check_pretty("\"s\"", "\"s\"");
    check_pretty("true", "true");
}

static void
test_print_compact_layout(void **state)
{
    (void)state;
    check_compact(" { \"a\" : [ 1 , 2 , { \"b\" : null } ] , \"c\" : { } , \"d\" : [ ] } ",
                  "{\"a\":[1,2,{\"b\":null}],\"c\":{},\"d\":[]}");
    check_compact("[]", "[]");
}

static void
test_print_string_escapes(void **state)
{
    static const char in[] =
        "[\"\\u0000\\u007f\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\xc3\xa9\xf0\x9f\x98\x80\"]";
    static const char want[] =
        "[\"\\u0000\x7f\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\xc3\xa9\xf0\x9f\x98\x80\"]";

    (void)state;
    check_compact(in, want);
    check_pretty(in,
                 "[\n  \"\\u0000\x7f\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\xc3\xa9\xf0\x9f\x98\x80\"\n]");
    /* Lone surrogates cannot be written raw; they go back to escapes. */
    check_compact("[\"\\ud800x\\udfff\",\"\\ud83d\\u0041\"]", "[\"\\ud800x\\udfff\",\"\\ud83dA\"]");
    check_compact("{\"k\\u0000\\n\":1}", "{\"k\\u0000\\n\":1}");
}

/* The escape of one byte sequence as the printers must write it, the slow
 * and obvious way: the reference print_string is checked against. */
static size_t
escape_one(const unsigned char *s, struct buf *b)
{
    static const char hex[] = "0123456789abcdef";

    if (s[0] == 0xc0 && s[1] == 0x80) {
        buf_puts(b, "\\u0000");
        return 2;
    }
    if (s[0] == 0xed && s[1] >= 0xa0 && s[1] <= 0xbf && s[2] >= 0x80 && s[2] <= 0xbf) {
        unsigned cp = 0xd000u | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
        buf_printf(b, "\\u%c%c%c%c", hex[cp >> 12], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                   hex[cp & 15]);
        return 3;
    }
    switch (s[0]) {
    case '"':
        buf_puts(b, "\\\"");
        return 1;
    case '\\':
        buf_puts(b, "\\\\");
        return 1;
    case '\n':
        buf_puts(b, "\\n");
        return 1;
    case '\t':
        buf_puts(b, "\\t");
        return 1;
    default:
        if (s[0] < 0x20)
            buf_printf(b, "\\u%04x", s[0]);
        else
            buf_putc(b, (char)s[0]);
        return 1;
    }
}

/* Every length up to 80 with one special sequence at every position, into
 * buffers that start empty or nearly full: the two-word pass for short
 * strings, the 16-byte pass and the hand-over between them agree with the
 * slow escape, and the buffer stays terminated. Bytes that look special
 * to a signed compare (DEL, 0x80..0xff other than C0 and ED) are copied. */
static void
test_print_string_every_length(void **state)
{
    static const char *const specials[] = { "\"",           "\\",
                                            "\n",           "\t",
                                            "\x01",         "\x1f",
                                            "\xc0\x80",     "\xed\xa0\x80",
                                            "\xed\xbf\xbf", "\xc0x",
                                            "\xed\x41",     "\xc3\xa9",
                                            "\x7f",         "\xff\x80\x9f\xdf",
                                            "\"\n\\",       "\xc0\x80\xed\xa0\x80\x1f" };
    char str[128];

    (void)state;
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
        size_t sl = strlen(specials[k]);
        for (size_t len = 0; len <= 80; len++) {
            for (size_t at = 0; at <= len; at++) {
                struct buf got = BUF_INIT, want = BUF_INIT;
                size_t prefix = (len * 7 + at) % 70; /* varies where the reservation falls */
                memset(str, 'a', len + sl);
                memcpy(str + at, specials[k], sl);
                str[len + sl] = '\0';
                for (size_t i = 0; i < prefix; i++) {
                    buf_putc(&got, 'p');
                    buf_putc(&want, 'p');
                }
                json_print_string(str, &got);
                buf_putc(&want, '"');
                for (const unsigned char *s = (const unsigned char *)str; *s != '\0';)
                    s += escape_one(s, &want);
                buf_putc(&want, '"');
                assert_int_equal(got.len, want.len);
                assert_memory_equal(got.data, want.data, want.len + 1);
                buf_free(&got);
                buf_free(&want);
            }
        }
    }
}

/* Code-made integers are written without printf, as "%.0f" writes them;
 * trees deeper than the indentation table still indent right. */
static void
test_print_integers_and_deep_indent(void **state)
{
    static const double ints[] = { 1,
                                   -1,
                                   9,
                                   10,
                                   -10,
                                   123456789012,
                                   -9007199254740991.0,
                                   9007199254740991.0,
                                   4503599627370496.0,
                                   65536 };
    struct buf out = BUF_INIT;
    char want[64];
    cJSON *deep, *v;

    (void)state;
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        v = cJSON_CreateNumber(ints[i]);
        buf_reset(&out);
        assert_int_equal(json_print_compact(v, &out), 0);
        snprintf(want, sizeof(want), "%.0f", ints[i]);
        assert_string_equal(out.data, want);
        cJSON_Delete(v);
    }
    /* 40 nested arrays: the innermost line is indented 80 spaces. */
    deep = cJSON_CreateArray();
    v = deep;
    for (int i = 1; i < 40; i++) {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(v, a);
        v = a;
    }
    cJSON_AddItemToArray(v, cJSON_CreateTrue());
    buf_reset(&out);
    assert_int_equal(json_print_pretty(deep, &out), 0);
    {
        struct buf exp = BUF_INIT;
        for (int i = 0; i < 40; i++) {
            buf_putc(&exp, '[');
            buf_putc(&exp, '\n');
            for (int j = 0; j <= i; j++)
                buf_puts(&exp, "  ");
        }
        buf_puts(&exp, "true");
        for (int i = 39; i >= 0; i--) {
            buf_putc(&exp, '\n');
            for (int j = 0; j < i; j++)
                buf_puts(&exp, "  ");
            buf_putc(&exp, ']');
        }
        assert_string_equal(out.data, exp.data);
        buf_free(&exp);
    }
    cJSON_Delete(deep);
    buf_free(&out);
}

static void
test_print_numbers_keep_text(void **state)
{
    (void)state;
    check_compact("[1E2,1.50,-0,1e400,0.10]", "[1E2,1.50,-0,1e400,0.10]");
}

static void
test_print_code_created(void **state)
{
    struct buf out = BUF_INIT;
    cJSON *o = cJSON_CreateObject();

    (void)state;
    cJSON_AddNumberToObject(o, "i", 3);
    cJSON_AddNumberToObject(o, "z", -0.0);
    cJSON_AddNumberToObject(o, "f", 0.5);
    cJSON_AddNumberToObject(o, "big", 1e20);
    cJSON_AddNumberToObject(o, "neg", -123456789);
    cJSON_AddStringToObject(o, "s", "h\xc3\xa9\n");
    cJSON_AddItemToObject(o, "raw", cJSON_CreateRaw("[1, 2]"));
    cJSON_AddItemToObject(o, "e", cJSON_CreateObject());
    assert_int_equal(json_print_compact(o, &out), 0);
    assert_string_equal(out.data, "{\"i\":3,\"z\":0,\"f\":0.5,\"big\":1e+20,\"neg\":-123456789,"
                                  "\"s\":\"h\xc3\xa9\\n\",\"raw\":[1, 2],\"e\":{}}");
    buf_free(&out);
    cJSON_Delete(o);
}

static void
test_print_invalid_tree(void **state)
{
    struct buf out = BUF_INIT;
    cJSON *a = cJSON_CreateArray(), *o = cJSON_CreateObject(), *raw;

    (void)state;
    assert_int_equal(json_print_compact(NULL, &out), -1);
    /* A member without a key cannot be printed; the buffer is untouched. */
    cJSON_AddItemToArray(o, cJSON_CreateNumber(1));
    buf_puts(&out, "keep");
    assert_int_equal(json_print_pretty(o, &out), -1);
    assert_string_equal(out.data, "keep");
    raw = cJSON_CreateRaw("x");
    free(raw->valuestring); /* cJSON_CreateRaw(NULL) refuses, so make one */
    raw->valuestring = NULL;
    cJSON_AddItemToArray(a, raw);
    assert_int_equal(json_print_compact(a, &out), -1);
    assert_string_equal(out.data, "keep");
    cJSON_Delete(a);
    cJSON_Delete(o);
    buf_free(&out);
}

/* ---- json_format_double (expectations from CPython repr) ---- */

static void
test_format_double_table(void **state)
{
    static const struct {
        double d;
        const char *want;
    } cases[] = {
        { 0.0, "0.0" },
        { -0.0, "-0.0" },
        { 1.0, "1.0" },
        { -1.0, "-1.0" },
        { 100.0, "100.0" },
        { 1.5, "1.5" },
        { 0.1, "0.1" },
        { 0.0001, "0.0001" },
        { 0.00001, "1e-05" },
        { 12345.678, "12345.678" },
        { 1e15, "1000000000000000.0" },
        { 1e16, "1e+16" },
        { 9999999999999998.0, "9999999999999998.0" },
        { 123456789012345678.0, "1.2345678901234568e+17" },
        { 2.5e-7, "2.5e-07" },
        { 1.5e-7, "1.5e-07" },
        { 1e22, "1e+22" },
        { 1e23, "1e+23" },
        { 1e300, "1e+300" },
        { 5e-324, "5e-324" },
        { 2.2250738585072014e-308, "2.2250738585072014e-308" },
        { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { 0.30000000000000004, "0.30000000000000004" },
        { 1.0 / 3.0, "0.3333333333333333" },
        { -123.456, "-123.456" },
        { 3.141592653589793, "3.141592653589793" },
        /* Just above a power of two the shortest string is not the nearest
         * one of its length; CPython gives these: */
        { 7.120236347223045e-307, "7.120236347223045e-307" },
        { 5.966672584960166e-154, "5.966672584960166e-154" },
        { 7.854549544476363e-90, "7.854549544476363e-90" },
    };
    char out[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = json_format_double(cases[i].d, out, sizeof(out));

        if (strcmp(out, cases[i].want) != 0)
            fail_msg("json_format_double(%.17g) = %s, want %s", cases[i].d, out, cases[i].want);
        assert_int_equal(n, (int)strlen(cases[i].want));
    }
}

static void
test_format_double_non_finite_and_small_buffer(void **state)
{
    char out[32], tiny[4];

    (void)state;
    json_format_double(NAN, out, sizeof(out));
    assert_string_equal(out, "NaN");
    json_format_double(INFINITY, out, sizeof(out));
    assert_string_equal(out, "Infinity");
    json_format_double(-INFINITY, out, sizeof(out));
    assert_string_equal(out, "-Infinity");
    /* Like snprintf: the full length is returned, the text is cut. */
    assert_int_equal(json_format_double(-1.2345678901234567e-300, tiny, sizeof(tiny)), 24);
    assert_string_equal(tiny, "-1.");
}

/* ---- lookups ---- */

static void
test_get_string(void **state)
{
    cJSON *v = NULL;

    (void)state;
    v = parse_ok("{\"s\":\"x\",\"n\":1,\"Name\":\"case\",\"nul\":null}");
    assert_string_equal(json_get_string(v, "s"), "x");
    assert_null(json_get_string(v, "n"));
    assert_null(json_get_string(v, "nul"));
    assert_null(json_get_string(v, "missing"));
    assert_null(json_get_string(v, "name")); /* case-sensitive */
    assert_null(json_get_string(NULL, "s"));
    assert_null(json_get_string(v, NULL));
    assert_null(json_get_string(v->child, "s"));
    cJSON_Delete(v);
}

/* json_item answers as cJSON_GetObjectItemCaseSensitive does: the first
 * member of that exact name (keys sharing a first byte, a prefix, the
 * empty key), NULL for NULL arguments and for a scalar. */
static void
test_json_item(void **state)
{
    cJSON *o = parse_ok("{\"routing\":1,\"routingMetadata\":2,\"r\":3,\"\":4,\"Routing\":5,"
                        "\"routing\":6}");
    const char *keys[] = { "routing", "routingMetadata", "r", "", "Routing", "rout", "x" };
    cJSON *s = cJSON_CreateString("routing");

    (void)state;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_ptr_equal(json_item(o, keys[i]), cJSON_GetObjectItemCaseSensitive(o, keys[i]));
    assert_int_equal(json_item(o, "routing")->valueint, 6); /* the parser keeps the last */
    assert_int_equal(json_item(o, "")->valueint, 4);
    assert_null(json_item(o, "rout"));
    assert_null(json_item(NULL, "routing"));
    assert_null(json_item(o, NULL));
    assert_null(json_item(s, "routing"));
    cJSON_Delete(s);
    cJSON_Delete(o);
}

/* json_detach unlinks what cJSON_DetachItemFromObjectCaseSensitive would:
 * the first member of that name (a tree built by hand may hold a name
 * twice), leaving the rest linked in order. */
static void
test_json_detach(void **state)
{
    cJSON *o = cJSON_CreateObject(), *d;
    const char *const order[] = { "metadata", "modelCalls", "error", "error" };

    (void)state;
    for (int i = 0; i < 4; i++)
        cJSON_AddItemToObject(o, order[i], cJSON_CreateNumber(i));
    d = json_detach(o, "error");
    assert_non_null(d);
    assert_int_equal(d->valueint, 2);
    assert_null(d->next);
    assert_null(d->prev);
    cJSON_Delete(d);
    assert_int_equal(cJSON_GetArraySize(o), 3);
    assert_int_equal(json_item(o, "error")->valueint, 3); /* the second is there */
    assert_null(json_detach(o, "subIntents"));            /* 's': no member */
    assert_null(json_detach(o, "model"));                 /* a prefix is not a name */
    d = json_detach(o, "metadata");                       /* the first member */
    assert_int_equal(d->valueint, 0);
    cJSON_Delete(d);
    assert_string_equal(o->child->string, "modelCalls");
    assert_null(json_detach(NULL, "error"));
    assert_null(json_detach(o, NULL));
    cJSON_Delete(o);
}

static void
test_get_int64(void **state)
{
    cJSON *v;
    long long n = 0;

    (void)state;
    v = parse_ok("{\"a\":42,\"b\":-9223372036854775808,\"c\":9223372036854775807,"
                 "\"d\":9223372036854775808,\"e\":1.0,\"f\":1e2,\"g\":\"7\",\"h\":-0,"
                 "\"i\":12345678901234567890123}");
    assert_int_equal(json_get_int64(v, "a", &n), 0);
    assert_true(n == 42);
    assert_int_equal(json_get_int64(v, "b", &n), 0);
    assert_true(n == LLONG_MIN);
    assert_int_equal(json_get_int64(v, "c", &n), 0);
    assert_true(n == LLONG_MAX);
    assert_int_equal(json_get_int64(v, "d", &n), -1);
    assert_int_equal(json_get_int64(v, "e", &n), -1);
    assert_int_equal(json_get_int64(v, "f", &n), -1);
    assert_int_equal(json_get_int64(v, "g", &n), -1);
    assert_int_equal(json_get_int64(v, "h", &n), 0);
    assert_true(n == 0);
    assert_int_equal(json_get_int64(v, "i", &n), -1);
    assert_int_equal(json_get_int64(v, "missing", &n), -1);
    assert_int_equal(json_get_int64(NULL, "a", &n), -1);
    cJSON_Delete(v);

    v = cJSON_CreateObject();
    cJSON_AddNumberToObject(v, "x", 5000000000.0);
    cJSON_AddNumberToObject(v, "y", 2.5);
    cJSON_AddNumberToObject(v, "z", 1e19);
    assert_int_equal(json_get_int64(v, "x", &n), 0);
    assert_true(n == 5000000000LL);
    assert_int_equal(json_get_int64(v, "y", &n), -1);
    assert_int_equal(json_get_int64(v, "z", &n), -1);
    cJSON_Delete(v);
}

/* Number text with at most 15 significant digits takes a fast path (its own
 * digits are repr's); longer text, subnormals and zero take the slow one.
 * Expectations from CPython json.dumps(json.loads(text)). */
static void
test_float_text_fast_path(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = { { "0.000123", "0.000123" },
                  { "-0.0", "-0.0" },
                  { "1.50", "1.5" },
                  { "100.0", "100.0" },
                  { "1E2", "100.0" },
                  { "0.1e1", "1.0" },
                  { "123456789012345.6", "123456789012345.6" },
                  { "12345678901234.5", "12345678901234.5" },
                  { "1e-320", "1e-320" },
                  { "0e5", "0.0" },
                  { "-0E-3", "-0.0" },
                  { "4.35E+15", "4350000000000000.0" },
                  { "1.0E16", "1e+16" },
                  { "99999999999999.99", "99999999999999.98" },
                  { "0.00001", "1e-05" },
                  { "12.3400", "12.34" },
                  { "7.120236347223045e-307", "7.120236347223045e-307" },
                  { "1e22", "1e+22" },
                  { "1.23456789012345e-300", "1.23456789012345e-300" }

    };
    struct buf b = BUF_INIT;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *v = json_parse(cases[i].text, strlen(cases[i].text), 0, NULL);
        assert_non_null(v);
        buf_reset(&b);
        assert_int_equal(json_canonical(v, &b, NULL), 0);
        if (strcmp(b.data, cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].text, b.data, cases[i].want);
        cJSON_Delete(v);
    }
    buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float_text_fast_path),
        cmocka_unit_test(test_model_envelope_vector),
        cmocka_unit_test(test_config_hash_empty_registry),
        cmocka_unit_test(test_config_hash_one_agent),
        cmocka_unit_test(test_config_hash_built_in_code),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_reference_records_envelope_hash),
        cmocka_unit_test(test_reference_records_round_trip),
        cmocka_unit_test(test_reference_records_compact_and_duplicate),
        cmocka_unit_test(test_reference_truncated_rejected),
        cmocka_unit_test(test_parse_every_prefix),
        cmocka_unit_test(test_parse_mutations_do_not_crash),
        cmocka_unit_test(test_canon_floats),
        cmocka_unit_test(test_canon_integers),
        cmocka_unit_test(test_canon_overflow_rejected),
        cmocka_unit_test(test_canon_strings),
        cmocka_unit_test(test_canon_key_order),
        cmocka_unit_test(test_canon_duplicate_keys),
        cmocka_unit_test(test_canon_nested_and_empty),
        cmocka_unit_test(test_canon_code_created_numbers),
        cmocka_unit_test(test_canon_invalid_utf8_from_code),
        cmocka_unit_test(test_canon_raw_node),
        cmocka_unit_test(test_canon_appends),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_error_raw_nul_byte),
        cmocka_unit_test(test_parse_depth_limit),
        cmocka_unit_test(test_parse_respects_len),
        cmocka_unit_test(test_parse_number_nodes),
        cmocka_unit_test(test_locale_independent),
        cmocka_unit_test(test_parse_literals_and_whitespace),
        cmocka_unit_test(test_parse_empty_strings),
        cmocka_unit_test(test_parse_string_storage),
        cmocka_unit_test(test_parse_duplicate_keys_keep_first_position),
        cmocka_unit_test(test_parse_many_duplicate_keys),
        cmocka_unit_test(test_print_pretty_layout),
        cmocka_unit_test(test_print_compact_layout),
        cmocka_unit_test(test_print_string_escapes),
        cmocka_unit_test(test_print_string_every_length),
        cmocka_unit_test(test_print_integers_and_deep_indent),
        cmocka_unit_test(test_print_numbers_keep_text),
        cmocka_unit_test(test_print_code_created),
        cmocka_unit_test(test_print_invalid_tree),
        cmocka_unit_test(test_format_double_table),
        cmocka_unit_test(test_format_double_non_finite_and_small_buffer),
        cmocka_unit_test(test_get_string),
        cmocka_unit_test(test_json_item),
        cmocka_unit_test(test_json_detach),
        cmocka_unit_test(test_get_int64),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
