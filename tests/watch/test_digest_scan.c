/* The field scanner (watch/digest_scan.c) against the cJSON path
 * (digest_from_tree): the same digest for every input, over the
 * reference records (tests/data, copies of ../shared/fixtures), generated records and mutations of
 * both, and the scanner really answering for ordinary records (not deferring every time). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/digest.h"
#include "watch/digest_scan.h"

struct tally {
    size_t inputs, answered, deferred;
};

static char *
describe(const struct digest *d)
{
    struct buf b = BUF_INIT;

    assert_non_null(d);
    assert_int_equal(digest_describe(d, &b), 0);
    return b.data;
}

/* The scanner's digest (when it answers) equals the tree's; digest_from_text
 * equals it whatever the scanner does. */
static void
same_digest(const char *text, size_t len, struct tally *t)
{
    struct digest *tree = digest_from_tree("x", text, len, NULL), *scan = NULL, *both;
    char *want = describe(tree), *got;
    int rc = digest_scan("x", text, len, &scan);

    assert_true(rc == 0 || rc == 1);
    t->inputs++;
    if (rc == 1) {
        t->answered++;
        got = describe(scan);
        if (strcmp(want, got) != 0)
            fail_msg("scanner and cJSON differ on:\n%.*s\nscanner: %s\ncJSON:   %s", (int)len, text,
                     got, want);
        free(got);
        assert_false(tree->flags & DIGEST_CORRUPT);
    } else {
        t->deferred++;
        assert_null(scan);
    }
    both = digest_from_text("x", text, len, NULL);
    got = describe(both);
    assert_string_equal(got, want);
    free(got);
    free(want);
    digest_free(both);
    digest_free(scan);
    digest_free(tree);
}

/* Deterministic damage: truncations, byte flips, inserted and deleted bytes. */
static void
mutate_all(const char *text, size_t len, unsigned seed, struct tally *t)
{
    static const char inserts[] = "{}[]\",:\\0-.eE \x01\x80\xc3\xff";
    char *m = malloc(len + 2);
    unsigned h = seed * 2654435761u + 1;

    assert_non_null(m);
    for (int k = 0; k < 60; k++) {
        size_t at, n = len;
        h = h * 1103515245u + 12345u;
        at = (h >> 8) % (len ? len : 1);
        memcpy(m, text, len);
        switch (k % 4) {
        case 0: /* cut */
            n = at;
            break;
        case 1: /* flip one byte */
            m[at] = inserts[(h >> 20) % (sizeof(inserts) - 1)];
            break;
        case 2: /* insert one byte */
            memmove(m + at + 1, m + at, len - at);
            m[at] = inserts[(h >> 20) % (sizeof(inserts) - 1)];
            n = len + 1;
            break;
        default: /* delete one byte */
            memmove(m + at, m + at + 1, len - at - 1);
            n = len - 1;
            break;
        }
        same_digest(m, n, t);
    }
    free(m);
}

static void
test_reference_fixtures(void **state)
{
    static const char *const subs[] = { "reference-records", "reference-truncated" };
    struct tally t = { 0 };
    size_t files = 0;
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        char dir[900];
        DIR *d;
        struct dirent *de;
        snprintf(dir, sizeof(dir), "%s/%s", tu_data_dir(), subs[i]);
        d = opendir(dir);
        if (d == NULL)
            continue;
        while ((de = readdir(d)) != NULL) {
            char path[1200];
            size_t len;
            char *text;
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            text = tu_read_file(path, &len);
            if (text == NULL)
                continue;
            files++;
            same_digest(text, len, &t);
            mutate_all(text, len, (unsigned)files, &t);
            free(text);
        }
        closedir(d);
    }
    if (files == 0)
        skip(); /* no reference records under tu_data_dir() */
    /* Every intact reference record is answered by the scanner itself. */
    assert_true(t.answered >= files - 2);
    printf("# reference: %zu files, %zu inputs, scanner answered %zu, deferred %zu\n", files,
           t.inputs, t.answered, t.deferred);
}

static void
test_generated_records(void **state)
{
    struct tally t = { 0 };
    (void)state;

    for (unsigned seed = 0; seed < 400; seed++) {
        struct tu_rec r;
        size_t len;
        char *text;
        tu_rec_make(&r, seed, 1700000000000000LL);
        text = tu_rec_text(&r, &len);
        same_digest(text, len, &t);
        if (seed % 20 == 0)
            mutate_all(text, len, seed, &t);
        free(text);
    }
    assert_true(t.answered >= 400);
}

/* Hand-made records on the edges the scanner must get right itself or
 * leave to the cJSON path. */
