/* The index's schema (watch/index_db.h, version 5): bytes on disk per
 * record after a build from the files, a schema-4 index (the layout before)
 * rebuilt on open, and the rows of a bulk build (indexes made after the
 * rows) and of a later incremental reconcile both agreeing with the files,
 * with the UNIQUE id index in place. */
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

#include "core/store.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/index_db.h"
#include "watch/index_stats.h"
#include "watch/stores.h"

#define BASE_US 1790000000000000ll

static void
gen(const char *dir, unsigned from, unsigned n)
{
    for (unsigned i = from; i < from + n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, i, BASE_US);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
}

static void
no_diff(void *ctx, const char *id, const char *what)
{
    (void)ctx;
    fail_msg("index check: %s: %s", id, what);
}

/* Open (rebuild when asked), compare every row with the files, close. */
static struct index_db_info
open_check(const char *dir, bool rebuild)
{
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, rebuild, &err);
    struct index_db_info info;

    if (db == NULL)
        fail_msg("index_db_open %s: %s", dir, err.msg);
    assert_int_equal(index_db_check(db, no_diff, NULL, &err), 0);
    info = *index_db_info(db);
    index_db_close(db);
    return info;
}

static int
sql_int(const char *path, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int v = -1;

    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void
test_bytes_per_record(void **state)
{
    (void)state;
    enum { N = 10000 };
    char *dir = tu_mkdtemp(), path[4200];
    struct index_db_info info;
    struct stat st;

    gen(dir, 0, N);
    info = open_check(dir, false);
    assert_int_equal(info.records, N);
    /* Closed: the WAL is checkpointed into the file and removed. */
    assert_int_equal(stat(info.path, &st), 0);
    snprintf(path, sizeof(path), "%s-wal", info.path);
    assert_int_not_equal(access(path, F_OK), 0);
    print_message("index: %lld bytes, %lld per record\n", (long long)st.st_size,
                  (long long)st.st_size / N);
    if (st.st_size > 300LL * N)
        fail_msg("index of %d records is %lld bytes, %lld per record (target <= 300)", N,
                 (long long)st.st_size, (long long)st.st_size / N);
    tu_rmtree(dir);
    free(dir);
}

/* The schema of version 4, as an index written by the build before. */
static const char SCHEMA4[] =
    "CREATE TABLE records("
    " rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, created_us INTEGER NOT NULL,"
    " intent TEXT, strategy TEXT, agent TEXT, status INTEGER NOT NULL, error_code TEXT,"
    " node TEXT, duration_us INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    " retries INTEGER NOT NULL, events INTEGER NOT NULL, flags INTEGER NOT NULL,"
    " file_size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,"
    " corrupt TEXT, note TEXT);"
    "CREATE INDEX records_created ON records(created_us, id);"
    "CREATE INDEX records_intent ON records(intent, created_us);"
    "CREATE TABLE attempts("
    " rid INTEGER NOT NULL, seq INTEGER NOT NULL, agent TEXT, kind INTEGER NOT NULL,"
    " ok INTEGER NOT NULL, error_code TEXT, latency_us INTEGER NOT NULL,"
    " is_retry INTEGER NOT NULL, tokens INTEGER NOT NULL, PRIMARY KEY(rid, seq)) WITHOUT ROWID;"
    "CREATE TABLE dirstate("
    " k INTEGER PRIMARY KEY CHECK(k = 0), dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, trusted INTEGER NOT NULL, records INTEGER NOT NULL,"
    " steps INTEGER NOT NULL, corrupt INTEGER NOT NULL);"
    "PRAGMA application_id=1229870168; PRAGMA user_version=4;";

static void
test_schema4_index_is_rebuilt(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), folder[4096], path[4200];
    struct index_db_info info;
    sqlite3 *h;

    gen(dir, 0, 300);
    snprintf(folder, sizeof(folder), "%s/.intentus", dir);
    assert_int_equal(mkdir(folder, 0700), 0);
    snprintf(path, sizeof(path), "%s/index.sqlite", folder);
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, SCHEMA4, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(chmod(path, 0600), 0);
    info = open_check(dir, false);
    if (info.rebuilt[0] == '\0')
        fail_msg("a schema-4 index was trusted (read %zu files)", info.read);
    assert_int_equal(info.read, 300);
    assert_int_equal(info.records, 300);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), INDEX_DB_SCHEMA);
    assert_int_equal(INDEX_DB_SCHEMA, 5);
    /* The next open trusts it. */
    info = open_check(dir, false);
    assert_string_equal(info.rebuilt, "");
    assert_int_equal(info.read, 0);
    tu_rmtree(dir);
    free(dir);
}

