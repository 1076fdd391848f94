/* The store engines (core/store.h, watch/stores.h): file:DIR and
 * sqlite:PATH keep the record text byte for byte, put is idempotent by
 * execution id (same bytes: nothing done; other bytes: refused), queries
 * and counts give the same answers on both engines for the same records,
 * a sqlite batch is all or nothing, the database is in WAL mode, follow
 * sees new records, and bad URLs are refused naming the problem. With
 * encrypt the sqlite engine stores sealed texts whose rows come from the
 * plaintext, a second put of the same record is "already there", and
 * store_get_raw gives every engine's stored (sealed) bytes. */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/crypt.h"
#include "core/record.h"
#include "core/store.h"
#include "core/writer.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/stores.h"

#define BASE_US 1790000000000000ll

struct env {
    char *dir;
    char file_url[4400], sqlite_url[4400], db_path[4200];
};

static int
setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));

    e->dir = tu_mkdtemp();
    snprintf(e->file_url, sizeof(e->file_url), "file:%s/recs", e->dir);
    snprintf(e->db_path, sizeof(e->db_path), "%s/recs.sqlite", e->dir);
    snprintf(e->sqlite_url, sizeof(e->sqlite_url), "sqlite:%s", e->db_path);
    *state = e;
    return 0;
}

static int
teardown(void **state)
{
    struct env *e = *state;

    tu_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static struct store *
open_url(const char *url)
{
    struct store_opts o = { .create = true };
    struct intentus_err err = { 0 };
    struct store *s = store_open_url(stores_builtin, url, &o, &err);

    if (s == NULL)
        fail_msg("open %s: %s", url, err.msg);
    return s;
}

static void
put_gen(struct store *s, unsigned from, unsigned n)
{
    for (unsigned i = from; i < from + n; i++) {
        struct tu_rec r;
        struct intentus_err err = { 0 };
        size_t len;
        char *text;
        tu_rec_make(&r, i, BASE_US);
        text = tu_rec_text(&r, &len);
        if (store_put(s, r.id, text, len, &err) != 0)
            fail_msg("put %s: %s", r.id, err.msg);
        free(text);
    }
}

static void
basic_ops(const char *url)
{
    struct store *s = open_url(url);
    struct intentus_err err = { 0 };
    struct tu_rec r;
    size_t len, got_len = 0;
    char *text, *got;

    tu_rec_make(&r, 7, BASE_US);
    text = tu_rec_text(&r, &len);
    assert_int_equal(store_put(s, r.id, text, len, &err), 0);
    /* many at once: the one held, not the one missing */
    tu_rec_check_get_each(s, 7, 1, BASE_US);
    got = store_get(s, r.id, &got_len, &err);
    assert_non_null(got);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, text, len);
    free(got);
    /* the same bytes again: nothing done */
    assert_int_equal(store_put(s, r.id, text, len, &err), 1);
    /* other bytes under the same id: refused, the stored ones kept */
    text[len - 2] = text[len - 2] == ' ' ? '\n' : ' ';
    assert_int_equal(store_put(s, r.id, text, len, &err), -1);
    assert_int_equal(err.code, IERR_INVALID);
    assert_non_null(strstr(err.msg, "different content"));
    assert_int_equal(store_count(s, NULL, &err), 1);
    /* a generated record's hash is a placeholder: verify says so */
    assert_int_equal(store_verify(s, r.id, &err), -1);
    assert_int_equal(err.code, IERR_VERIFY);
    {
        /* a reference record verifies, stored byte for byte */
        const char *ref = "03355680-d215-463b-9a23-ed08bfba7708";
        char p[4096];
        size_t rlen;
        char *rtext;
        snprintf(p, sizeof(p), "%s/reference-records/%s.json", tu_data_dir(), ref);
        rtext = tu_read_file(p, &rlen);
        assert_non_null(rtext);
        assert_int_equal(store_put(s, ref, rtext, rlen, &err), 0);
        if (store_verify(s, ref, &err) != 0)
            fail_msg("verify: %s", err.msg);
        assert_int_equal(store_del(s, ref, &err), 0);
        free(rtext);
    }
    /* an id that is not a file name never reaches the engine */
    assert_int_equal(store_put(s, "../x", text, len, &err), -1);
    assert_int_equal(err.code, IERR_INVALID);
    assert_null(store_get(s, "00000000-0000-4000-8000-000000000000", &got_len, &err));
    assert_int_equal(err.code, IERR_NOT_FOUND);
    assert_int_equal(store_del(s, r.id, &err), 0);
    assert_int_equal(store_del(s, r.id, &err), -1);
    assert_int_equal(err.code, IERR_NOT_FOUND);
    assert_int_equal(store_count(s, NULL, &err), 0);
    free(text);
    store_close(s);
}

