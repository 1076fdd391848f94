/* index_query_count without a filter (the console's total, asked again
 * after every batch the tailer commits) reads the index's counters, not
 * every row: the pages it reads do not grow with the records (a COUNT(*)
 * over 1M rows took 50-75 ms, on every commit while records landed), and
 * the answer follows the rows through puts, removals and commits. */
#include <setjmp.h>
#include <sqlite3.h>
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
#include "watch/index_db.h"
#include "watch/index_query.h"

#define BASE_US 1790000000000000ll
#define N_RECORDS 20000

/* Pages SQLite fetched (from its cache or the file) since the last call. */
static int
pages(struct index_db *db)
{
    int hit = 0, miss = 0, hi;

    sqlite3_db_status(index_db_sqlite(db), SQLITE_DBSTATUS_CACHE_HIT, &hit, &hi, 1);
    sqlite3_db_status(index_db_sqlite(db), SQLITE_DBSTATUS_CACHE_MISS, &miss, &hi, 1);
    return hit + miss;
}

static struct digest *
digest_of(const struct tu_rec *r)
{
    size_t len;
    char *text = tu_rec_text(r, &len);
    struct digest *d;

    assert_non_null(text);
    d = digest_from_text(r->id, text, len, NULL);
    free(text);
    assert_non_null(d);
    return d;
}

static long
rows(struct index_db *db)
{
    sqlite3_stmt *st = NULL;
    long n = -1;

    assert_int_equal(
        sqlite3_prepare_v2(index_db_sqlite(db), "SELECT count(*) FROM records", -1, &st, NULL),
        SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void
test_total_does_not_scan(void **state)
{
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct index_db *db;
    struct index_filter by_intent = { 0 };
    struct tu_rec r;
    long n, n_intent;
    int read;

    (void)state;
    /* The rows as a tailer puts them (no files: nothing reconciles here). */
    db = index_db_open(dir, false, &err);
    assert_non_null(db);
    for (unsigned i = 0; i < N_RECORDS; i++) {
        struct digest *d;
        tu_rec_make(&r, i + 1, BASE_US);
        d = digest_of(&r);
        assert_int_equal(index_db_put(db, r.id, d, 1, 1, &err), 0);
        digest_free(d);
    }
    assert_int_equal(index_db_commit(db, &err), 0);
    (void)pages(db);
    n = index_query_count(db, NULL, &err);
    read = pages(db);
    print_message("# total of %ld records: %d pages read\n", n, read);
    assert_int_equal(n, N_RECORDS);
    /* A pass over 20,000 rows reads every leaf of an index: over 40 pages. */
    if (read > 8)
        fail_msg("the total of %d records read %d pages", N_RECORDS, read);

    /* An empty filter is no filter; a real one still counts its rows. */
    {
        struct index_filter none = { 0 };
        assert_int_equal(index_query_count(db, &none, &err), N_RECORDS);
    }
    tu_rec_make(&r, 1, BASE_US);
    by_intent.intent = r.intent;
    n_intent = index_query_count(db, &by_intent, &err);
    assert_true(n_intent > 0 && n_intent < N_RECORDS);

    /* The total follows the rows: a new one, a replaced one, a removed one,
     * visible once committed. */
    {
        struct digest *d;
        tu_rec_make(&r, N_RECORDS + 1, BASE_US);
        d = digest_of(&r);
        assert_int_equal(index_db_put(db, r.id, d, 1, 1, &err), 0);
        assert_int_equal(index_db_put(db, r.id, d, 1, 1, &err), 0);
        tu_rec_make(&r, 7, BASE_US);
        assert_int_equal(index_db_remove(db, r.id, &err), 0);
        tu_rec_make(&r, 8, BASE_US);
        assert_int_equal(index_db_remove(db, r.id, &err), 0);
        assert_int_equal(index_db_commit(db, &err), 0);
        digest_free(d);
    }
    assert_int_equal(index_query_count(db, NULL, &err), N_RECORDS - 1);
    assert_int_equal(index_query_count(db, NULL, &err), rows(db));
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* No records at all: 0 (there is no counter row to read). */
static void
test_total_of_empty_index(void **state)
{
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);

    (void)state;
    assert_non_null(db);
    assert_int_equal(index_query_count(db, NULL, &err), 0);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_total_does_not_scan),
        cmocka_unit_test(test_total_of_empty_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
