/* The PostgreSQL store engine against a real server the harness starts
 * (tests/support/pg_testutil.h; one server for the whole binary): bytes kept
 * exactly and puts idempotent by execution id; every filter selecting what
 * the in-memory index selects over the same records, in the same order;
 * two writers storing overlapping executions at once, each once; the server
 * stopped in the middle of a load and started again (records spooled, then
 * replayed in order: none lost, none doubled); a follower woken by NOTIFY
 * (latency measured); and four writers' throughput (measured). Counted skip
 * where the PostgreSQL binaries are absent. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/store.h"
#include "tests/support/pg_testutil.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/digest.h"
#include "watch/index.h"
#include "watch/store_pg.h"

#define BASE_US 1790000000000000ll

static const struct store_engine *const engines[] = { &store_engine_postgres, NULL };

struct env {
    struct pgt_server *srv;
    int skipped;
    char why[1024];
    char *tmp;
    int ndb;
};

static int
setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    int rc = pgt_start(&e->srv, e->why, sizeof(e->why));

    if (rc == 1) {
        printf("# skipping the PostgreSQL tests: %s\n", e->why);
        e->skipped = 1;
    } else if (rc != 0) {
        printf("# PostgreSQL test server: %s\n", e->why);
        free(e);
        return -1;
    }
    e->tmp = tu_mkdtemp();
    *state = e;
    return 0;
}

static int
teardown(void **state)
{
    struct env *e = *state;

    pgt_free(e->srv);
    tu_rmtree(e->tmp);
    free(e->tmp);
    free(e);
    return 0;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fresh database and spool directory; the URL (caller frees). */
static char *
fresh_url(struct env *e, char *spool, size_t spool_len)
{
    char name[64], why[512], *db, *url;

    if (e->skipped)
        skip();
    /* A test that failed during an outage left the server stopped. */
    if (pgt_restart(e->srv) != 0)
        fail_msg("restarting the PostgreSQL test server failed");
    snprintf(name, sizeof(name), "t%d", ++e->ndb);
    db = pgt_create_db(e->srv, name, why, sizeof(why));
    if (db == NULL)
        fail_msg("create database %s: %s", name, why);
    snprintf(spool, spool_len, "%s/spool-%s", e->tmp, name);
    assert_true(asprintf(&url, "%s?spool=%s", db, spool) > 0);
    free(db);
    return url;
}

static struct store *
open_or_fail(const char *url)
{
    struct intentus_err err = { 0 };
    struct store_opts o = { .create = true };
    struct store *s = store_open_url(engines, url, &o, &err);

    if (s == NULL)
        fail_msg("open %s: %s", url, err.msg);
    return s;
}

static long
sql_long(struct env *e, const char *db, const char *sql)
{
    char out[64], why[512];

    if (pgt_sql(e->srv, db, sql, out, sizeof(out), why, sizeof(why)) != 0)
        fail_msg("%s", why);
    return strtol(out, NULL, 10);
}

static void
put_seed(struct store *s, unsigned seed, struct intentus_err *err)
{
    struct tu_rec r;
    size_t len;
    char *text;

    tu_rec_make(&r, seed, BASE_US);
    text = tu_rec_text(&r, &len);
    if (store_put(s, r.id, text, len, err) < 0)
        fail_msg("put seed %u (%s): %s", seed, r.id, err->msg);
    free(text);
}