static void
test_basic_file(void **state)
{
    basic_ops(((struct env *)*state)->file_url);
}

static void
test_basic_sqlite(void **state)
{
    basic_ops(((struct env *)*state)->sqlite_url);
}

static int
describe_row(void *ctx, const struct store_row *row)
{
    struct buf *b = ctx;

    buf_printf(b, "%s %lld %s %s %s %d %s %lld %d %d %d %u %llu|%s\n", row->id,
               (long long)row->created_us, row->intent ? row->intent : "-",
               row->strategy ? row->strategy : "-", row->agent ? row->agent : "-", (int)row->status,
               row->error_code ? row->error_code : "-", (long long)row->duration_us, row->attempts,
               row->retries, row->events, row->flags, (unsigned long long)row->size,
               row->note ? row->note : "-");
    return 0;
}

static char *
run_query(struct store *s, const struct store_query *q, long *n)
{
    struct buf b = BUF_INIT;
    struct intentus_err err = { 0 };

    *n = store_query(s, q, describe_row, &b, &err);
    if (*n < 0)
        fail_msg("query %s: %s", store_url(s), err.msg);
    buf_printf(&b, "%s", "");
    return b.data;
}

/* The same records on both engines give the same rows for every query. */
static void
test_same_answers(void **state)
{
    struct env *e = *state;
    struct store *f = open_url(e->file_url), *q = open_url(e->sqlite_url);
    struct store_filter errors = { .status = "error" }, intent = { .intent = NULL };
    struct store_query qs[6] = { { 0 } };
    struct intentus_err err = { 0 };
    char *a, *b;
    long na, nb;

    put_gen(f, 0, 60);
    put_gen(q, 0, 60);
    {
        /* an intent the generator uses */
        struct tu_rec r;
        tu_rec_make(&r, 3, BASE_US);
        intent.intent = r.intent;
        qs[4].after_id = strdup(r.id);
        qs[4].after_created_us = r.created_us;
    }
    qs[1].filter = &errors;
    qs[2].filter = &intent;
    qs[3].newest_first = true;
    qs[3].limit = 5;
    qs[5].newest_first = true;
    qs[5].filter = &errors;
    qs[5].limit = 3;
    for (int i = 0; i < 6; i++) {
        a = run_query(f, &qs[i], &na);
        b = run_query(q, &qs[i], &nb);
        assert_int_equal(na, nb);
        assert_string_equal(a, b);
        assert_true(na > 0);
        free(a);
        free(b);
    }
    assert_int_equal(store_count(f, &errors, &err), store_count(q, &errors, &err));
    assert_int_equal(store_count(q, NULL, &err), 60);
    free((char *)qs[4].after_id);
    store_close(f);
    store_close(q);
}

/* A batch is one transaction: closed before commit, none of it is there. */
static void
test_sqlite_batch(void **state)
{
    struct env *e = *state;
    struct store *s = open_url(e->sqlite_url);
    struct intentus_err err = { 0 };

    assert_int_equal(store_begin(s, &err), 0);
    put_gen(s, 0, 3);
    store_close(s);
    s = open_url(e->sqlite_url);
    assert_int_equal(store_count(s, NULL, &err), 0);
    assert_int_equal(store_begin(s, &err), 0);
    put_gen(s, 0, 3);
    /* a refused put inside the batch leaves the rest of it */
    {
        struct tu_rec r;
        tu_rec_make(&r, 1, BASE_US);
        assert_int_equal(store_put(s, r.id, "{}", 2, &err), -1);
    }
    assert_int_equal(store_commit(s, &err), 0);
    store_close(s);
    s = open_url(e->sqlite_url);
    assert_int_equal(store_count(s, NULL, &err), 3);
    store_close(s);
}

