#include "watch/index_plan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "watch/digest.h"
#include "watch/index_counts.h"
#include "watch/index_query.h"
#include "watch/scan.h"

/* As the index's own trust in a listing (watch/index_db.c): a directory
 * unchanged for this long before it was listed gets a later mtime from any
 * later change, even with coarse timestamps. */
#define PLAN_QUIET_NS 3000000000LL

/* A row is enough when the digest read it as a record with a creation time;
 * any other row's file is read. Parameters of f come first (?1..?n). */
#define ROW_OK "(r.flags & 1) = 0 AND r.created_us != 0"
_Static_assert(DIGEST_CORRUPT == 1, "ROW_OK tests the corrupt flag as 1");

struct index_plan {
    struct index_db *db;
    sqlite3_stmt *walk;
    char **read_ids;
    size_t n_read;
    bool in_txn;
};

static int
sql_fail(struct index_db *db, const char *what, struct intentus_err *err)
{
    err_set(err, IERR_IO, "index %s: %s", what, sqlite3_errmsg(index_db_sqlite(db)));
    return -1;
}

static int64_t
st_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* 1: the last name-only listing of a directory with this identity found no
 * .json.gz record; 0: not known. */
static int
plain_known(struct index_db *db, const struct stat *dst)
{
    sqlite3_stmt *st = NULL;
    int out = 0;

    if (sqlite3_prepare_v2(index_db_sqlite(db),
                           "SELECT dev, ino, mtime_ns FROM plan_dirstate WHERE k = 0", -1, &st,
                           NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return 0; /* no such table yet */
    }
    if (sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_int64(st, 0) == (sqlite3_int64)dst->st_dev &&
        sqlite3_column_int64(st, 1) == (sqlite3_int64)dst->st_ino &&
        sqlite3_column_int64(st, 2) == st_mtime_ns(dst))
        out = 1;
    sqlite3_finalize(st);
    return out;
}

/* Remember a listing that found no .json.gz record (best effort: a plan
 * that cannot write it lists again next time). On a connection of its own
 * that waits for a writer (the console's tailer) a moment only. */
static void
plain_save(struct index_db *db, const struct stat *dst)
{
    sqlite3 *h = NULL;
    char sql[512];

    snprintf(sql, sizeof(sql),
             "BEGIN IMMEDIATE;"
             " CREATE TABLE IF NOT EXISTS plan_dirstate(k INTEGER PRIMARY KEY CHECK(k = 0),"
             " dev INTEGER NOT NULL, ino INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);"
             " INSERT OR REPLACE INTO plan_dirstate VALUES(0, %lld, %lld, %lld); COMMIT",
             (long long)dst->st_dev, (long long)dst->st_ino, (long long)st_mtime_ns(dst));
    if (sqlite3_open_v2(index_db_info(db)->path, &h,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX,
                        NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 200);
        if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
            sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_close(h);
}

/* Whether dir holds a record as <id>.json.gz (its row is not of a file
 * retention plans): names only. 1 yes, 0 no, -1 error. */
static int
has_gz(const char *dir, struct intentus_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int out = 0;

    if (d == NULL) {
        err_set(err, IERR_IO, "cannot list %s: %s", dir, strerror(errno));
        return -1;
    }
    while (out == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char id[160];
        if (n > 8 && strcmp(de->d_name + n - 8, ".json.gz") == 0 &&
            scan_id_of(de->d_name, id, sizeof(id)))
            out = 1;
    }
    closedir(d);
    return out;
}

/* Do the rows stand for dir's <id>.json files? 1 yes, 0 no, -1 error. */
static int
rows_stand_for(struct index_db *db, const char *dir, bool *listed, struct intentus_err *err)
{
    struct stat before, after;
    int64_t listed_ns;
    int gz;

    if (stat(dir, &before) != 0) {
        err_set(err, IERR_IO, "cannot stat %s: %s", dir, strerror(errno));
        return -1;
    }
    if (plain_known(db, &before))
        return 1;
    *listed = true;
    listed_ns = clock_wall_us() * 1000;
    if ((gz = has_gz(dir, err)) != 0)
        return gz < 0 ? -1 : 0;
    if (stat(dir, &after) == 0 && after.st_dev == before.st_dev && after.st_ino == before.st_ino &&
        st_mtime_ns(&after) == st_mtime_ns(&before) &&
        st_mtime_ns(&before) <= listed_ns - PLAN_QUIET_NS)
        plain_save(db, &before);
    return 1;
}

void
index_plan_free(struct index_plan *ip)
{
    if (ip == NULL)
        return;
    sqlite3_finalize(ip->walk);
    if (ip->in_txn)
        sqlite3_exec(index_db_sqlite(ip->db), "COMMIT", NULL, NULL, NULL);
    for (size_t i = 0; i < ip->n_read; i++)
        free(ip->read_ids[i]);
    free(ip->read_ids);
    free(ip);
}

static int
next_row(void *ctx, struct retention_row *row, struct intentus_err *err)
{
    struct index_plan *ip = ctx;
    int rc = sqlite3_step(ip->walk);

    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return sql_fail(ip->db, "read the rows", err);
    *row = (struct retention_row){
        .id = (const char *)sqlite3_column_text(ip->walk, 0),
        .intent = (const char *)sqlite3_column_text(ip->walk, 1),
        .created_us = sqlite3_column_int64(ip->walk, 2),
        .size = sqlite3_column_int64(ip->walk, 3),
        .mtime_ns = sqlite3_column_int64(ip->walk, 4),
        .ino = (uint64_t)sqlite3_column_int64(ip->walk, 5),
    };
    if (row->id == NULL) {
        err_set(err, IERR_IO, "index row without an id");
        return -1;
    }
    return 1;
}

/* One row of numbers from sql (prepared with f's parameters when it holds
 * INDEX_QUERY_WHERE). */
static int
numbers(struct index_db *db, const char *sql, const struct index_filter *f, sqlite3_int64 *v, int n,
        struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (strstr(sql, INDEX_QUERY_WHERE) != NULL) {
        if (index_query_prepare(db, sql, f, &st, err) < 0)
            return -1;
    } else if (sqlite3_prepare_v2(index_db_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sql_fail(db, "prepare", err);
    }
    rc = sqlite3_step(st);
    for (int i = 0; i < n; i++)
        v[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_fail(db, "count", err);
}

/* The rows that cannot stand for their file: their ids into ip->read_ids,
 * their bytes added to *bytes. corrupt: how many rows the counters say are
 * corrupt (none: only rows without a creation time, through the index). */
static int
bad_rows(struct index_plan *ip, sqlite3_int64 corrupt, uint64_t *bytes, struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    if (sqlite3_prepare_v2(index_db_sqlite(ip->db),
                           corrupt > 0
                               ? "SELECT r.id, r.file_size FROM records r WHERE NOT (" ROW_OK ")"
                               : "SELECT r.id, r.file_size FROM records r WHERE r.created_us = 0",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sql_fail(ip->db, "prepare", err);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (id == NULL)
            continue;
        if (ip->n_read == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **v = realloc(ip->read_ids, ncap * sizeof(*v));
            if (v == NULL)
                break;
            ip->read_ids = v;
            cap = ncap;
        }
        if ((ip->read_ids[ip->n_read] = strdup(id)) == NULL)
            break;
        ip->n_read++;
        *bytes += (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return rc == SQLITE_DONE ? 0 : sql_fail(ip->db, "read the rows", err);
}

int
index_plan_open(struct index_db *db, const char *dir, const struct index_filter *f,
                struct index_plan **out, struct retention_rows *rows, bool *listed, char *why,
                size_t why_size, struct intentus_err *err)
{
    struct index_plan *ip;
    sqlite3_int64 all[2], good[2], corrupt = 0;
    uint64_t bad_bytes = 0;
    bool was_listed = false;
    int rc;
    char sql[512];

    *out = NULL;
    memset(rows, 0, sizeof(*rows));
    rc = rows_stand_for(db, dir, &was_listed, err);
    if (listed != NULL)
        *listed = was_listed;
    if (rc <= 0) {
        if (rc == 0)
            snprintf(why, why_size, "%s holds .json.gz records", dir);
        return rc;
    }
    if ((ip = calloc(1, sizeof(*ip))) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    ip->db = db;
    /* One read transaction: the totals and the walk see one state. */
    if (sqlite3_exec(index_db_sqlite(db), "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        sql_fail(db, "begin", err);
        index_plan_free(ip);
        return -1;
    }
    ip->in_txn = true;
    snprintf(sql, sizeof(sql), "SELECT sum(n) FROM counts WHERE kind = %d AND what = %d", IC_ALL,
             IC_CORRUPT);
    if (numbers(db, sql, NULL, &corrupt, 1, err) != 0 ||
        numbers(db, "SELECT count(*), sum(file_size) FROM records", NULL, all, 2, err) != 0 ||
        bad_rows(ip, corrupt, &bad_bytes, err) != 0)
        goto fail;
    if (f != NULL) {
        if (numbers(db,
                    "SELECT count(*), sum(r.file_size) FROM records r WHERE " ROW_OK
                    " AND " INDEX_QUERY_WHERE,
                    f, good, 2, err) != 0)
            goto fail;
    } else {
        good[0] = all[0] - (sqlite3_int64)ip->n_read;
        good[1] = all[1] - (sqlite3_int64)bad_bytes;
    }
    rc = index_query_prepare(db,
                             "SELECT r.id, r.intent, r.created_us, r.file_size, r.mtime_ns,"
                             " r.inode FROM records r WHERE " ROW_OK " AND " INDEX_QUERY_WHERE
                             " ORDER BY r.created_us, r.id",
                             f, &ip->walk, err);
    if (rc < 0)
        goto fail;
    *rows = (struct retention_rows){
        .count = (uint64_t)good[0],
        .bytes = (uint64_t)good[1],
        .not_selected = (uint64_t)(all[0] - (sqlite3_int64)ip->n_read - good[0]),
        .next = next_row,
        .ctx = ip,
        .read_ids = ip->read_ids,
        .n_read = ip->n_read,
    };
    *out = ip;
    return 1;
fail:
    index_plan_free(ip);
    return -1;
}

/* What the index knows of the directory, as retention's rows beside a
 * listing. NULL when the rows cannot be read (why set). */
static struct retention_known *
known_rows(struct index_db *db, const struct index_filter *f, struct index_query_file **files,
           size_t *n, struct intentus_err *why)
{
    struct retention_known *known;

    *files = NULL;
    *n = 0;
    if (index_query_files(db, f, files, n, why) != 0)
        return NULL;
    known = calloc(*n + 1, sizeof(*known));
    if (known == NULL)
        err_set(why, IERR_NOMEM, NULL);
    for (size_t i = 0; known != NULL && i < *n; i++) {
        const struct index_query_file *q = &(*files)[i];
        known[i] = (struct retention_known){
            .id = q->id,
            .intent = q->intent,
            .created_us = q->created_us,
            .size = q->size,
            .mtime_ns = q->mtime_ns,
            .ino = q->ino,
            .is_selected = q->is_selected,
            .needs_read = q->is_corrupt || q->created_us == 0,
        };
    }
    return known;
}

struct retention_plan *
index_plan_retention(struct index_db *db, const char *dir, const struct index_filter *f,
                     const struct retention_scope *scope, const struct retention_policy *p,
                     int64_t now_us, struct intentus_err *err, bool *index_failed,
                     struct intentus_err *index_err)
{
    struct retention_scope own = *scope; /* the caller's plus the rows */
    struct index_plan *ip = NULL;
    struct retention_rows rows;
    struct index_query_file *files = NULL;
    struct retention_known *known = NULL;
    struct retention_plan *plan;
    struct intentus_err why = { 0 };
    size_t n_files = 0;
    char reason[512];
    int rc;

    if (index_failed != NULL)
        *index_failed = false;
    if (db == NULL)
        return retention_plan_new_scoped(dir, scope, p, now_us, err);
    rc = index_plan_open(db, dir, f, &ip, &rows, NULL, reason, sizeof(reason), &why);
    if (rc > 0) {
        own.rows = &rows;
        plan = retention_plan_new_scoped(dir, &own, p, now_us, err);
        index_plan_free(ip);
        return plan;
    }
    if (rc == 0)
        known = known_rows(db, f, &files, &n_files, &why);
    if (known == NULL) {
        if (index_failed != NULL)
            *index_failed = true;
        if (index_err != NULL)
            *index_err = why;
    }
    own.known = known;
    own.n_known = known != NULL ? n_files : 0;
    plan = retention_plan_new_scoped(dir, &own, p, now_us, err);
    free(known);
    index_query_files_free(files, n_files);
    return plan;
}