static void
test_bytes_kept_and_puts_idempotent(void **state)
{
    struct env *e = *state;
    char spool[512];
    char *url = fresh_url(e, spool, sizeof(spool));
    struct store *s = open_or_fail(url);
    struct intentus_err err = { 0 };
    struct tu_rec r;
    size_t len, glen = 0;
    char *text, *got;

    tu_rec_make(&r, 7, BASE_US);
    text = tu_rec_text(&r, &len);
    assert_int_equal(store_put(s, r.id, text, len, &err), 0);
    assert_int_equal(store_put(s, r.id, text, len, &err), 1); /* the same bytes: a repeat */
    got = store_get(s, r.id, &glen, &err);
    assert_non_null(got);
    assert_int_equal(glen, len);
    assert_memory_equal(got, text, len);
    free(got);
    /* Different bytes under a taken id: refused, the first kept. */
    text[len - 2] = text[len - 2] == ' ' ? '\t' : ' ';
    assert_int_equal(store_put(s, r.id, text, len, &err), -1);
    assert_int_equal(err.code, IERR_INVALID);
    assert_non_null(strstr(err.msg, r.id));
    /* Any bytes at all (a sealed record is binary): NULs and high bytes. */
    {
        const char bin[] = { 'I', 'N', 'T', 0, (char)0xff, (char)0x80, 0, 'x' };
        assert_int_equal(store_put(s, "bin-1", bin, sizeof(bin), &err), 0);
        got = store_get(s, "bin-1", &glen, &err);
        assert_non_null(got);
        assert_int_equal(glen, sizeof(bin));
        assert_memory_equal(got, bin, sizeof(bin));
        free(got);
    }
    assert_int_equal(store_count(s, NULL, &err), 2);
    /* Many at once, one round trip (records migrate's read-back). */
    for (unsigned i = 100; i < 105; i++)
        put_seed(s, i, &err);
    tu_rec_check_get_each(s, 100, 5, BASE_US);
    tu_rec_check_get_each(s, 7, 1, BASE_US);
    for (unsigned i = 100; i < 105; i++) {
        struct tu_rec g;
        tu_rec_make(&g, i, BASE_US);
        assert_int_equal(store_del(s, g.id, &err), 0);
    }
    assert_int_equal(store_del(s, "bin-1", &err), 0);
    assert_null(store_get(s, "bin-1", &glen, &err));
    assert_int_equal(err.code, IERR_NOT_FOUND);
    assert_int_equal(store_del(s, "bin-1", &err), -1);
    assert_int_equal(err.code, IERR_NOT_FOUND);
    assert_int_equal(store_count(s, NULL, &err), 1);
    /* A server that is not there: the error names the URL. */
    {
        char bad[700];
        struct store_opts o = { 0 };
        snprintf(bad, sizeof(bad), "postgresql://postgres@127.0.0.1:1/none?spool=%s", spool);
        assert_null(store_open_url(engines, bad, &o, &err));
        assert_int_equal(err.code, IERR_IO);
        assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    }
    free(text);
    store_close(s);
    free(url);
}

/* ---- the same answers as the index ---- */

static const struct store_filter filters[] = {
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
    { .error_code = "OPEN" },
    { .failed_agent = "broken-d" },
    { .text = "0000" },
    { .text = "SEARCH" },
    { .text = "%" },
    { .text = "_" },
    { .text = "" },
    { .since_us = BASE_US + 300000 },
    { .until_us = BASE_US + 200000 },
    { .since_us = BASE_US + 100000, .until_us = BASE_US + 500000, .agent = "echo-a" },
};
#define N_FILTERS (sizeof(filters) / sizeof(filters[0]))

static int
ix_line(void *ctx, const struct index_view *v)
{
    buf_printf(ctx, "%s %lld\n", v->id, (long long)v->created_us);
    return 0;
}

static int
row_line(void *ctx, const struct store_row *r)
{
    buf_printf(ctx, "%s %lld\n", r->id, (long long)r->created_us);
    return 0;
}

static int
stop_at_three(void *ctx, const struct store_row *r)
{
    (void)r;
    return ++*(int *)ctx == 3 ? 7 : 0;
}

