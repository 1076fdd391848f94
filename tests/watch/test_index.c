/* Index: upsert/replace/remove, time order, filters, interning, and the
 * memory budget per indexed record. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/digest.h"
#include "watch/index.h"
#include "watch/tailer.h"

#define BASE_US 1790000000000000ll

static struct digest *
make_digest(unsigned seed)
{
    struct tu_rec r;
    size_t len;
    char *text;
    struct digest *d;

    tu_rec_make(&r, seed, BASE_US);
    text = tu_rec_text(&r, &len);
    d = digest_from_text(r.id, text, len, NULL);
    free(text);
    assert_non_null(d);
    assert_false(d->flags & DIGEST_CORRUPT);
    d->file_size = len;
    return d;
}

static int
collect(void *ctx, const struct index_view *v)
{
    char **out = ctx;
    size_t n = strlen(*out);

    snprintf(*out + n, 4096 - n, "%s%.8s", n ? "," : "", v->id);
    return 0;
}

static void
test_upsert_order_and_remove(void **state)
{
    (void)state;
    struct index *ix = index_new();
    char buf[4096] = "", *p = buf;
    struct index_view v;
    unsigned seeds[] = { 5, 1, 9, 3, 7 };

    for (size_t i = 0; i < 5; i++) {
        struct digest *d = make_digest(seeds[i]);
        assert_int_equal(index_upsert(ix, d, NULL), 0);
        digest_free(d);
    }
    assert_int_equal(index_size(ix), 5);
    index_query(ix, NULL, false, 0, collect, &p);
    assert_string_equal(buf, "00000001,00000003,00000005,00000007,00000009");
    buf[0] = '\0';
    index_query(ix, NULL, true, 2, collect, &p);
    assert_string_equal(buf, "00000009,00000007");
    /* Upsert of the same id replaces, never duplicates. */
    {
        struct digest *d = make_digest(3);
        d->created_us = BASE_US + 100000000; /* now the newest */
        assert_int_equal(index_upsert(ix, d, NULL), 0);
        assert_int_equal(index_size(ix), 5);
        index_get(ix, 4, &v);
        assert_string_equal(v.id, d->id);
        digest_free(d);
    }
    assert_int_equal(index_remove(ix, "00000001-0000-7000-8000-000000000000"), 0);
    index_get(ix, 0, &v);
    {
        char id[64]; /* v.id is borrowed: gone with the record */
        snprintf(id, sizeof(id), "%s", v.id);
        assert_int_equal(index_remove(ix, id), 1);
        assert_int_equal(index_size(ix), 4);
        assert_int_equal(index_find(ix, id, &v), -1);
    }
    index_clear(ix);
    assert_int_equal(index_size(ix), 0);
    index_free(ix);
}

struct counter {
    size_t n;
};

static int
count_visit(void *ctx, const struct index_view *v)
{
    (void)v;
    ((struct counter *)ctx)->n++;
    return 0;
}