static void
test_sqlite_wal_and_kind(void **state)
{
    struct env *e = *state;
    struct store *s = open_url(e->sqlite_url);
    struct intentus_err err = { 0 };
    struct store_opts o = { .create = true };
    char url[4400], idx[4300];
    sqlite3 *h;
    sqlite3_stmt *st;

    put_gen(s, 0, 2);
    store_close(s);
    assert_int_equal(sqlite3_open(e->db_path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(h);
    /* a record directory's index is not a store */
    s = open_url(e->file_url);
    put_gen(s, 0, 2);
    assert_int_equal(store_count(s, NULL, &err), 2);
    store_close(s);
    snprintf(idx, sizeof(idx), "%s/recs/.intentus/index.sqlite", e->dir);
    snprintf(url, sizeof(url), "sqlite:%s", idx);
    assert_null(store_open_url(stores_builtin, url, &o, &err));
    assert_int_equal(err.code, IERR_CONFIG);
    assert_non_null(strstr(err.msg, "record index"));
    /* and a file that is not SQLite is an error naming it, left alone */
    snprintf(idx, sizeof(idx), "%s/garbage.sqlite", e->dir);
    assert_int_equal(tu_write_file(idx, "not a database at all, no", 25, 0600), 0);
    snprintf(url, sizeof(url), "sqlite:%s", idx);
    assert_null(store_open_url(stores_builtin, url, &o, &err));
    assert_non_null(strstr(err.msg, idx));
    assert_int_equal(access(idx, F_OK), 0);
}

static int
count_row(void *ctx, const struct store_row *row)
{
    (void)row;
    ++*(int *)ctx;
    return 0;
}

static void
follow(const char *url)
{
    struct store *s = open_url(url), *w = open_url(url);
    struct intentus_err err = { 0 };
    int64_t cur = -1;
    int seen = 0;

    put_gen(w, 0, 2);
    assert_int_equal(store_follow(s, &cur, 0, count_row, &seen, &err), 0);
    assert_int_equal(seen, 0);
    put_gen(w, 2, 3);
    assert_int_equal(store_follow(s, &cur, 2000, count_row, &seen, &err), 3);
    assert_int_equal(seen, 3);
    assert_int_equal(store_follow(s, &cur, 50, count_row, &seen, &err), 0);
    store_close(s);
    store_close(w);
}

static void
test_follow_file(void **state)
{
    follow(((struct env *)*state)->file_url);
}

static void
test_follow_sqlite(void **state)
{
    follow(((struct env *)*state)->sqlite_url);
}

static void
test_urls(void **state)
{
    struct env *e = *state;
    struct intentus_err err = { 0 };
    const char *rest = NULL;
    struct store *s;
    char plain[4300];

    assert_null(store_engine_find(stores_builtin, "mongodb://x", &rest, &err));
    assert_int_equal(err.code, IERR_CONFIG);
    assert_non_null(strstr(err.msg, "\"mongodb\""));
    assert_non_null(strstr(err.msg, "sqlite:"));
    assert_null(store_open_url(stores_builtin, "sqlite:", NULL, &err));
    assert_int_equal(err.code, IERR_CONFIG);
    assert_ptr_equal(store_engine_find(stores_builtin, "/tmp/a:b", &rest, &err),
                     &store_engine_file);
    assert_string_equal(rest, "/tmp/a:b");
    snprintf(plain, sizeof(plain), "%s/plain", e->dir);
    s = open_url(plain);
    assert_string_equal(store_scheme(s), "file");
    store_close(s);
    /* read-only refuses writes */
    {
        struct store_opts ro = { .read_only = true };
        s = store_open_url(stores_builtin, plain, &ro, &err);
        assert_non_null(s);
        assert_int_equal(store_put(s, "abc", "{}", 2, &err), -1);
        assert_int_equal(err.code, IERR_USAGE);
        store_close(s);
    }
}

/* The writer through the sqlite engine (async, group commit) stores what
 * the file writer writes, byte for byte. */
static void
test_writer_engine(void **state)
{
    struct env *e = *state;
    struct store *s = open_url(e->sqlite_url);
    struct intentus_err err = { 0 };
    char dir[4300];
    struct writer *wf, *ws;
    struct writer_stats st;

    snprintf(dir, sizeof(dir), "%s/files", e->dir);
    wf = writer_open(dir, &(struct writer_opts){ .mode = WRITER_SYNC }, &err);
    ws = writer_open("unused", &(struct writer_opts){ .mode = WRITER_ASYNC, .engine = s }, &err);
    assert_non_null(wf);
    assert_non_null(ws);
    for (unsigned i = 0; i < 300; i++) {
        struct tu_rec r;
        size_t len;
        char *text;
        cJSON *rec;
        tu_rec_make(&r, i, BASE_US);
        text = tu_rec_text(&r, &len);
        rec = record_parse(text, len, &err);
        assert_non_null(rec);
        assert_int_equal(writer_submit(ws, cJSON_Duplicate(rec, 1), &err), 0);
        assert_int_equal(writer_submit(wf, rec, &err), 0);
        free(text);
    }
    writer_flush(ws);
    writer_stats(ws, &st);
    assert_int_equal(st.written, 300);
    assert_int_equal(st.errors, 0);
    assert_true(st.batches < 300);
    writer_close(ws);
    writer_close(wf);
    assert_int_equal(store_count(s, NULL, &err), 300);
    for (unsigned i = 0; i < 300; i += 37) {
        struct tu_rec r;
        char p[4500];
        size_t flen, slen;
        char *ftext, *stext;
        tu_rec_make(&r, i, BASE_US);
        snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
        ftext = tu_read_file(p, &flen);
        stext = store_get(s, r.id, &slen, &err);
        assert_non_null(ftext);
        assert_non_null(stext);
        assert_int_equal(flen, slen);
        assert_memory_equal(ftext, stext, flen);
        free(ftext);
        free(stext);
    }
    store_close(s);
}

static int
first_row(void *ctx, const struct store_row *row)
{
    struct store_row **out = ctx;

    *out = store_row_copy(row);
    return 0;
}

static void
test_sqlite_encrypt(void **state)
{
    struct env *e = *state;
    struct intentus_err err = { 0 };
    char ring[4300], id[CRYPT_ID_HEX], file[256], furl[4400];
    struct crypt_keyring *kr;
    struct store_row *row = NULL;
    enum crypt_status st = CRYPT_PLAIN;
    struct store *s, *f;
    struct tu_rec r;
    size_t len, got_len = 0;
    char *text, *got;

    snprintf(ring, sizeof(ring), "%s/ring", e->dir);
    assert_int_equal(crypt_keyring_add(ring, id, file, sizeof(file), &err), 0);
    kr = crypt_keyring_load(ring, &err);
    assert_non_null(kr);
    s = store_open_url(stores_builtin, e->sqlite_url,
                       &(struct store_opts){ .create = true, .encrypt = true, .keys = kr }, &err);
    if (s == NULL)
        fail_msg("open: %s", err.msg);
    tu_rec_make(&r, 3, BASE_US);
    text = tu_rec_text(&r, &len);
    assert_int_equal(store_put(s, r.id, text, len, &err), 0);
    /* the same record again: already there, though sealed anew */
    assert_int_equal(store_put(s, r.id, text, len, &err), 1);
    /* stored sealed (get and get_raw alike), opened by store_get_open */
    got = store_get(s, r.id, &got_len, &err);
    assert_non_null(got);
    assert_true(crypt_is_sealed(got, got_len));
    free(got);
    got = store_get_open(s, r.id, &got_len, &st, &err);
    assert_non_null(got);
    assert_int_equal(st, CRYPT_OK);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, text, len);
    free(got);
    /* verify opens it: the generated record parses and reaches the hash
     * check (its header hash is zeros, as in basic_ops) */
    assert_int_equal(store_verify(s, r.id, &err), -1);
    assert_non_null(strstr(err.msg, "envelopeHash mismatch"));
    /* its row is the plaintext's, flagged sealed */
    assert_true(store_query(s, NULL, first_row, &row, &err) == 1);
    assert_non_null(row);
    assert_string_equal(row->intent, r.intent);
    assert_true(row->flags & STORE_ROW_SEALED);
    assert_false(row->flags & STORE_ROW_CORRUPT);
    store_row_free(row);
    /* copied sealed into files: get_raw gives those bytes back, get opens */
    got = store_get_raw(s, r.id, &got_len, &err);
    assert_non_null(got);
    snprintf(furl, sizeof(furl), "file:%s/sealed", e->dir);
    f = store_open_url(stores_builtin, furl, &(struct store_opts){ .create = true, .keys = kr },
                       &err);
    assert_non_null(f);
    assert_int_equal(store_put(f, r.id, got, got_len, &err), 0);
    assert_int_equal(store_put(f, r.id, got, got_len, &err), 1);
    {
        size_t l2 = 0;
        char *raw = store_get_raw(f, r.id, &l2, &err), *plain;
        assert_non_null(raw);
        assert_int_equal(l2, got_len);
        assert_memory_equal(raw, got, l2);
        free(raw);
        plain = store_get(f, r.id, &l2, &err);
        assert_non_null(plain);
        assert_int_equal(l2, len);
        assert_memory_equal(plain, text, len);
        free(plain);
    }
    free(got);
    store_close(f);
    store_close(s);
    /* without a key: the text does not open, the error names the key */
    s = store_open_url(stores_builtin, e->sqlite_url, &(struct store_opts){ .read_only = true },
                       &err);
    assert_non_null(s);
    crypt_set_reader(NULL);
    assert_null(store_get_open(s, r.id, &got_len, &st, &err));
    assert_int_equal(st, CRYPT_NO_KEY);
    assert_non_null(strstr(err.msg, id));
    assert_int_not_equal(store_verify(s, r.id, &err), 0);
    store_close(s);
    /* encrypt without a key to seal with is a configuration error */
    memset(&err, 0, sizeof(err));
    assert_null(store_open_url(stores_builtin, e->sqlite_url,
                               &(struct store_opts){ .create = true, .encrypt = true }, &err));
    assert_int_equal(err.code, IERR_CONFIG);
    free(text);
    crypt_keyring_free(kr);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_wal_and_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follow_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follow_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_encrypt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
