/* Opening an index database a second time in a process must not drop the
 * SQLite locks its open connections hold (POSIX record locks belong to the
 * process: closing any descriptor of the file drops them all). Without
 * those locks, another process that closes its connection believes it is
 * the last one, checkpoints and deletes the WAL under the open connection,
 * which then never sees a later commit: the console on a sqlite: store
 * stuck at the count before another process's records gc (issue 19). The
 * other processes here are this test binary run again as a writer. */
#include <limits.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/testutil.h"
#include "watch/index_db.h"

static char self_exe[4096];

/* As a writer (argv: --write PATH VALUE [keep]): one row into t, then
 * close; with keep, closing leaves the row in the WAL (no checkpoint), as
 * a closing process does while others still read. */
static int
write_row(const char *path, const char *value, bool keep)
{
    sqlite3 *h = NULL;
    char sql[128];
    int rc;

    snprintf(sql, sizeof(sql), "INSERT INTO t VALUES(%d)", atoi(value));
    rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK && keep)
        rc = sqlite3_db_config(h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(h, 5000);
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK)
        fprintf(stderr, "writer: %s\n", h != NULL ? sqlite3_errmsg(h) : "open failed");
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : 1;
}

static void
writer(const char *path, const char *value, bool keep)
{
    struct tu_run r = { 0 };
    char *argv[] = {
        self_exe, (char *)"--write", (char *)path, (char *)value, keep ? (char *)"keep" : NULL, NULL
    };

    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 20000, &r), 0);
    if (r.status != 0)
        fail_msg("the writer failed (%d): %s", r.status, r.err ? r.err : "");
    tu_run_free(&r);
}

static long
count_rows(struct index_db *db)
{
    sqlite3_stmt *st = NULL;
    long n = -1;

    assert_int_equal(
        sqlite3_prepare_v2(index_db_sqlite(db), "SELECT count(*) FROM t", -1, &st, NULL),
        SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void
test_second_open_keeps_the_first_ones_view(void **state)
{
    char *dir = tu_mkdtemp();
    char path[600];
    struct intentus_err err = { 0 };
    struct index_db *a, *b;

    (void)state;
    snprintf(path, sizeof(path), "%s/store.sqlite", dir);
    a = index_db_open_path(path, true, false, &err);
    if (a == NULL)
        fail_msg("open %s: %s", path, err.msg);
    assert_int_equal(sqlite3_exec(index_db_sqlite(a), "CREATE TABLE t(x); INSERT INTO t VALUES(1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(count_rows(a), 1);
    /* a second connection in this process, as the console opens several */
    b = index_db_open_path(path, false, false, &err);
    if (b == NULL)
        fail_msg("second open of %s: %s", path, err.msg);
    assert_int_equal(count_rows(b), 1);
    /* two other processes write and close, one after the other */
    writer(path, "2", false);
    writer(path, "3", true);
    if (count_rows(a) != 3 || count_rows(b) != 3)
        fail_msg("the open connections see %ld and %ld rows of 3 after other processes' "
                 "commits (their locks were dropped, the WAL deleted under them)",
                 count_rows(a), count_rows(b));
    index_db_close(b);
    index_db_close(a);
    tu_rmtree(dir);
    free(dir);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_open_keeps_the_first_ones_view),
    };

    if (argc >= 4 && strcmp(argv[1], "--write") == 0)
        return write_row(argv[2], argv[3], argc == 5);
    if (realpath("/proc/self/exe", self_exe) == NULL) {
        perror("/proc/self/exe");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