static void
test_filters(void **state)
{
    (void)state;
    struct index *ix = index_new();
    struct tu_rec r;
    size_t expect_intent = 0, expect_agent = 0, expect_err = 0, expect_ok = 0, expect_since = 0;
    size_t expect_text = 0;
    struct counter c;

    for (unsigned s = 0; s < 500; s++) {
        struct digest *d = make_digest(s);
        tu_rec_make(&r, s, BASE_US);
        expect_intent += strcmp(r.intent, "search.web") == 0;
        for (int i = 0; i < r.n_attempts; i++) {
            if (strcmp(r.agents[i], "flaky-b") == 0) {
                expect_agent++;
                break;
            }
        }
        expect_err += r.error_code != NULL && strcmp(r.error_code, "AGENT_TIMEOUT") == 0;
        expect_ok += r.error_code == NULL;
        expect_since += s >= 300;
        expect_text += strstr(r.id, "0000012") != NULL;
        assert_int_equal(index_upsert(ix, d, NULL), 0);
        digest_free(d);
    }
    {
        struct digest *bad = digest_corrupt("zz-corrupt", BASE_US, "line 1, column 2: oops");
        index_upsert(ix, bad, NULL);
        digest_free(bad);
    }
    c.n = 0;
    index_query(ix, &(struct index_filter){ .intent = "search.web" }, false, 0, count_visit, &c);
    assert_int_equal(c.n, expect_intent);
    c.n = 0;
    index_query(ix, &(struct index_filter){ .agent = "flaky-b" }, false, 0, count_visit, &c);
    assert_int_equal(c.n, expect_agent);
    c.n = 0;
    index_query(ix, &(struct index_filter){ .error_code = "AGENT_TIMEOUT", .status = "error" },
                false, 0, count_visit, &c);
    assert_int_equal(c.n, expect_err);
    c.n = 0;
    index_query(ix, &(struct index_filter){ .status = "ok" }, false, 0, count_visit, &c);
    assert_int_equal(c.n, expect_ok);
    c.n = 0;
    index_query(ix, &(struct index_filter){ .status = "corrupt" }, false, 0, count_visit, &c);
    assert_int_equal(c.n, 1);
    c.n = 0;
    index_query(ix,
                &(struct index_filter){ .since_us = BASE_US + 300 * 1000,
                                        .until_us = BASE_US + 400 * 1000 },
                false, 0, count_visit, &c);
    assert_int_equal(c.n, 100);
    c.n = 0;
    index_query(ix, &(struct index_filter){ .since_us = BASE_US + 300 * 1000 }, false, 0,
                count_visit, &c);
    assert_int_equal(c.n, expect_since + 0);
    c.n = 0;
    index_query(ix, &(struct index_filter){ .text = "0000012" }, false, 0, count_visit, &c);
    assert_true(expect_text >= 16); /* 00000120..0000012f at least */
    assert_int_equal(c.n, expect_text);
    c.n = 0;
    index_query(ix, &(struct index_filter){ .text = "SEARCH" }, false, 0, count_visit, &c);
    assert_int_equal(c.n, expect_intent);
    c.n = 0;
    index_query(ix, &(struct index_filter){ .intent = "no.such" }, false, 0, count_visit, &c);
    assert_int_equal(c.n, 0);
    /* Strings are interned once: 4 intents, 5 agents, ... not 500 copies. */
    assert_true(index_str_count(ix) < 30);
    index_free(ix);
}

/* The memory budget: bytes per indexed record, measured with mallinfo2. */
static void
test_memory_per_record(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct digest **ds = calloc(N, sizeof(*ds));
    struct mallinfo2 before, after;
    struct index *ix;
    size_t steps = 0, per_record, strings;

    for (unsigned i = 0; i < N; i++) {
        ds[i] = make_digest(i);
        steps += ds[i]->n_steps;
    }
    before = mallinfo2();
    ix = index_new();
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(index_upsert(ix, ds[i], NULL), 0);
    after = mallinfo2();
    per_record = (after.uordblks - before.uordblks) / N;
    strings = index_str_bytes(ix);
    printf("# index: %zu bytes per record in total (%zu with the strings' share removed; "
           "%.2f steps and a %zu-byte id each; %zu interned strings, %zu bytes)\n",
           per_record, (after.uordblks - before.uordblks - strings) / N, (double)steps / N,
           strlen(ds[0]->id) + 1, index_str_count(ix), strings);
    /* The budget: under 200 bytes plus strings, asserted with margin for
     * allocator differences (ASan, valgrind change the numbers). */
    if (getenv("INTENTUS_NO_MALLINFO") == NULL && before.uordblks > 0)
        assert_true(per_record < 400);
    for (unsigned i = 0; i < N; i++)
        digest_free(ds[i]);
    free(ds);
    index_free(ix);
}

static void
test_reference_fixtures_index(void **state)
{
    (void)state;
    struct index *ix = index_new();
    struct intentus_err err = { 0 };
    char dir[600];
    struct index_view v;
    size_t corrupt = 0, timed = 0;

    snprintf(dir, sizeof(dir), "%s/reference-records", tu_data_dir());
    assert_int_equal(tailer_index_dir(dir, ix, &err), 0);
    assert_int_equal(index_size(ix), 39);
    for (size_t i = 0; i < index_size(ix); i++) {
        index_get(ix, i, &v);
        corrupt += (v.flags & DIGEST_CORRUPT) != 0;
        timed += !(v.flags & DIGEST_NO_TIMING);
        if (i > 0) {
            struct index_view prev;
            index_get(ix, i - 1, &prev);
            assert_true(prev.created_us <= v.created_us);
        }
    }
    assert_int_equal(corrupt, 0);
    assert_int_equal(timed, 0); /* the reference keeps no event timing */
    index_clear(ix);
    snprintf(dir, sizeof(dir), "%s/reference-truncated", tu_data_dir());
    assert_int_equal(tailer_index_dir(dir, ix, &err), 0);
    assert_int_equal(index_size(ix), 2);
    index_get(ix, 0, &v);
    assert_true(v.flags & DIGEST_CORRUPT);
    assert_non_null(v.note);
    assert_non_null(strstr(v.note, "line"));
    index_free(ix);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsert_order_and_remove),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_memory_per_record),
        cmocka_unit_test(test_reference_fixtures_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
