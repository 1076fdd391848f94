/* Queries on the persistent index (watch/index_query.h, watch/index_stats.h)
 * against a brute-force read of the files: every filter as SQL selects
 * exactly what index_query() selects on an in-memory index of the files, in
 * the same order, with limits, both ways in time; stats as GROUP BY give
 * agg_snapshot's figures field for field (per agent over every attempt, by
 * code, percentiles, the windows); prefix lookup and the rows retention
 * plans from agree with the directory; and a damaged index gives
 * the same answers after its rebuild. Generated records with corrupt files,
 * a symlink and a FIFO mixed in. */
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/rec_store.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/agg.h"
#include "watch/digest.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/index_query.h"
#include "watch/index_stats.h"
#include "watch/scan.h"

#define BASE_US 1790000000000000ll
#define N_RECORDS 400

static void
put(const char *dir, const char *name, const char *text)
{
    char p[4096];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(tu_write_file(p, text, strlen(text), 0600), 0);
}

static char *
make_dir(unsigned n)
{
    char *dir = tu_mkdtemp(), p[4096];

    for (unsigned i = 0; i < n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, i * 3 + 1, BASE_US);
        /* Ties in time: the id decides the order. */
        if (i % 10 == 5)
            r.created_us -= 1000;
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    put(dir, "00000000-0000-4000-8000-00000000bad1.json", "{\"header\": ");
    put(dir, "00000000-0000-4000-8000-00000000bad2.json", "[]");
    put(dir, "00000000-0000-4000-8000-00000000bad3.json", "{\"header\": {}}");
    snprintf(p, sizeof(p), "%s/00000000-0000-4000-8000-0000000fifo1.json", dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(p, sizeof(p), "%s/00000000-0000-4000-8000-0000000link1.json", dir);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    return dir;
}

/* ---- the brute force: every file digested, as the commands did ---- */

struct files {
    struct digest **d;
    size_t n, cap;
};

static int
keep_digest(void *ctx, const char *id, struct digest *d)
{
    struct files *f = ctx;

    (void)id;
    if (d == NULL)
        return 0;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 256;
        f->d = realloc(f->d, f->cap * sizeof(*f->d));
        assert_non_null(f->d);
    }
    f->d[f->n++] = d;
    return 0;
}

static void
read_files(const char *dir, struct files *f)
{
    struct intentus_err err = { 0 };
    struct rec_store *rs = rec_store_open(dir, NULL, &err);
    struct scan *sc = scan_new(NULL);

    memset(f, 0, sizeof(*f));
    assert_non_null(rs);
    assert_non_null(sc);
    assert_int_equal(scan_full(sc, rs, 1, keep_digest, f, &err), 0);
    scan_free(sc);
    rec_store_close(rs);
}

static void
files_free(struct files *f)
{
    for (size_t i = 0; i < f->n; i++)
        digest_free(f->d[i]);
    free(f->d);
}

/* An in-memory index of the files f selects. */
static struct index *
brute_index(const struct files *files, const struct index_filter *f)
{
    struct index *ix = index_new(), *probe = index_new();

    assert_non_null(ix);
    assert_non_null(probe);
    for (size_t i = 0; i < files->n; i++) {
        assert_int_equal(index_upsert(probe, files->d[i], NULL), 0);
        if (index_query(probe, f, false, 0, NULL, NULL) == 1)
            assert_int_equal(index_upsert(ix, files->d[i], NULL), 0);
        index_remove(probe, files->d[i]->id);
    }
    index_free(probe);
    return ix;
}