static void
test_queries_agree_with_the_index(void **state)
{
    struct env *e = *state;
    char spool[512];
    char *url = fresh_url(e, spool, sizeof(spool));
    struct store *s = open_or_fail(url);
    struct index *ix = index_new();
    struct intentus_err err = { 0 };
    const unsigned n = 300;

    assert_int_equal(store_begin(s, &err), 0);
    for (unsigned i = 0; i < n; i++) {
        struct tu_rec r;
        size_t len;
        char *text;
        tu_rec_make(&r, i, BASE_US);
        text = tu_rec_text(&r, &len);
        assert_int_equal(store_put(s, r.id, text, len, &err), 0);
        struct digest *d = digest_from_text(r.id, text, len, NULL);
        assert_int_equal(index_upsert(ix, d, &err), 0);
        digest_free(d);
        free(text);
    }
    assert_int_equal(store_commit(s, &err), 0);
    for (size_t fi = 0; fi < N_FILTERS; fi++) {
        const struct index_filter *f = (const struct index_filter *)&filters[fi];
        for (int dir = 0; dir < 2; dir++) {
            for (size_t limit = 0; limit <= 7; limit += 7) {
                struct buf want = BUF_INIT, got = BUF_INIT;
                struct store_query q = { .filter = &filters[fi],
                                         .newest_first = dir,
                                         .limit = limit };
                index_query(ix, f, dir, limit, ix_line, &want);
                long v = store_query(s, &q, row_line, &got, &err);
                if (v < 0)
                    fail_msg("filter %zu: %s", fi, err.msg);
                if (strcmp(buf_str(&want), buf_str(&got)) != 0)
                    fail_msg("filter %zu newest_first=%d limit=%zu:\nindex:\n%s\npostgres:\n%s", fi,
                             dir, limit, buf_str(&want), buf_str(&got));
                if (limit == 0) {
                    size_t lines = 0;
                    for (const char *p = buf_str(&want); *p; p++)
                        lines += *p == '\n';
                    assert_int_equal(store_count(s, &filters[fi], &err), (long)lines);
                }
                buf_free(&want);
                buf_free(&got);
            }
        }
    }
    /* A callback that stops the walk: its value comes back, the rest of the
     * result is dropped, and the connection serves the next query. */
    {
        int seen = 0;
        assert_int_equal(
            store_query(s, &(struct store_query){ .limit = 0 }, stop_at_three, &seen, &err), 7);
        assert_int_equal(seen, 3);
        assert_int_equal(store_count(s, NULL, &err), (long)n);
    }
    /* Keyset paging walks the same order, page by page. */
    {
        struct buf want = BUF_INIT, got = BUF_INIT;
        struct store_query q = { .limit = 0 };
        char last_id[64] = "";
        int64_t last_us = 0;
        store_query(s, &q, row_line, &want, &err);
        for (int page = 0; page < 100; page++) {
            struct buf one = BUF_INIT;
            struct store_query pq = { .limit = 64,
                                      .after_id = last_id[0] ? last_id : NULL,
                                      .after_created_us = last_us };
            long v = store_query(s, &pq, row_line, &one, &err);
            assert_true(v >= 0);
            buf_puts(&got, buf_str(&one));
            if (v == 0) {
                buf_free(&one);
                break;
            }
            const char *lastline = one.data + one.len - 1;
            while (lastline > one.data && lastline[-1] != '\n')
                lastline--;
            long long us;
            assert_int_equal(sscanf(lastline, "%63s %lld", last_id, &us), 2);
            last_us = us;
            buf_free(&one);
        }
        assert_string_equal(buf_str(&want), buf_str(&got));
        buf_free(&want);
        buf_free(&got);
    }
    index_free(ix);
    store_close(s);
    free(url);
}

/* ---- concurrent writers ---- */

struct writer_arg {
    const char *url;
    unsigned from, n, step; /* seeds from, from+step, ... */
    unsigned batch;
    long stored, repeats, errors;
    double secs;
    char err[400];
};

static void *
writer_main(void *arg)
{
    struct writer_arg *w = arg;
    struct intentus_err err = { 0 };
    struct store_opts o = { .create = true };
    struct store *s = store_open_url(engines, w->url, &o, &err);
    double t0 = now_s();

    if (s == NULL) {
        snprintf(w->err, sizeof(w->err), "open: %s", err.msg);
        w->errors++;
        return NULL;
    }
    for (unsigned i = 0; i < w->n; i++) {
        struct tu_rec r;
        size_t len;
        char *text;
        if (w->batch > 1 && i % w->batch == 0 && store_begin(s, &err) != 0)
            w->errors++;
        tu_rec_make(&r, w->from + i * w->step, BASE_US);
        text = tu_rec_text(&r, &len);
        int rc = store_put(s, r.id, text, len, &err);
        if (rc == 0)
            w->stored++;
        else if (rc == 1)
            w->repeats++;
        else {
            snprintf(w->err, sizeof(w->err), "put %s: %s", r.id, err.msg);
            w->errors++;
        }
        free(text);
        if (w->batch > 1 && (i % w->batch == w->batch - 1 || i == w->n - 1) &&
            store_commit(s, &err) != 0) {
            snprintf(w->err, sizeof(w->err), "commit: %s", err.msg);
            w->errors++;
        }
    }
    w->secs = now_s() - t0;
    store_close(s);
    return NULL;
}