static const char *const EDGES[] = {
    /* escapes in kept strings, a surrogate pair, U+0000 */
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"2024-01-01T00:00:00Z\","
    "\"envelopeHash\":\"h\"},\"envelope\":{\"intent\":{\"name\":\"d\\u00e9mo\\n\\ud83d\\ude00\"}},"
    "\"events\":[{\"seq\":1,\"type\":\"AGENT_ATTEMPT_START\",\"payload\":{\"agent\":"
    "\"e\\u0000\\\"\"},"
    "\"offsetUs\":1e1},{\"seq\":2,\"type\":\"AGENT_ATTEMPT_END\",\"payload\":{\"agent\":"
    "\"e\\u0000\\\"\",\"status\":\"error\",\"errorCode\":\"X\\/Y\"},\"offsetUs\":25.75}]}",
    /* "[REDACTED]" spelled with escapes, deep in a payload */
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{\"payload\":{\"a\":[{\"b\":\"\\u005bREDACTED\\u005d\"}]}}}",
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\","
    "\"redaction\":{\"applied\":true},\"replayable\":false},\"envelope\":{}}",
    /* a repeated key: json.c keeps the last value */
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{\"intent\":{\"name\":\"one\",\"name\":\"two\"}}}",
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{\"p\":{\"k\":\"[REDACTED]\",\"k\":\"clear\"}}}",
    /* offsets: negative first, huge, fractional; attempt as a float */
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"2024-01-01T00:00:00Z\","
    "\"envelopeHash\":\"h\"},\"envelope\":{},\"events\":[{\"seq\":1,\"type\":\"X\",\"payload\":1,"
    "\"offsetUs\":-5},{\"seq\":2,\"type\":\"AGENT_ATTEMPT_START\",\"payload\":{\"agent\":\"a\","
    "\"attempt\":1.5},\"offsetUs\":1e400},{\"seq\":3,\"type\":\"AGENT_ATTEMPT_END\",\"payload\":"
    "{\"agent\":\"a\",\"status\":\"ok\"},\"offsetUs\":123456789012345678}],\"finalResponse\":"
    "{\"error\":\"boom\",\"metadata\":{\"timestamp\":\"2024-01-01T00:00:01Z\"}}}",
    /* error object without code; finalResponse null; timing from the timestamp */
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"2024-01-01T00:00:00Z\","
    "\"envelopeHash\":\"h\"},\"envelope\":{},\"finalResponse\":{\"error\":{\"message\":\"m\"},"
    "\"metadata\":{\"timestamp\":\"2024-01-01T00:00:02Z\",\"agent\":\"z\",\"nodeId\":\"n\"}},"
    "\"events\":[{\"seq\":1,\"type\":\"AGENT_ATTEMPT_END\",\"payload\":{\"agent\":\"z\"}}]}",
    /* invalid records the cJSON path words: both must call them corrupt */
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":1},\"envelope\":{}"
    "}",
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{},\"events\":[1]}",
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{},\"events\":[{\"seq\":1,\"type\":\"t\"}]}",
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{},\"events\":{}}",
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{},\"x\":[1,]}",
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{},\"x\":01}",
    "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\",\"envelopeHash\":\"h\"},"
    "\"envelope\":{},\"x\":\"\\ud800\"} x",
    "[]",
    "",
};

static void
test_edges(void **state)
{
    struct tally t = { 0 };
    struct digest *d = NULL;
    (void)state;

    for (size_t i = 0; i < sizeof(EDGES) / sizeof(EDGES[0]); i++)
        same_digest(EDGES[i], strlen(EDGES[i]), &t);
    /* The first three are the scanner's own; the repeated keys are not. */
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(digest_scan("x", EDGES[i], strlen(EDGES[i]), &d), 1);
        digest_free(d);
    }
    assert_int_equal(digest_scan("x", EDGES[3], strlen(EDGES[3]), &d), 0);
    assert_int_equal(digest_scan("x", EDGES[4], strlen(EDGES[4]), &d), 0);
}

/* Nesting: up to the redaction search's depth the scanner answers, past it
 * it defers; both give the same digest either way. */
static void
test_deep_nesting(void **state)
{
    struct tally t = { 0 };
    (void)state;

    for (int depth = 60; depth <= 70; depth += 2) {
        struct buf b = BUF_INIT;
        buf_puts(&b, "{\"header\":{\"executionId\":\"a\",\"createdUtcIso\":\"x\","
                     "\"envelopeHash\":\"h\"},\"envelope\":{\"payload\":");
        for (int i = 0; i < depth; i++)
            buf_puts(&b, "[");
        buf_puts(&b, "\"[REDACTED]\"");
        for (int i = 0; i < depth; i++)
            buf_puts(&b, "]");
        buf_puts(&b, "}}");
        same_digest(b.data, b.len, &t);
        buf_free(&b);
    }
    assert_true(t.answered > 0 && t.deferred > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_fixtures),
        cmocka_unit_test(test_generated_records),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_deep_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