static const struct index_filter filters[] = {
    { .intent = NULL },
    { .status = "ok" },
    { .status = "error" },
    { .status = "incomplete" },
    { .status = "corrupt" },
    { .intent = "search.web" },
    { .intent = "no.such.intent" },
    { .agent = "flaky-b" },
    { .agent = "slow-c", .status = "ok" },
    { .error_code = "AGENT_TIMEOUT" },
    { .error_code = "AGENT_ERROR", .intent = "search.web" },
    { .error_code = "OPEN" }, /* a circuit state, not a failed attempt's code */
    { .failed_agent = "broken-d" },
    { .text = "0000" },
    { .text = "SEARCH" }, /* any case */
    { .text = "%" },      /* not a wildcard */
    { .text = "_" },      /* nor this */
    { .text = "" },       /* no filter */
    { .since_us = BASE_US + 300000 },
    { .until_us = BASE_US + 200000 },
    { .since_us = BASE_US + 100000, .until_us = BASE_US + 500000, .agent = "echo-a" },
};
#define N_FILTERS (sizeof(filters) / sizeof(filters[0]))

static int
id_line(void *ctx, const struct index_view *v)
{
    buf_printf(ctx, "%s %lld\n", v->id, (long long)v->created_us);
    return 0;
}

static int
id_line_digest(void *ctx, const struct digest *d)
{
    buf_printf(ctx, "%s %lld\n", d->id, (long long)d->created_us);
    return 0;
}

static void
test_select_agrees_with_the_files(void **state)
{
    (void)state;
    char *dir = make_dir(N_RECORDS);
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);
    struct files files;
    struct index *all;
    size_t limits[] = { 0, 1, 7, 1000 };

    assert_non_null(db);
    read_files(dir, &files);
    all = brute_index(&files, NULL);
    assert_int_equal(index_size(all), N_RECORDS + 5);
    for (size_t i = 0; i < N_FILTERS; i++) {
        const struct index_filter *f = &filters[i];
        assert_int_equal(index_query_count(db, f, &err),
                         (long)index_query(all, f, false, 0, NULL, NULL));
        for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
            for (int newest = 0; newest < 2; newest++) {
                struct buf want = BUF_INIT, got = BUF_INIT;
                size_t n = index_query(all, f, newest, limits[l], id_line, &want);
                long m = index_query_select(db, f, newest, limits[l], id_line_digest, &got, &err);
                if (m != (long)n ||
                    strcmp(want.data ? want.data : "", got.data ? got.data : "") != 0)
                    print_message("# filter %zu limit %zu newest %d: want %zu got %ld\n", i,
                                  limits[l], newest, n, m);
                assert_int_equal(m, (long)n);
                assert_string_equal(want.data ? want.data : "", got.data ? got.data : "");
                buf_free(&want);
                buf_free(&got);
            }
        }
    }
    /* Something is selected by most filters: the test would see a wrong WHERE. */
    assert_true(index_query(all, &filters[9], false, 0, NULL, NULL) > 0);
    assert_true(index_query(all, &filters[12], false, 0, NULL, NULL) > 0);
    assert_int_equal(index_query(all, &filters[15], false, 0, NULL, NULL), 0);
    index_free(all);
    files_free(&files);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* Every figure of a snapshot, as text. */
static char *
snap_text(const struct agg_snapshot *s)
{
    struct buf b = BUF_INIT;
    const struct agg_row *rows[2] = { s->agents, s->intents };
    size_t n[2] = { s->n_agents, s->n_intents };

    buf_printf(&b, "records %llu corrupt %llu untimed %llu\n", (unsigned long long)s->records,
               (unsigned long long)s->corrupt, (unsigned long long)s->no_timing);
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < n[t]; i++) {
            const struct agg_row *r = &rows[t][i];
            buf_printf(&b,
                       "%s %s calls %llu ok %llu failed %llu inc %llu skip %llu retries %llu "
                       "timed %llu p %lld %lld %lld recent %llu/%llu window %llu/%llu last %s@%lld "
                       "circuit %s@%lld codes",
                       t ? "intent" : "agent", r->name, (unsigned long long)r->calls,
                       (unsigned long long)r->ok, (unsigned long long)r->failed,
                       (unsigned long long)r->incomplete, (unsigned long long)r->skipped,
                       (unsigned long long)r->retries, (unsigned long long)r->timed,
                       (long long)r->p50_us, (long long)r->p95_us, (long long)r->p99_us,
                       (unsigned long long)r->recent_failed, (unsigned long long)r->recent_calls,
                       (unsigned long long)r->window_failed, (unsigned long long)r->window_calls,
                       r->last_error ? r->last_error : "-", (long long)r->last_error_us,
                       r->circuit ? r->circuit : "-", (long long)r->circuit_us);
            for (size_t k = 0; k < r->n_codes; k++)
                buf_printf(&b, " %s=%llu", r->codes[k].code ? r->codes[k].code : "(null)",
                           (unsigned long long)r->codes[k].count);
            buf_puts(&b, "\n");
        }
    }
    buf_puts(&b, "throughput");
    for (size_t i = 0; i < s->n_throughput; i++)
        buf_printf(&b, " %u", s->throughput[i]);
    buf_puts(&b, "\n");
    return b.data;
}