static void
test_bulk_then_incremental(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[4200];
    struct index_db_info info;

    gen(dir, 0, 500);
    info = open_check(dir, true); /* a bulk load: indexes built after the rows */
    assert_int_equal(info.records, 500);
    assert_int_equal(sql_int(info.path, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                        " AND name IN ('records_id', 'records_created',"
                                        " 'records_intent')"),
                     3);
    /* records_id is UNIQUE: a second row of one id is refused. */
    {
        sqlite3 *h;
        assert_int_equal(sqlite3_open(info.path, &h), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(h,
                                          "INSERT INTO records(id, created_us, status, duration_us,"
                                          " attempts, retries, events, flags, file_size, mtime_ns,"
                                          " inode) SELECT id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 FROM"
                                          " records LIMIT 1",
                                          NULL, NULL, NULL),
                             SQLITE_OK);
        sqlite3_close(h);
    }
    /* Then rows added and removed through the indexes, not a bulk load. */
    gen(dir, 500, 200);
    {
        struct tu_rec r;
        tu_rec_make(&r, 7, BASE_US);
        snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
        assert_int_equal(unlink(p), 0);
    }
    info = open_check(dir, false);
    assert_int_equal(info.records, 699);
    assert_int_equal(info.read, 200);
    assert_int_equal(info.removed, 1);
    tu_rmtree(dir);
    free(dir);
}

/* The figures of st, as text (what the counts give). */
static void
stats_line(const struct index_stats *st, char *out, size_t size)
{
    const struct agg_snapshot *s = &st->snap;
    int n =
        snprintf(out, size, "records %zu corrupt %zu |", (size_t)s->records, (size_t)s->corrupt);

    for (size_t i = 0; i < s->n_agents && n > 0 && (size_t)n < size; i++)
        n += snprintf(out + n, size - (size_t)n, " %s %llu/%llu/%llu p50 %lld", s->agents[i].name,
                      (unsigned long long)s->agents[i].calls, (unsigned long long)s->agents[i].ok,
                      (unsigned long long)s->agents[i].failed, (long long)s->agents[i].p50_us);
    for (size_t i = 0; i < s->n_intents && n > 0 && (size_t)n < size; i++)
        n += snprintf(out + n, size - (size_t)n, " %s %llu/%llu", s->intents[i].name,
                      (unsigned long long)s->intents[i].calls,
                      (unsigned long long)s->intents[i].failed);
}

/* A sqlite: store written with schema 4 holds the records themselves: it
 * is brought to schema 5 in place, counts filled from its rows. */
static void
test_schema4_store_is_migrated(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[4096], url[4200], a[4096], b[4096];
    struct store_opts o = { .create = true };
    struct intentus_err err = { 0 };
    struct index_filter all = { .since_us = 1 }; /* every row: the pass over the rows */
    struct agg_opts ao = { .now_us = BASE_US + 86400000000LL };
    struct index_stats st;
    struct index_db *db;
    struct store *s;
    sqlite3 *h;

    snprintf(path, sizeof(path), "%s/records.sqlite", dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    s = store_open_url(stores_builtin, url, &o, &err);
    if (s == NULL)
        fail_msg("open %s: %s", url, err.msg);
    for (unsigned i = 0; i < 200; i++) {
        struct tu_rec r;
        size_t len;
        char *text;
        tu_rec_make(&r, i, BASE_US);
        text = tu_rec_text(&r, &len);
        assert_int_equal(store_put(s, r.id, text, len, &err), 0);
        free(text);
    }
    store_close(s);
    /* As schema 4 had it. */
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "DROP TABLE counts; DROP INDEX records_created;"
                                  " CREATE INDEX records_created ON records(created_us, id);"
                                  " PRAGMA user_version=4",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    db = index_db_open_path(path, false, false, &err);
    if (db == NULL)
        fail_msg("a schema-4 store did not open: %s", err.msg);
    assert_int_equal(index_stats_query(db, NULL, &ao, &st, &err), 0);
    stats_line(&st, a, sizeof(a));
    assert_int_equal(st.snap.records, 200);
    index_stats_free(&st);
    assert_int_equal(index_stats_query(db, &all, &ao, &st, &err), 0);
    stats_line(&st, b, sizeof(b));
    index_stats_free(&st);
    index_db_close(db);
    assert_string_equal(a, b);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), INDEX_DB_SCHEMA);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'counts'"), 1);
    /* And the store engine opens it as before. */
    s = store_open_url(stores_builtin, url, &o, &err);
    if (s == NULL)
        fail_msg("reopen %s: %s", url, err.msg);
    store_close(s);
    tu_rmtree(dir);
    free(dir);
}

static void
count_diffs(void *ctx, const char *id, const char *what)
{
    if (strcmp(id, "(counts)") == 0 && strstr(what, "counters differ") != NULL)
        (*(int *)ctx)++;
}

/* index check compares the counters with the rows, too. */
static void
test_check_finds_wrong_counts(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct index_db_info info;
    struct intentus_err err = { 0 };
    struct index_db *db;
    sqlite3 *h;
    int seen = 0;

    gen(dir, 0, 200);
    info = open_check(dir, false); /* no difference */
    assert_int_equal(sqlite3_open(info.path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "UPDATE counts SET n = n + 1 WHERE kind = 2 AND what = 3",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_true(sqlite3_changes(h) > 0);
    sqlite3_close(h);
    db = index_db_open(dir, false, &err);
    assert_non_null(db);
    assert_int_equal(index_db_check(db, count_diffs, &seen, &err), 1);
    assert_int_equal(seen, 1);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_per_record),
        cmocka_unit_test(test_schema4_index_is_rebuilt),
        cmocka_unit_test(test_bulk_then_incremental),
        cmocka_unit_test(test_schema4_store_is_migrated),
        cmocka_unit_test(test_check_finds_wrong_counts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