static char *
db_of(const char *url)
{
    char *base = strdup(url), *q = strchr(base, '?'), *db;

    if (q)
        *q = '\0';
    db = strdup(strrchr(base, '/') + 1);
    free(base);
    return db;
}

static void
test_two_writers_store_each_execution_once(void **state)
{
    struct env *e = *state;
    char spool[512];
    char *url = fresh_url(e, spool, sizeof(spool)), *db = db_of(url);
    /* Both write seeds 0..599, one forwards in batches, one backwards
     * record by record: every id is raced. */
    struct writer_arg a = { .url = url, .from = 0, .n = 600, .step = 1, .batch = 20 };
    struct writer_arg b = { .url = url, .from = 599, .n = 600, .step = (unsigned)-1, .batch = 1 };
    pthread_t ta, tb;
    struct intentus_err err = { 0 };

    assert_int_equal(pthread_create(&ta, NULL, writer_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, writer_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    if (a.errors || b.errors)
        fail_msg("writer errors: %s / %s", a.err, b.err);
    assert_int_equal(a.stored + b.stored, 600);
    assert_int_equal(a.repeats + b.repeats, 600);
    assert_int_equal(sql_long(e, db, "SELECT count(*) FROM intentus_records"), 600);
    assert_int_equal(sql_long(e, db, "SELECT count(DISTINCT id) FROM intentus_feed"), 600);
    assert_int_equal(sql_long(e, db, "SELECT count(*) FROM intentus_feed"), 600);
    {
        struct store *s = open_or_fail(url);
        assert_int_equal(store_count(s, NULL, &err), 600);
        store_close(s);
    }
    free(db);
    free(url);
}

/* ---- the database goes away in the middle of a load ---- */

static void
test_outage_spools_then_replays_in_order(void **state)
{
    struct env *e = *state;
    char spool[512];
    char *url = fresh_url(e, spool, sizeof(spool)), *db = db_of(url);
    struct store *s = open_or_fail(url);
    struct intentus_err err = { 0 };
    unsigned seed = 0;

    /* 100 before, in batches of 10. */
    for (int b = 0; b < 10; b++) {
        assert_int_equal(store_begin(s, &err), 0);
        for (int i = 0; i < 10; i++)
            put_seed(s, seed++, &err);
        assert_int_equal(store_commit(s, &err), 0);
    }
    /* A batch half written when the server stops: all of it is spooled. */
    assert_int_equal(store_begin(s, &err), 0);
    for (int i = 0; i < 5; i++)
        put_seed(s, seed++, &err);
    assert_int_equal(pgt_stop(e->srv), 0);
    for (int i = 0; i < 5; i++)
        put_seed(s, seed++, &err);
    assert_int_equal(store_commit(s, &err), 0);
    assert_int_equal(store_pg_spooled(s), 10);
    /* The outage goes on: single puts and batches still succeed, spooled. */
    for (int i = 0; i < 40; i++)
        put_seed(s, seed++, &err);
    assert_int_equal(store_begin(s, &err), 0);
    for (int i = 0; i < 50; i++)
        put_seed(s, seed++, &err);
    assert_int_equal(store_commit(s, &err), 0);
    assert_int_equal(store_pg_spooled(s), 100);
    /* A reader meanwhile gets an error naming the cause, not stale data. */
    assert_int_equal(store_count(s, NULL, &err), -1);
    assert_int_equal(err.code, IERR_IO);
    assert_non_null(strstr(err.msg, "unreachable"));

    assert_int_equal(pgt_restart(e->srv), 0);
    /* Writing on: once the backoff allows a reconnect the spool goes first. */
    double t0 = now_s();
    while (store_pg_spooled(s) > 0 && now_s() - t0 < 15) {
        put_seed(s, seed++, &err);
        usleep(20000);
    }
    assert_int_equal(store_pg_spooled(s), 0);
    long total = (long)seed;
    assert_int_equal(store_count(s, NULL, &err), total);
    assert_int_equal(sql_long(e, db, "SELECT count(*) FROM intentus_feed"), total);
    /* In order: the feed lists the seeds as they were put (tu_rec ids of
     * increasing seeds have increasing created times). */
    assert_int_equal(sql_long(e, db,
                              "SELECT count(*) FROM (SELECT seq, r.created_us, lag(r.created_us)"
                              " OVER (ORDER BY seq) AS prev FROM intentus_feed f JOIN"
                              " intentus_records r USING (id)) x WHERE prev > created_us"),
                     0);
    /* Byte for byte, a spooled record included. */
    {
        struct tu_rec r;
        size_t len, glen = 0;
        tu_rec_make(&r, 105, BASE_US);
        char *text = tu_rec_text(&r, &len);
        char *got = store_get(s, r.id, &glen, &err);
        assert_non_null(got);
        assert_int_equal(glen, len);
        assert_memory_equal(got, text, len);
        free(got);
        free(text);
    }
    store_close(s);
    /* A second writer replays a spool left by a process that died: nothing
     * doubles (the spool files are put again, idempotently). */
    assert_int_equal(tu_count_files(spool, ".json"), 0);
    free(db);
    free(url);
}

/* ---- follow: woken by NOTIFY ---- */

#define FOLLOW_N 200

struct follower {
    const char *url;
    atomic_int ready; /* set by the follower, read by the test */
    long got;
    char ids[FOLLOW_N][40];
    double at[FOLLOW_N];
    char err[400];
};

static int
follow_row(void *ctx, const struct store_row *row)
{
    struct follower *f = ctx;

    if (f->got < FOLLOW_N) {
        snprintf(f->ids[f->got], sizeof(f->ids[0]), "%s", row->id);
        f->at[f->got] = now_s();
    }
    f->got++;
    return 0;
}

static void *
follower_main(void *arg)
{
    struct follower *f = arg;
    struct intentus_err err = { 0 };
    struct store_opts o = { .read_only = true };
    struct store *s = store_open_url(engines, f->url, &o, &err);
    int64_t cursor = -1;
    double t0 = now_s();

    if (s == NULL) {
        snprintf(f->err, sizeof(f->err), "open: %s", err.msg);
        atomic_store(&f->ready, 1);
        return NULL;
    }
    if (store_follow(s, &cursor, 0, follow_row, f, &err) < 0)
        snprintf(f->err, sizeof(f->err), "follow: %s", err.msg);
    atomic_store(&f->ready, 1);
    while (f->got < FOLLOW_N && now_s() - t0 < 30)
        if (store_follow(s, &cursor, 1000, follow_row, f, &err) < 0) {
            snprintf(f->err, sizeof(f->err), "follow: %s", err.msg);
            break;
        }
    store_close(s);
    return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void
test_follow_wakes_on_notify(void **state)
{
    struct env *e = *state;
    char spool[512];
    char *url = fresh_url(e, spool, sizeof(spool));
    struct store *s = open_or_fail(url);
    struct follower *f = calloc(1, sizeof(*f));
    pthread_t t;
    struct intentus_err err = { 0 };
    double put_at[FOLLOW_N], lat[FOLLOW_N];
    char ids[FOLLOW_N][40];
    double la[3];

    put_seed(s, 100000, &err); /* before the follower: not followed */
    f->url = url;
    assert_int_equal(pthread_create(&t, NULL, follower_main, f), 0);
    for (int i = 0; i < 500 && !atomic_load(&f->ready); i++)
        usleep(10000);
    for (int i = 0; i < FOLLOW_N; i++) {
        struct tu_rec r;
        size_t len;
        tu_rec_make(&r, (unsigned)i, BASE_US);
        char *text = tu_rec_text(&r, &len);
        snprintf(ids[i], sizeof(ids[0]), "%s", r.id);
        put_at[i] = now_s();
        assert_true(store_put(s, r.id, text, len, &err) >= 0);
        free(text);
        usleep(2000);
    }
    pthread_join(t, NULL);
    if (f->err[0])
        fail_msg("%s", f->err);
    assert_int_equal(f->got, FOLLOW_N);
    for (int i = 0; i < FOLLOW_N; i++) {
        assert_string_equal(f->ids[i], ids[i]); /* in commit order, none missed */
        lat[i] = (f->at[i] - put_at[i]) * 1000.0;
    }
    qsort(lat, FOLLOW_N, sizeof(lat[0]), cmp_double);
    getloadavg(la, 3);
    printf("# follow latency (put start to follower callback): p50 %.1f ms, p99 %.1f ms, max "
           "%.1f ms (load %.2f)\n",
           lat[FOLLOW_N / 2], lat[FOLLOW_N * 99 / 100], lat[FOLLOW_N - 1], la[0]);
    assert_true(lat[FOLLOW_N * 99 / 100] <= 200.0);
    free(f);
    store_close(s);
    free(url);
}

/* ---- throughput: four writers ---- */

/* The floor under the same load: bare libpq, one prepared INSERT of the
 * same bytes per record into a table with only a primary key, the same
 * batches. Our engine's figure is read as a ratio to this one. */
struct bare_arg {
    const char *url;
    unsigned from, n;
    int failed;
};

static void *
bare_main(void *arg)
{
    struct bare_arg *b = arg;
    char base[1024];
    snprintf(base, sizeof(base), "%s", b->url);
    char *q = strchr(base, '?');
    if (q)
        *q = '\0';
    PGconn *c = PQconnectdb(base);
    PGresult *r;

    if (PQstatus(c) != CONNECTION_OK) {
        b->failed = 1;
        PQfinish(c);
        return NULL;
    }
    r = PQprepare(c, "ins", "INSERT INTO bare(id, body) VALUES($1, $2) ON CONFLICT DO NOTHING", 0,
                  NULL);
    PQclear(r);
    for (unsigned i = 0; i < b->n; i++) {
        struct tu_rec rec;
        size_t len;
        char *text;
        if (i % 100 == 0)
            PQclear(PQexec(c, "BEGIN"));
        tu_rec_make(&rec, b->from + i, BASE_US);
        text = tu_rec_text(&rec, &len);
        const char *v[2] = { rec.id, text };
        int l[2] = { 0, (int)len }, f[2] = { 0, 1 };
        r = PQexecPrepared(c, "ins", 2, v, l, f, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            b->failed = 1;
        PQclear(r);
        free(text);
        if (i % 100 == 99 || i == b->n - 1)
            PQclear(PQexec(c, "COMMIT"));
    }
    PQfinish(c);
    return NULL;
}

static void
test_four_writers_throughput(void **state)
{
    struct env *e = *state;
    char spool[512];
    char *url = fresh_url(e, spool, sizeof(spool)), *db = db_of(url);
    struct writer_arg w[4];
    struct bare_arg ba[4];
    pthread_t t[4];
    const unsigned per =
        getenv("INTENTUS_PG_BENCH_N") ? (unsigned)atoi(getenv("INTENTUS_PG_BENCH_N")) : 5000;
    double t0, secs, bare_secs, la[3];
    char why[512];

    if (pgt_sql(e->srv, db, "CREATE TABLE bare(id TEXT PRIMARY KEY, body BYTEA NOT NULL)", NULL, 0,
                why, sizeof(why)) != 0)
        fail_msg("%s", why);
    t0 = now_s();
    for (int i = 0; i < 4; i++) {
        ba[i] = (struct bare_arg){ .url = url, .from = (unsigned)i * per, .n = per };
        assert_int_equal(pthread_create(&t[i], NULL, bare_main, &ba[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    bare_secs = now_s() - t0;
    for (int i = 0; i < 4; i++)
        assert_int_equal(ba[i].failed, 0);
    t0 = now_s();
    for (int i = 0; i < 4; i++) {
        w[i] = (struct writer_arg){
            .url = url, .from = (unsigned)i * per, .n = per, .step = 1, .batch = 100
        };
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    secs = now_s() - t0;
    for (int i = 0; i < 4; i++)
        if (w[i].errors)
            fail_msg("writer %d: %s", i, w[i].err);
    assert_int_equal(sql_long(e, db, "SELECT count(*) FROM intentus_records"), (long)(4 * per));
    assert_int_equal(sql_long(e, db, "SELECT count(*) FROM intentus_feed"), (long)(4 * per));
    getloadavg(la, 3);
    printf("# 4 writers, batches of 100: %u records in %.2f s = %.0f records/s; bare libpq inserts "
           "of the same bytes %.0f records/s; ratio %.2f (load %.2f)\n",
           4 * per, secs, 4 * per / secs, 4 * per / bare_secs, bare_secs / secs, la[0]);
    free(db);
    free(url);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_kept_and_puts_idempotent),
        cmocka_unit_test(test_queries_agree_with_the_index),
        cmocka_unit_test(test_two_writers_store_each_execution_once),
        cmocka_unit_test(test_outage_spools_then_replays_in_order),
        cmocka_unit_test(test_follow_wakes_on_notify),
        cmocka_unit_test(test_four_writers_throughput),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