static void
test_stats_agree_with_the_files(void **state)
{
    (void)state;
    char *dir = make_dir(N_RECORDS);
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);
    struct files files;
    /* Short windows and buckets inside the data's time span, so the walk
     * back stops early and the windows cut through the records. */
    const struct agg_opts opts[] = {
        { .last_n = 20, .window_us = 900000000LL, .buckets = 30, .bucket_us = 10000000LL },
        { .last_n = 5,
          .window_us = 100000,
          .now_us = BASE_US + 900000,
          .buckets = 12,
          .bucket_us = 20000 },
        { .last_n = 3,
          .window_us = 50000,
          .now_us = BASE_US + 400000,
          .buckets = 7,
          .bucket_us = 30000 },
    };

    assert_non_null(db);
    read_files(dir, &files);
    for (size_t i = 0; i < N_FILTERS; i++) {
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            struct agg_opts o = opts[k];
            struct index *ix = brute_index(&files, &filters[i]);
            struct agg *ag = agg_attach(ix);
            struct agg_snapshot want;
            struct index_stats got;
            char *w, *g;
            if (o.now_us == 0)
                o.now_us = BASE_US + 1300000;
            assert_non_null(ag);
            assert_int_equal(agg_snapshot(ag, &o, &want, &err), 0);
            assert_int_equal(index_stats_query(db, i == 0 ? NULL : &filters[i], &o, &got, &err), 0);
            w = snap_text(&want);
            g = snap_text(&got.snap);
            if (strcmp(w, g) != 0)
                print_message("# filter %zu opts %zu:\n# files:\n%s# index:\n%s", i, k, w, g);
            assert_string_equal(w, g);
            free(w);
            free(g);
            agg_snapshot_free(&want);
            index_stats_free(&got);
            agg_free(ag);
            index_free(ix);
        }
    }
    files_free(&files);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

static void
test_ids_prefix_and_retention_rows(void **state)
{
    (void)state;
    char *dir = make_dir(60);
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);
    struct rec_store *rs = rec_store_open(dir, NULL, &err);
    struct rec_ids want = { 0 };
    struct files files;
    struct index *all;
    const char *prefixes[] = { "0", "00000000-0000-4000-8000-00000000bad", "f", "zz", "" };

    assert_non_null(db);
    assert_non_null(rs);
    assert_int_equal(rec_store_list(rs, &want, &err), 0);
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        char *ids[4] = { 0 };
        long n = index_query_prefix(db, prefixes[p], ids, 3, &err), brute = 0;
        size_t first = SIZE_MAX;
        for (size_t i = 0; i < want.n; i++) {
            if (strncmp(want.ids[i], prefixes[p], strlen(prefixes[p])) == 0) {
                if (first == SIZE_MAX)
                    first = i;
                brute++;
            }
        }
        assert_int_equal(n, brute > 4 ? 4 : brute);
        for (long i = 0; i < n && i < 3; i++) {
            assert_string_equal(ids[i], want.ids[first + (size_t)i]);
            free(ids[i]);
        }
    }
    read_files(dir, &files);
    all = brute_index(&files, NULL);
    for (size_t i = 0; i < N_FILTERS; i++) {
        struct index_query_file *rows = NULL;
        size_t n = 0;
        assert_int_equal(index_query_files(db, &filters[i], &rows, &n, &err), 0);
        assert_int_equal(n, index_size(all));
        for (size_t k = 0; k < n; k++) {
            struct index_view v;
            struct index_filter f = filters[i];
            struct index *one = index_new();
            assert_int_equal(index_find(all, rows[k].id, &v), 0);
            assert_int_equal(rows[k].created_us, v.created_us);
            assert_int_equal(rows[k].size, (int64_t)v.file_size);
            assert_int_equal(rows[k].is_corrupt, (v.flags & DIGEST_CORRUPT) != 0);
            /* selected exactly when index_query selects it */
            for (size_t d = 0; d < files.n; d++) {
                if (strcmp(files.d[d]->id, rows[k].id) == 0)
                    assert_int_equal(index_upsert(one, files.d[d], NULL), 0);
            }
            assert_int_equal(rows[k].is_selected, index_query(one, &f, false, 0, NULL, NULL) == 1);
            index_free(one);
        }
        index_query_files_free(rows, n);
    }
    index_free(all);
    files_free(&files);
    rec_store_ids_free(&want);
    rec_store_close(rs);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* The answers of one open index, as text. */
static char *
answers(const char *dir)
{
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);
    struct buf b = BUF_INIT;
    struct agg_opts o = { .now_us = BASE_US + 900000, .window_us = 100000 };

    assert_non_null(db);
    for (size_t i = 0; i < N_FILTERS; i++) {
        struct index_stats st;
        char *t;
        assert_true(index_query_select(db, &filters[i], true, 9, id_line_digest, &b, &err) >= 0);
        assert_int_equal(index_stats_query(db, &filters[i], &o, &st, &err), 0);
        t = snap_text(&st.snap);
        buf_puts(&b, t);
        free(t);
        index_stats_free(&st);
    }
    index_db_close(db);
    return b.data;
}

static void
test_damaged_index_same_answers(void **state)
{
    (void)state;
    char *dir = make_dir(120), p[4096];
    char *before = answers(dir), *after;
    int fd;

    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite", dir);
    /* deleted */
    assert_int_equal(unlink(p), 0);
    after = answers(dir);
    assert_string_equal(before, after);
    free(after);
    /* truncated */
    assert_int_equal(truncate(p, 1000), 0);
    after = answers(dir);
    assert_string_equal(before, after);
    free(after);
    /* garbage over its pages */
    fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    for (int i = 0; i < 64; i++)
        assert_int_equal(pwrite(fd, "garbage!", 8, 100 + i * 512), 8);
    close(fd);
    after = answers(dir);
    assert_string_equal(before, after);
    free(after);
    free(before);
    tu_rmtree(dir);
    free(dir);
}

/* Unfiltered stats of dir's index equal agg_snapshot over its files. */
static void
stats_match_files(const char *dir)
{
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);
    struct agg_opts o = { .now_us = BASE_US + 900000, .window_us = 100000 };
    struct files files;
    struct index *ix;
    struct agg *ag;
    struct agg_snapshot want;
    struct index_stats got;
    char *w, *g;

    if (db == NULL)
        fail_msg("index_db_open: %s", err.msg);
    read_files(dir, &files);
    ix = brute_index(&files, &filters[0]);
    ag = agg_attach(ix);
    assert_non_null(ag);
    assert_int_equal(agg_snapshot(ag, &o, &want, &err), 0);
    assert_int_equal(index_stats_query(db, NULL, &o, &got, &err), 0);
    w = snap_text(&want);
    g = snap_text(&got.snap);
    if (strcmp(w, g) != 0)
        print_message("# files:\n%s# index:\n%s", w, g);
    assert_string_equal(w, g);
    free(w);
    free(g);
    agg_snapshot_free(&want);
    index_stats_free(&got);
    agg_free(ag);
    index_free(ix);
    files_free(&files);
    index_db_close(db);
}

/* The counters unfiltered stats read (watch/index_counts.h) follow every
 * change a reconcile makes: files added, removed, rewritten with other
 * content, turned corrupt, and the index's put and remove. */
static void
test_stats_counts_follow_changes(void **state)
{
    (void)state;
    char *dir = make_dir(150), p[4096];
    struct intentus_err err = { 0 };
    struct index_db *db;

    stats_match_files(dir);
    for (unsigned i = 0; i < 60; i++) { /* added */
        struct tu_rec r;
        tu_rec_make(&r, 5000 + i * 7, BASE_US);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    for (unsigned i = 0; i < 40; i++) { /* removed */
        struct tu_rec r;
        tu_rec_make(&r, i * 3 * 3 + 1, BASE_US);
        snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
        (void)unlink(p);
    }
    for (unsigned i = 0; i < 20; i++) { /* rewritten: another record's content under its id */
        struct tu_rec r, other;
        char *text;
        size_t len;
        tu_rec_make(&r, (100 + i) * 3 + 1, BASE_US);
        tu_rec_make(&other, 9000 + i * 11, BASE_US);
        memcpy(other.id, r.id, sizeof(other.id));
        text = tu_rec_text(&other, &len);
        snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
        if (i % 5 == 0)
            len /= 2; /* torn: corrupt now */
        assert_int_equal(tu_write_file(p, text, len, 0600), 0);
        free(text);
    }
    stats_match_files(dir);
    /* Through put and remove, as the tailer keeps an open index current:
     * a row removed and put back, one removed for good (and its file). */
    db = index_db_open(dir, false, &err);
    assert_non_null(db);
    {
        struct files files;
        read_files(dir, &files);
        assert_true(files.n > 10);
        assert_int_equal(index_db_remove(db, files.d[3]->id, &err), 0);
        assert_int_equal(index_db_put(db, files.d[3]->id, files.d[3], 1, 1, &err), 0);
        assert_int_equal(index_db_put(db, files.d[3]->id, files.d[3], 1, 1, &err), 0);
        assert_int_equal(index_db_remove(db, files.d[4]->id, &err), 0);
        snprintf(p, sizeof(p), "%s/%s.json", dir, files.d[4]->id);
        assert_int_equal(unlink(p), 0);
        assert_int_equal(index_db_commit(db, &err), 0);
        files_free(&files);
    }
    index_db_close(db);
    stats_match_files(dir);
    tu_rmtree(dir);
    free(dir);
}

static int
count_ops(void *ctx)
{
    (*(long *)ctx)++;
    return 0;
}

/* Unfiltered stats read the counters, not every row: the SQLite work does
 * not grow with the records (it did: a pass over each table). */
static void
test_stats_do_not_scan(void **state)
{
    (void)state;
    char *dir = make_dir(3000);
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);
    /* now well after the records: the walk back stops at the first rows
     * that give each agent and intent its last calls and errors */
    struct agg_opts o = { .now_us = BASE_US + 86400000000LL, .last_n = 3 };
    struct index_stats st;
    long ops = 0;

    assert_non_null(db);
    sqlite3_progress_handler(index_db_sqlite(db), 100, count_ops, &ops);
    assert_int_equal(index_stats_query(db, NULL, &o, &st, &err), 0);
    sqlite3_progress_handler(index_db_sqlite(db), 0, NULL, NULL);
    print_message("# stats of %llu records: %ld00 SQLite instructions\n",
                  (unsigned long long)st.snap.records, ops);
    assert_int_equal(st.snap.records, 3005);
    /* A pass over 3,000 record rows and their attempt rows is over 100,000. */
    if (ops > 300)
        fail_msg("unfiltered stats ran %ld00 SQLite instructions over 3005 records", ops);
    index_stats_free(&st);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_agrees_with_the_files),
        cmocka_unit_test(test_stats_agree_with_the_files),
        cmocka_unit_test(test_ids_prefix_and_retention_rows),
        cmocka_unit_test(test_damaged_index_same_answers),
        cmocka_unit_test(test_stats_counts_follow_changes),
        cmocka_unit_test(test_stats_do_not_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
