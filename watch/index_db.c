#include "watch/index_db.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/rec_store.h"
#include "core/text_hash.h"
#include "watch/index_counts.h"
#include "watch/scan.h"

#define APP_ID 0x494e5458 /* "INTX" */
#define BUSY_MS 60000

struct writer;

struct index_db {
    sqlite3 *h;
    char *dir;
    struct index_db_info info;
    struct writer *live; /* index_db_begin..commit: statements of the open transaction */
    struct writer *kept; /* the same statements between transactions (prepared once) */
    bool durable;        /* index_db_open_path with durable: every commit is synced */
};

/* The record rows' indexes, apart from the table: a reconcile into an empty
 * index drops them and builds them once the rows are in (see
 * bulk_indexes), which packs their pages full instead of leaving the pages
 * that random-order inserts split about two thirds full. records_created
 * holds the creation time alone: SQLite keeps the rowid in every index
 * entry, and ORDER BY created_us, id sorts the few rows of one microsecond
 * by id on the way (an id in this index cost 40 B per record).
 * records_intent serves --intent: a list's newest N and stats of one intent
 * without a scan. */
#define INDEXES                                                                                    \
    "CREATE UNIQUE INDEX records_id ON records(id);"                                               \
    "CREATE INDEX records_created ON records(created_us);"                                         \
    "CREATE INDEX records_intent ON records(intent, created_us);"
#define DROP_INDEXES "DROP INDEX records_id; DROP INDEX records_created; DROP INDEX records_intent;"

static const char SCHEMA[] =
    "CREATE TABLE records("
    " rid INTEGER PRIMARY KEY, id TEXT NOT NULL, created_us INTEGER NOT NULL,"
    " intent TEXT, strategy TEXT, agent TEXT, status INTEGER NOT NULL, error_code TEXT,"
    " node TEXT, duration_us INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    " retries INTEGER NOT NULL, events INTEGER NOT NULL, flags INTEGER NOT NULL,"
    " file_size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,"
    " corrupt TEXT, note TEXT);" INDEXES INDEX_COUNTS_SCHEMA "CREATE TABLE attempts("
    " rid INTEGER NOT NULL, seq INTEGER NOT NULL, agent TEXT, kind INTEGER NOT NULL,"
    " ok INTEGER NOT NULL, error_code TEXT, latency_us INTEGER NOT NULL,"
    " is_retry INTEGER NOT NULL, tokens INTEGER NOT NULL, PRIMARY KEY(rid, seq)) WITHOUT ROWID;"
    /* The directory as the last full reconcile listed it (one row, see
     * index_db.h): trusted reports whether a later open may skip the walk. */
    "CREATE TABLE dirstate("
    " k INTEGER PRIMARY KEY CHECK(k = 0), dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, trusted INTEGER NOT NULL, records INTEGER NOT NULL,"
    " steps INTEGER NOT NULL, corrupt INTEGER NOT NULL);";

/* A directory (and every file in it) last changed at least this long before
 * the listing that saw it: any later rename or removal in it gets a later
 * mtime, even on file systems with coarse (up to 2 s) timestamps. */
#define QUIET_NS 3000000000LL

/* ---- where ---- */

/* mkdir -m 0700 path, or an existing directory (not a symlink) we own;
 * -1 with errno set otherwise. */
static int
own_dir(const char *path)
{
    struct stat st;

    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    if (lstat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* Create the database file 0600 without following a symlink, or check the
 * one there (a regular file of ours; made 0600). An existing file is never
 * opened here: closing any descriptor of it would drop the SQLite locks
 * this process holds on it through its open connections (POSIX record
 * locks belong to the process), and another process could then take it
 * exclusively, checkpoint and delete the WAL under those connections,
 * which then never see a later commit (a console on a sqlite: store stuck
 * at the count before another process's records gc). */
static int
own_file(const char *path)
{
    struct stat st;

    for (int tries = 0; tries < 2; tries++) {
        int fd;
        if (lstat(path, &st) == 0) {
            if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
                errno = EPERM;
                return -1;
            }
            if ((st.st_mode & 077) != 0)
                (void)fchmodat(AT_FDCWD, path, 0600, AT_SYMLINK_NOFOLLOW);
            return 0;
        }
        if (errno != ENOENT)
            return -1;
        /* A new file: nobody holds a lock on it yet. */
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (errno != EEXIST)
            return -1;
        /* created meanwhile by another process: check that one */
    }
    return -1;
}

static int
cache_path(struct index_db *db, struct intentus_err *err)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[3072], real[PATH_MAX];
    int n = -1;

    if (xdg != NULL && xdg[0] == '/') {
        (void)mkdir(xdg, 0700);
        n = snprintf(base, sizeof(base), "%s/intentus", xdg);
    } else if (home != NULL && home[0] == '/') {
        n = snprintf(base, sizeof(base), "%s/.cache", home);
        if (n > 0 && (size_t)n < sizeof(base))
            (void)mkdir(base, 0700);
        n = snprintf(base, sizeof(base), "%s/.cache/intentus", home);
    }
    if (n < 0 || (size_t)n >= sizeof(base)) {
        err_set(err, IERR_IO,
                "record directory %s is not writable and neither $XDG_CACHE_HOME nor $HOME "
                "gives a cache folder for its index",
                db->dir);
        return -1;
    }
    if (own_dir(base) != 0) {
        err_set(err, IERR_IO,
                "record directory %s is not writable and the cache folder %s is "
                "not usable: %s",
                db->dir, base, strerror(errno));
        return -1;
    }
    if (realpath(db->dir, real) == NULL)
        snprintf(real, sizeof(real), "%s", db->dir);
    snprintf(db->info.path, sizeof(db->info.path), "%s/%016" PRIx64 ".sqlite", base,
             text_hash(real));
    db->info.in_cache = true;
    if (own_file(db->info.path) == 0)
        return 0;
    err_set(err, IERR_IO, "cannot create the index %s: %s", db->info.path, strerror(errno));
    return -1;
}

/* <dir>/.intentus/index.sqlite; the cache when the record directory (or a
 * .intentus in it that is not ours) cannot take it. */
static int
locate(struct index_db *db, struct intentus_err *err)
{
    char folder[4000];

    snprintf(folder, sizeof(folder), "%s/.intentus", db->dir);
    if (own_dir(folder) != 0)
        return cache_path(db, err);
    snprintf(db->info.path, sizeof(db->info.path), "%s/index.sqlite", folder);
    db->info.in_cache = false;
    if (own_file(db->info.path) == 0)
        return 0;
    return cache_path(db, err);
}

static void
unlink_db(const char *path)
{
    char side[4200];

    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

/* ---- SQLite ---- */

/* An error that means the file is not a trustworthy index. */
static bool
untrusted(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB || rc == SQLITE_SCHEMA ||
           rc == SQLITE_FORMAT || rc == SQLITE_MISMATCH || rc == SQLITE_CONSTRAINT ||
           rc == SQLITE_ERROR;
}

static int
sql_fail(struct index_db *db, int rc, const char *what, struct intentus_err *err)
{
    err_set(err, IERR_IO, "index %s: %s: %s", db->info.path, what,
            db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
    return rc;
}

static int
exec(struct index_db *db, const char *sql, struct intentus_err *err)
{
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : sql_fail(db, rc, sql, err);
}

static int
pragma_int(struct index_db *db, const char *sql, int *out, struct intentus_err *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return sql_fail(db, rc, sql, err);
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sql_fail(db, rc, sql, err);
}

/* Switch to the WAL journal. Changing the journal mode takes the database
 * exclusively and SQLite reports a concurrent opener as SQLITE_BUSY without
 * calling the busy handler, so wait here, bounded by BUSY_MS. */
static int
wal_mode(struct index_db *db, struct intentus_err *err)
{
    for (int waited = 0;; waited += 10) {
        int rc = sqlite3_exec(db->h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) || waited >= BUSY_MS)
            return sql_fail(db, rc, "PRAGMA journal_mode=WAL", err);
        usleep(10000);
    }
}

/* The counts (index_counts.h) of every row, into the counts table. */
static int
count_every_row(struct index_db *db, const char *table, struct intentus_err *err)
{
    struct index_counts *c = index_counts_new();
    sqlite3_stmt *st = NULL;
    int rc, bad = 0;

    if (c == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return SQLITE_NOMEM;
    }
    rc = sqlite3_prepare_v2(db->h,
                            "SELECT intent, flags, status, error_code, duration_us, retries"
                            " FROM records",
                            -1, &st, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW)
            break;
        bad |= index_counts_record(c, (const char *)sqlite3_column_text(st, 0),
                                   (unsigned)sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2),
                                   (const char *)sqlite3_column_text(st, 3),
                                   sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5), 1);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_DONE &&
        (rc = sqlite3_prepare_v2(db->h,
                                 "SELECT agent, kind, is_retry, error_code, latency_us, tokens"
                                 " FROM attempts",
                                 -1, &st, NULL)) != SQLITE_OK)
        st = NULL;
    while (st != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW)
        bad |= index_counts_step(c, (const char *)sqlite3_column_text(st, 0),
                                 sqlite3_column_int(st, 1), sqlite3_column_int(st, 2),
                                 (const char *)sqlite3_column_text(st, 3),
                                 sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5), 1);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        rc = bad ? SQLITE_NOMEM : index_counts_flush(c, db->h, table);
    index_counts_free(c);
    if (rc == SQLITE_NOMEM) {
        err_set(err, IERR_NOMEM, NULL);
        return rc;
    }
    return rc == SQLITE_OK ? 0 : sql_fail(db, rc, "count the rows", err);
}

/* A store (index_db_open_path) holds the records themselves: one of schema
 * 4 is brought to 5 in place (a record directory's index is rebuilt
 * instead): the creation index without the id, and the counts. The id's
 * UNIQUE stays the table's own index. */
static int
migrate_4(struct index_db *db, struct intentus_err *err)
{
    char pragma[64];
    int rc, ver = 0;

    if ((rc = exec(db, "BEGIN IMMEDIATE", err)) != 0)
        return rc;
    /* Another process may have migrated it while this one waited. */
    if ((rc = pragma_int(db, "PRAGMA user_version", &ver, err)) != 0)
        goto rollback;
    if (ver == 4) {
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", INDEX_DB_SCHEMA);
        if ((rc = exec(db,
                       "DROP INDEX records_created;"
                       " CREATE INDEX records_created ON records(created_us);" INDEX_COUNTS_SCHEMA,
                       err)) != 0 ||
            (rc = count_every_row(db, NULL, err)) != 0 || (rc = exec(db, pragma, err)) != 0)
            goto rollback;
    }
    return exec(db, "COMMIT", err);
rollback:
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Open the file and make sure it holds our schema; a fresh file gets it.
 * Returns 0, or a SQLite code (untrusted() says whether to rebuild). */
static int
open_schema(struct index_db *db, struct intentus_err *err)
{
    int rc, app = 0, ver = 0, tables = 0;

    rc = sqlite3_open_v2(db->info.path, &db->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return sql_fail(db, rc, "open", err);
    sqlite3_busy_timeout(db->h, BUSY_MS);
    if ((rc = pragma_int(db, "PRAGMA application_id", &app, err)) != 0 ||
        (rc = pragma_int(db, "PRAGMA user_version", &ver, err)) != 0 ||
        (rc = pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables, err)) != 0)
        return rc;
    if (tables != 0 && app == APP_ID && ver == 4 && db->dir == NULL) {
        if ((rc = wal_mode(db, err)) != 0 || (rc = migrate_4(db, err)) != 0)
            return rc;
        ver = INDEX_DB_SCHEMA;
    }
    if (tables != 0 && (app != APP_ID || ver != INDEX_DB_SCHEMA)) {
        err_set(err, IERR_IO, "schema version %d, not %d", ver, INDEX_DB_SCHEMA);
        return SQLITE_SCHEMA;
    }
    if ((rc = wal_mode(db, err)) != 0 ||
        (rc = exec(db, db->durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                   err)) != 0 ||
        /* No memory-mapped reads: a file cut short under a mapping (by
         * anyone: it is a cache, deleting or truncating it is allowed)
         * would end this process with SIGBUS; pread reports an error. */
        (rc = exec(db, "PRAGMA mmap_size=0", err)) != 0 ||
        (rc = exec(db, "PRAGMA cache_size=-32768", err)) != 0)
        return rc;
    if (tables != 0)
        return 0;
    if ((rc = exec(db, "BEGIN IMMEDIATE", err)) != 0)
        return rc;
    if ((rc = pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables, err)) != 0)
        goto rollback;
    if (tables == 0) {
        char pragmas[128];
        snprintf(pragmas, sizeof(pragmas), "PRAGMA application_id=%d; PRAGMA user_version=%d",
                 APP_ID, INDEX_DB_SCHEMA);
        if ((rc = exec(db, SCHEMA, err)) != 0 || (rc = exec(db, pragmas, err)) != 0)
            goto rollback;
    }
    return exec(db, "COMMIT", err);
rollback:
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- reconcile ---- */

struct writer {
    struct index_db *db;
    struct scan *sc;
    bool was_empty; /* no rows before this reconcile: nothing to delete first */
    sqlite3_stmt *find, *del_rec, *del_steps, *ins_rec, *ins_step;
    sqlite3_stmt *old_rec, *old_steps; /* what a deleted row took from the counts */
    sqlite3_stmt *untrust;             /* index_db_begin: the listing is no longer current */
    struct index_counts *counts;       /* their changes, written at commit */
    int rc;
    struct intentus_err *err;
};

static void
bind_text(sqlite3_stmt *st, int col, const char *s)
{
    if (s != NULL)
        sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

static int
step_done(struct writer *w, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    w->rc = sql_fail(w->db, rc, what, w->err);
    return -1;
}

static const char *
text_of(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

static int
nomem(struct writer *w)
{
    err_set(w->err, IERR_NOMEM, NULL);
    w->rc = SQLITE_NOMEM;
    return -1;
}

/* Take the rows of rid out of the counts (index_counts.h). */
static int
uncount(struct writer *w, sqlite3_int64 rid)
{
    sqlite3_stmt *st = w->old_rec;
    int rc, bad = 0;

    sqlite3_bind_int64(st, 1, rid);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        bad |= index_counts_record(w->counts, text_of(st, 0), (unsigned)sqlite3_column_int64(st, 1),
                                   sqlite3_column_int(st, 2), text_of(st, 3),
                                   sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5), -1);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        w->rc = sql_fail(w->db, rc, "read a record row", w->err);
        return -1;
    }
    st = w->old_steps;
    sqlite3_bind_int64(st, 1, rid);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        bad |= index_counts_step(w->counts, text_of(st, 0), sqlite3_column_int(st, 1),
                                 sqlite3_column_int(st, 2), text_of(st, 3),
                                 sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5), -1);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        w->rc = sql_fail(w->db, rc, "read the attempt rows", w->err);
        return -1;
    }
    return bad != 0 ? nomem(w) : 0;
}

static int
delete_id(struct writer *w, const char *id)
{
    int rc;

    sqlite3_bind_text(w->find, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(w->find);
    if (rc == SQLITE_ROW) {
        sqlite3_int64 rid = sqlite3_column_int64(w->find, 0);
        sqlite3_reset(w->find);
        if (uncount(w, rid) != 0)
            return -1;
        sqlite3_bind_int64(w->del_steps, 1, rid);
        sqlite3_bind_int64(w->del_rec, 1, rid);
        if (step_done(w, w->del_steps, "delete attempts") != 0 ||
            step_done(w, w->del_rec, "delete record") != 0)
            return -1;
        return 1;
    }
    sqlite3_reset(w->find);
    if (rc != SQLITE_DONE) {
        w->rc = sql_fail(w->db, rc, "find record", w->err);
        return -1;
    }
    return 0;
}

static int
put_row(struct writer *w, const char *id, const struct digest *d, int64_t mtime, uint64_t ino)
{
    sqlite3_stmt *st = w->ins_rec;
    bool corrupt = (d->flags & DIGEST_CORRUPT) != 0;
    sqlite3_int64 rid;

    if (!w->was_empty && delete_id(w, id) < 0)
        return -1;
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, d->created_us);
    bind_text(st, 3, d->intent);
    bind_text(st, 4, d->strategy);
    bind_text(st, 5, d->agent);
    sqlite3_bind_int(st, 6, (int)d->status);
    bind_text(st, 7, d->error_code);
    bind_text(st, 8, d->node);
    sqlite3_bind_int64(st, 9, d->duration_us);
    sqlite3_bind_int(st, 10, d->attempts);
    sqlite3_bind_int(st, 11, d->retries);
    sqlite3_bind_int(st, 12, d->events);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)d->flags);
    sqlite3_bind_int64(st, 14, (sqlite3_int64)d->file_size);
    sqlite3_bind_int64(st, 15, mtime);
    sqlite3_bind_int64(st, 16, (sqlite3_int64)ino);
    bind_text(st, 17, corrupt ? d->note : NULL);
    /* An encrypted record's error message is response text: it stays in
     * the record file, encrypted; the index keeps only its error code. */
    bind_text(st, 18, corrupt || (d->flags & DIGEST_SEALED) ? NULL : d->note);
    if (step_done(w, st, "insert record") != 0)
        return -1;
    if (index_counts_record(w->counts, d->intent, d->flags, (int)d->status, d->error_code,
                            d->duration_us, d->retries, 1) != 0)
        return nomem(w);
    rid = sqlite3_last_insert_rowid(w->db->h);
    for (size_t i = 0; i < d->n_steps; i++) {
        const struct digest_step *s = &d->steps[i];
        st = w->ins_step;
        sqlite3_bind_int64(st, 1, rid);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        bind_text(st, 3, s->agent);
        sqlite3_bind_int(st, 4, s->kind);
        sqlite3_bind_int(st, 5, s->kind == DIGEST_STEP_OK);
        bind_text(st, 6, s->code);
        sqlite3_bind_int64(st, 7, s->latency_us);
        sqlite3_bind_int(st, 8, s->is_retry);
        sqlite3_bind_int64(st, 9, s->tokens);
        if (step_done(w, st, "insert attempt") != 0)
            return -1;
        if (index_counts_step(w->counts, s->agent, s->kind, s->is_retry, s->code, s->latency_us,
                              s->tokens, 1) != 0)
            return nomem(w);
    }
    return 0;
}

static int
emit_row(void *ctx, const char *id, struct digest *d)
{
    struct writer *w = ctx;
    int rc;

    if (d == NULL) {
        rc = delete_id(w, id);
        if (rc > 0)
            w->db->info.removed++;
        return rc < 0 ? -1 : 0;
    }
    {
        int64_t size = 0, mtime = 0;
        uint64_t ino = 0;
        (void)scan_identity(w->sc, id, &size, &mtime, &ino);
        rc = put_row(w, id, d, mtime, ino);
    }
    digest_free(d);
    w->db->info.read++;
    return rc;
}

static int
prepare(struct index_db *db, const char *sql, sqlite3_stmt **st, struct intentus_err *err)
{
    int rc = sqlite3_prepare_v2(db->h, sql, -1, st, NULL);

    return rc == SQLITE_OK ? 0 : sql_fail(db, rc, sql, err);
}

static int
count_rows(struct index_db *db, struct intentus_err *err)
{
    int n = 0, rc;

    if ((rc = pragma_int(db, "SELECT count(*) FROM records", &n, err)) != 0)
        return rc;
    db->info.records = (size_t)n;
    if ((rc = pragma_int(db, "SELECT count(*) FROM attempts", &n, err)) != 0)
        return rc;
    db->info.steps = (size_t)n;
    if ((rc = pragma_int(db, "SELECT count(*) FROM records WHERE corrupt IS NOT NULL", &n, err)) !=
        0)
        return rc;
    db->info.corrupt = (size_t)n;
    return 0;
}

static int64_t
stat_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The fast path: the directory is as the last full reconcile listed it and
 * that listing was trusted, so no file was added, renamed in or removed
 * since. 1: the index is current (counts filled in), 0: walk, else a
 * SQLite code. */
static int
dir_unchanged(struct index_db *db, const struct stat *dst, struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, out = 0;

    if ((rc = prepare(db,
                      "SELECT dev, ino, mtime_ns, trusted, records, steps, corrupt FROM dirstate"
                      " WHERE k = 0",
                      &st, err)) != 0)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_int64(st, 0) == (sqlite3_int64)dst->st_dev &&
        sqlite3_column_int64(st, 1) == (sqlite3_int64)dst->st_ino &&
        sqlite3_column_int64(st, 2) == stat_mtime_ns(dst) && sqlite3_column_int(st, 3) == 1) {
        db->info.records = (size_t)sqlite3_column_int64(st, 4);
        db->info.steps = (size_t)sqlite3_column_int64(st, 5);
        db->info.corrupt = (size_t)sqlite3_column_int64(st, 6);
        db->info.unchanged_dir = true;
        out = 1;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        out = sql_fail(db, rc, "read the directory state", err);
    }
    sqlite3_finalize(st);
    return out;
}

/* Record what this full reconcile saw. Trusted only when the directory did
 * not change while it was listed and it and every file in it had been
 * quiet for QUIET_NS before the listing began (a file written in place may
 * still be growing; its later writes do not touch the directory). */
static int
save_dirstate(struct index_db *db, struct rec_store *rs, const struct stat *before,
              int64_t listed_ns, struct intentus_err *err)
{
    struct stat after;
    char sql[512];
    int rc;
    bool trusted;
    sqlite3_stmt *st = NULL;
    sqlite3_int64 max_mtime = 0;

    sqlite3_int64 keyed = 0;

    /* Rows of encrypted files depend on the reader's keys (see reconcile):
     * a directory holding any is walked on every open, never trusted. */
    snprintf(sql, sizeof(sql),
             "SELECT max(mtime_ns), count(*) FILTER (WHERE (flags & %d) != 0) FROM records",
             (int)(DIGEST_SEALED | DIGEST_LOCKED));
    if ((rc = prepare(db, sql, &st, err)) != 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW) {
        max_mtime = sqlite3_column_int64(st, 0);
        keyed = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    trusted = keyed == 0 && fstat(rec_store_dirfd(rs), &after) == 0 &&
              after.st_dev == before->st_dev && after.st_ino == before->st_ino &&
              stat_mtime_ns(&after) == stat_mtime_ns(before) &&
              stat_mtime_ns(before) <= listed_ns - QUIET_NS && max_mtime <= listed_ns - QUIET_NS;
    snprintf(sql, sizeof(sql),
             "INSERT OR REPLACE INTO dirstate VALUES(0, %lld, %lld, %lld, %d, %zu, %zu, %zu)",
             (long long)before->st_dev, (long long)before->st_ino, (long long)stat_mtime_ns(before),
             trusted ? 1 : 0, db->info.records, db->info.steps, db->info.corrupt);
    return exec(db, sql, err);
}

static int
prepare_writer(struct writer *w)
{
    struct index_db *db = w->db;
    struct intentus_err *err = w->err;
    int rc;

    if ((w->counts = index_counts_new()) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return SQLITE_NOMEM;
    }
    if ((rc = prepare(db, "SELECT rid FROM records WHERE id = ?", &w->find, err)) != 0 ||
        (rc = prepare(db,
                      "SELECT intent, flags, status, error_code, duration_us, retries FROM records"
                      " WHERE rid = ?",
                      &w->old_rec, err)) != 0 ||
        (rc = prepare(db,
                      "SELECT agent, kind, is_retry, error_code, latency_us, tokens FROM attempts"
                      " WHERE rid = ?",
                      &w->old_steps, err)) != 0 ||
        (rc = prepare(db, "DELETE FROM records WHERE rid = ?", &w->del_rec, err)) != 0 ||
        (rc = prepare(db, "DELETE FROM attempts WHERE rid = ?", &w->del_steps, err)) != 0 ||
        (rc = prepare(db,
                      "INSERT INTO records(id, created_us, intent, strategy, agent, status,"
                      " error_code, node, duration_us, attempts, retries, events, flags,"
                      " file_size, mtime_ns, inode, corrupt, note)"
                      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      &w->ins_rec, err)) != 0 ||
        (rc = prepare(db,
                      "INSERT INTO attempts(rid, seq, agent, kind, ok, error_code, latency_us,"
                      " is_retry, tokens) VALUES(?,?,?,?,?,?,?,?,?)",
                      &w->ins_step, err)) != 0)
        return rc;
    return 0;
}

static void
finalize_writer(struct writer *w)
{
    sqlite3_finalize(w->find);
    sqlite3_finalize(w->del_rec);
    sqlite3_finalize(w->del_steps);
    sqlite3_finalize(w->ins_rec);
    sqlite3_finalize(w->ins_step);
    sqlite3_finalize(w->old_rec);
    sqlite3_finalize(w->old_steps);
    sqlite3_finalize(w->untrust);
    index_counts_free(w->counts);
    w->counts = NULL;
}

/* Let go of the statements kept between transactions. */
static void
drop_writer(struct index_db *db)
{
    if (db->kept != NULL) {
        finalize_writer(db->kept);
        free(db->kept);
    }
    db->kept = NULL;
    db->live = NULL;
}

/* The counts' changes into the table, before the transaction commits. */
static int
flush_counts(struct writer *w)
{
    int rc = w->counts != NULL ? index_counts_flush(w->counts, w->db->h, NULL) : SQLITE_OK;

    return rc == SQLITE_OK ? 0 : sql_fail(w->db, rc, "update the counts", w->err);
}

static int
reconcile(struct index_db *db, struct rec_store *rs, struct intentus_err *err)
{
    struct writer w = { .db = db, .err = err };
    sqlite3_stmt *known = NULL;
    struct stat dst;
    int64_t listed_ns;
    size_t n_known = 0;
    int rc, empty = 0;

    db->info.read = db->info.removed = 0;
    db->info.unchanged_dir = false;
    if (fstat(rec_store_dirfd(rs), &dst) != 0) {
        err_set(err, IERR_IO, "cannot stat %s: %s", db->dir, strerror(errno));
        return SQLITE_IOERR;
    }
    if ((rc = exec(db, "BEGIN", err)) != 0)
        return rc;
    rc = dir_unchanged(db, &dst, err);
    sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    w.sc = scan_new(NULL);
    if (w.sc == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return SQLITE_NOMEM;
    }
    if ((rc = exec(db, "BEGIN IMMEDIATE", err)) != 0)
        goto out;
    /* Stat the directory again under the write lock: another process may
     * have reconciled (and changed it) while this one waited. */
    if (fstat(rec_store_dirfd(rs), &dst) != 0) {
        err_set(err, IERR_IO, "cannot stat %s: %s", db->dir, strerror(errno));
        rc = SQLITE_IOERR;
        goto rollback;
    }
    listed_ns = clock_wall_us() * 1000;
    if ((rc = prepare(db, "SELECT id, file_size, mtime_ns, inode, flags FROM records", &known,
                      err)) != 0)
        goto rollback;
    while ((rc = sqlite3_step(known)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(known, 0);
        /* Rows of encrypted files follow the reader's keys: a file that
         * could not be opened then is read again when this process holds a
         * keyring (the key may be there now), and one that was opened is
         * read again by a process without keys, so it is shown as
         * "encrypted, key K missing" rather than from the cache. */
        sqlite3_int64 flags = sqlite3_column_int64(known, 4);
        if (id != NULL && (((flags & DIGEST_LOCKED) && rec_store_keys(rs) != NULL) ||
                           ((flags & DIGEST_SEALED) && rec_store_keys(rs) == NULL)))
            continue;
        if (id == NULL ||
            scan_preload(w.sc, id, sqlite3_column_int64(known, 1), sqlite3_column_int64(known, 2),
                         (uint64_t)sqlite3_column_int64(known, 3)) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        n_known++;
    }
    sqlite3_finalize(known);
    if (rc != SQLITE_DONE) {
        rc = sql_fail(db, rc, "read the index", err);
        goto rollback;
    }
    /* No row at all (not merely none to compare: rows of encrypted files
     * are skipped above): a bulk load, its indexes built after the rows. */
    if (n_known == 0 &&
        (rc = pragma_int(db, "SELECT NOT EXISTS(SELECT 1 FROM records)", &empty, err)) != 0)
        goto rollback;
    w.was_empty = n_known == 0 && empty == 1;
    if (w.was_empty && (rc = exec(db, DROP_INDEXES, err)) != 0)
        goto rollback;
    if ((rc = prepare_writer(&w)) != 0)
        goto rollback;
    if (scan_full(w.sc, rs, clock_mono_us(), emit_row, &w, err) != 0) {
        rc = w.rc != 0 ? w.rc : SQLITE_IOERR;
        goto rollback;
    }
    /* Two files of one id cannot be (the id is the file name): a failing
     * UNIQUE here is an index that is not ours, rebuilt (untrusted()). */
    if (w.was_empty && (rc = exec(db, INDEXES, err)) != 0)
        goto rollback;
    if ((rc = flush_counts(&w)) != 0)
        goto rollback;
    if ((rc = count_rows(db, err)) != 0 || (rc = save_dirstate(db, rs, &dst, listed_ns, err)) != 0)
        goto rollback;
    rc = exec(db, "COMMIT", err);
    if (rc != 0)
        goto rollback;
    goto out;
rollback:
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
out:
    finalize_writer(&w);
    scan_free(w.sc);
    return rc;
}

static int64_t
file_bytes(const char *path, const char *suffix)
{
    char p[4200];
    struct stat st;

    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

struct index_db *
index_db_open(const char *dir, bool rebuild, struct intentus_err *err)
{
    struct index_db *db = calloc(1, sizeof(*db));
    struct rec_store *rs;
    int rc = 0;

    if (db == NULL || (db->dir = strdup(dir)) == NULL) {
        free(db);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    rs = rec_store_open(dir, NULL, err);
    if (rs == NULL || locate(db, err) != 0)
        goto fail;
    if (rebuild) {
        unlink_db(db->info.path);
        snprintf(db->info.rebuilt, sizeof(db->info.rebuilt), "asked to rebuild");
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        struct intentus_err why = { 0 };
        if (attempt > 0 || rebuild) {
            if (own_file(db->info.path) != 0) {
                err_set(err, IERR_IO, "cannot create the index %s: %s", db->info.path,
                        strerror(errno));
                goto fail;
            }
        }
        rc = open_schema(db, &why);
        if (rc == 0)
            rc = reconcile(db, rs, &why);
        if (rc == 0)
            break;
        sqlite3_close(db->h);
        db->h = NULL;
        if (attempt > 0 || !untrusted(rc)) {
            err_set(err, IERR_IO, "%s", why.msg);
            goto fail;
        }
        /* Not an index we can trust: the files hold the truth. */
        snprintf(db->info.rebuilt, sizeof(db->info.rebuilt), "%s", why.msg);
        unlink_db(db->info.path);
    }
    rec_store_close(rs);
    db->info.db_bytes = file_bytes(db->info.path, "") + file_bytes(db->info.path, "-wal");
    return db;
fail:
    rec_store_close(rs);
    index_db_close(db);
    return NULL;
}

struct index_db *
index_db_open_path(const char *path, bool create, bool durable, struct intentus_err *err)
{
    struct index_db *db = calloc(1, sizeof(*db));
    struct intentus_err why = { 0 };
    struct stat st;
    int rc;

    if (db == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    db->durable = durable;
    if (snprintf(db->info.path, sizeof(db->info.path), "%s", path) >= (int)sizeof(db->info.path)) {
        err_set(err, IERR_INVALID, "database path is too long: %.200s...", path);
        goto fail;
    }
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT || !create) {
            err_set(err, IERR_IO, "cannot open the database %s: %s", path, strerror(errno));
            goto fail;
        }
    } else if (!S_ISREG(st.st_mode)) {
        err_set(err, IERR_IO, "database %s is not a regular file", path);
        goto fail;
    }
    if (own_file(path) != 0) {
        err_set(err, IERR_IO, "cannot open the database %s: %s", path, strerror(errno));
        goto fail;
    }
    /* Never rebuilt: here the database holds the records themselves. */
    rc = open_schema(db, &why);
    if (rc != 0) {
        err_set(err, IERR_IO, "database %s: %s", path, why.msg);
        goto fail;
    }
    /* No counts: they cost a scan of every row, on every command. */
    db->info.db_bytes = file_bytes(path, "") + file_bytes(path, "-wal");
    return db;
fail:
    index_db_close(db);
    return NULL;
}

void
index_db_close(struct index_db *db)
{
    if (db == NULL)
        return;
    if (db->live != NULL)
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    drop_writer(db);
    sqlite3_close(db->h);
    free(db->dir);
    free(db);
}

const struct index_db_info *
index_db_info(const struct index_db *db)
{
    return &db->info;
}

struct sqlite3 *
index_db_sqlite(struct index_db *db)
{
    return db->h;
}

/* ---- kept current while open ---- */

int
index_db_begin(struct index_db *db, struct intentus_err *err)
{
    struct writer *w = db->kept;

    if (db->live != NULL)
        return 0;
    /* The statements are prepared once per connection, not per batch: a
     * tailer commits a batch whenever the directory is quiet, often one
     * record at a time. */
    if (w == NULL) {
        w = calloc(1, sizeof(*w));
        if (w == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        w->db = db;
        w->err = err;
        if (prepare_writer(w) != 0 ||
            prepare(db, "UPDATE dirstate SET trusted = 0 WHERE trusted != 0", &w->untrust, err) !=
                0) {
            finalize_writer(w);
            free(w);
            return -1;
        }
        db->kept = w;
    }
    w->err = err;
    if (exec(db, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    /* A change made here (an in-place rewrite among them) leaves the
     * stored counts behind: the next open compares every file again. */
    if (step_done(w, w->untrust, "UPDATE dirstate") != 0) {
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    db->live = w;
    return 0;
}

int
index_db_put(struct index_db *db, const char *id, const struct digest *d, int64_t mtime_ns,
             uint64_t ino, struct intentus_err *err)
{
    if (index_db_begin(db, err) != 0)
        return -1;
    db->live->err = err;
    if (put_row(db->live, id, d, mtime_ns, ino) != 0)
        return -1;
    db->info.read++;
    return 0;
}

int
index_db_remove(struct index_db *db, const char *id, struct intentus_err *err)
{
    int rc;

    if (index_db_begin(db, err) != 0)
        return -1;
    db->live->err = err;
    rc = delete_id(db->live, id);
    if (rc > 0)
        db->info.removed++;
    return rc < 0 ? -1 : 0;
}

int
index_db_commit(struct index_db *db, struct intentus_err *err)
{
    int rc;

    if (db->live == NULL)
        return 0;
    db->live->err = err;
    if (flush_counts(db->live) != 0) {
        /* The counts gathered are not written: start the next batch from
         * fresh statements and counts. */
        db->live = NULL;
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        drop_writer(db);
        return -1;
    }
    db->live = NULL;
    rc = exec(db, "COMMIT", err);
    if (rc != 0) {
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int
index_db_each_identity(struct index_db *db, index_db_identity_fn fn, void *ctx,
                       struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, out = 0;

    if (prepare(db, "SELECT id, file_size, mtime_ns, inode FROM records", &st, err) != 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (id != NULL &&
            (out = fn(ctx, id, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
                      (uint64_t)sqlite3_column_int64(st, 3))) != 0)
            break;
    }
    if (out == 0 && rc != SQLITE_DONE) {
        sql_fail(db, rc, "read the index", err);
        out = -1;
    }
    sqlite3_finalize(st);
    return out;
}

/* ---- reading ---- */

static const char *
col_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

int
index_db_each(struct index_db *db, size_t newest, index_db_each_fn fn, void *ctx,
              struct intentus_err *err)
{
    /* The newest rows only: the same walk over the last ones in time. */
    const char *recs = newest > 0 ? "(SELECT * FROM records ORDER BY created_us DESC, id DESC"
                                    " LIMIT ?1)"
                                  : "records";
    char q_rec[512], q_stp[512];
    sqlite3_stmt *rec = NULL, *stp = NULL;
    struct digest_step *steps = NULL;
    size_t cap = 0;
    int rc, src, out = 0;
    bool have_step;

    if (exec(db, "BEGIN", err) != 0)
        return -1;
    snprintf(q_rec, sizeof(q_rec),
             "SELECT rid, id, created_us, intent, strategy, agent, status, error_code, node,"
             " duration_us, attempts, retries, events, flags, file_size, corrupt, note"
             " FROM %s ORDER BY created_us, id",
             recs);
    snprintf(q_stp, sizeof(q_stp),
             "SELECT a.rid, a.agent, a.kind, a.error_code, a.latency_us, a.is_retry, a.tokens"
             " FROM %s r JOIN attempts a ON a.rid = r.rid ORDER BY r.created_us, r.id, a.seq",
             recs);
    if (prepare(db, q_rec, &rec, err) != 0 || prepare(db, q_stp, &stp, err) != 0) {
        out = -1;
        goto done;
    }
    if (newest > 0) {
        sqlite3_bind_int64(rec, 1, newest > INT64_MAX ? INT64_MAX : (sqlite3_int64)newest);
        sqlite3_bind_int64(stp, 1, newest > INT64_MAX ? INT64_MAX : (sqlite3_int64)newest);
    }
    src = sqlite3_step(stp);
    have_step = src == SQLITE_ROW;
    while ((rc = sqlite3_step(rec)) == SQLITE_ROW) {
        sqlite3_int64 rid = sqlite3_column_int64(rec, 0);
        struct digest d = { 0 };
        /* Both walks go in time order (creation, id, both unique
         * together), so this record's steps come next, if it has any; in
         * time order the in-memory index only ever appends. */
        while (have_step && sqlite3_column_int64(stp, 0) == rid) {
            if (d.n_steps == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct digest_step *n = realloc(steps, ncap * sizeof(*n));
                if (n == NULL) {
                    err_set(err, IERR_NOMEM, NULL);
                    out = -1;
                    goto done;
                }
                steps = n;
                cap = ncap;
            }
            /* Text pointers of a step row live until the next step: copy. */
            steps[d.n_steps].agent = col_text(stp, 1) ? strdup(col_text(stp, 1)) : NULL;
            steps[d.n_steps].code = col_text(stp, 3) ? strdup(col_text(stp, 3)) : NULL;
            steps[d.n_steps].kind = (uint8_t)sqlite3_column_int(stp, 2);
            steps[d.n_steps].latency_us = sqlite3_column_int64(stp, 4);
            steps[d.n_steps].is_retry = (uint8_t)sqlite3_column_int(stp, 5);
            steps[d.n_steps].tokens = sqlite3_column_int64(stp, 6);
            d.n_steps++;
            have_step = (src = sqlite3_step(stp)) == SQLITE_ROW;
        }
        d.id = (char *)col_text(rec, 1);
        d.created_us = sqlite3_column_int64(rec, 2);
        d.intent = (char *)col_text(rec, 3);
        d.strategy = (char *)col_text(rec, 4);
        d.agent = (char *)col_text(rec, 5);
        d.status = (enum record_status)sqlite3_column_int(rec, 6);
        d.error_code = (char *)col_text(rec, 7);
        d.node = (char *)col_text(rec, 8);
        d.duration_us = sqlite3_column_int64(rec, 9);
        d.attempts = sqlite3_column_int(rec, 10);
        d.retries = sqlite3_column_int(rec, 11);
        d.events = sqlite3_column_int(rec, 12);
        d.flags = (unsigned)sqlite3_column_int64(rec, 13);
        d.file_size = (uint64_t)sqlite3_column_int64(rec, 14);
        d.note = (char *)(col_text(rec, 15) ? col_text(rec, 15) : col_text(rec, 16));
        d.steps = steps;
        out = d.id != NULL ? fn(ctx, &d) : 0;
        for (size_t i = 0; i < d.n_steps; i++) {
            free((char *)steps[i].agent);
            free((char *)steps[i].code);
        }
        if (out != 0)
            goto done;
    }
    if (rc != SQLITE_DONE || (src != SQLITE_ROW && src != SQLITE_DONE)) {
        sql_fail(db, rc != SQLITE_DONE ? rc : src, "read the index", err);
        out = -1;
    }
done:
    free(steps);
    sqlite3_finalize(rec);
    sqlite3_finalize(stp);
    sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
    return out;
}

/* ---- check ---- */

/* Everything a digest says, as one line, so two can be compared whole. */
static char *
canon(const struct digest *d)
{
    struct buf b = BUF_INIT;

#define S(x) ((x) ? (x) : "(null)")
    buf_printf(&b,
               "created=%" PRId64 " intent=%s strategy=%s agent=%s status=%d error=%s node=%s "
               "duration=%" PRId64 " attempts=%d retries=%d events=%d flags=%u size=%" PRIu64
               " note=%s steps=%zu",
               d->created_us, S(d->intent), S(d->strategy), S(d->agent), (int)d->status,
               S(d->error_code), S(d->node), d->duration_us, d->attempts, d->retries, d->events,
               d->flags, d->file_size, S(d->note), d->n_steps);
    for (size_t i = 0; i < d->n_steps; i++)
        buf_printf(&b, " [%s %s %" PRId64 " %u %u %" PRId64 "]", S(d->steps[i].agent),
                   S(d->steps[i].code), d->steps[i].latency_us, d->steps[i].kind,
                   d->steps[i].is_retry, d->steps[i].tokens);
#undef S
    return b.data;
}

struct entry {
    char *id, *line;
};

struct entries {
    struct entry *v;
    size_t n, cap;
    bool failed;
};

static void
entries_add(struct entries *e, const char *id, const struct digest *d)
{
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 256;
        struct entry *n = realloc(e->v, ncap * sizeof(*n));
        if (n == NULL) {
            e->failed = true;
            return;
        }
        e->v = n;
        e->cap = ncap;
    }
    e->v[e->n].id = strdup(id);
    e->v[e->n].line = canon(d);
    if (e->v[e->n].id == NULL || e->v[e->n].line == NULL) {
        free(e->v[e->n].id);
        free(e->v[e->n].line);
        e->failed = true;
        return;
    }
    e->n++;
}

static void
entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].id);
        free(e->v[i].line);
    }
    free(e->v);
}

static int
by_id(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->id, ((const struct entry *)b)->id);
}

static int
collect_row(void *ctx, const struct digest *d)
{
    entries_add(ctx, d->id, d);
    return 0;
}

static int
collect_file(void *ctx, const char *id, struct digest *d)
{
    if (d != NULL)
        entries_add(ctx, id, d);
    digest_free(d);
    return 0;
}

/* The counters against a fresh count of the rows: how many differ (-1 on
 * error). */
static long
check_counts(struct index_db *db, struct intentus_err *err)
{
    int rc, n = 0, m = 0;

    if (exec(db,
             "CREATE TEMP TABLE IF NOT EXISTS counts_check("
             " kind INTEGER NOT NULL, name TEXT NOT NULL, what INTEGER NOT NULL,"
             " sub INTEGER NOT NULL, code TEXT NOT NULL, n INTEGER NOT NULL,"
             " PRIMARY KEY(kind, name, what, sub, code)) WITHOUT ROWID;"
             " DELETE FROM temp.counts_check",
             err) != 0 ||
        exec(db, "BEGIN", err) != 0)
        return -1;
    rc = count_every_row(db, "temp.counts_check", err);
    if (rc == 0)
        rc = pragma_int(db,
                        "SELECT count(*) FROM (SELECT * FROM main.counts EXCEPT"
                        " SELECT * FROM temp.counts_check)",
                        &n, err);
    if (rc == 0)
        rc = pragma_int(db,
                        "SELECT count(*) FROM (SELECT * FROM temp.counts_check EXCEPT"
                        " SELECT * FROM main.counts)",
                        &m, err);
    sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
    return rc == 0 ? (long)n + m : -1;
}

long
index_db_check(struct index_db *db, index_db_diff_fn fn, void *ctx, struct intentus_err *err)
{
    struct entries rows = { 0 }, files = { 0 };
    struct rec_store *rs = NULL;
    struct scan *sc = NULL;
    long diffs = -1;
    size_t i = 0, j = 0;

    if (db->dir == NULL) {
        err_set(err, IERR_USAGE, "%s holds the records themselves: there are no files to check",
                db->info.path);
        return -1;
    }
    if (index_db_each(db, 0, collect_row, &rows, err) != 0)
        goto out;
    rs = rec_store_open(db->dir, NULL, err);
    sc = scan_new(NULL);
    if (rs == NULL || sc == NULL || scan_full(sc, rs, clock_mono_us(), collect_file, &files, err))
        goto out;
    if (rows.failed || files.failed) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    if (rows.n > 0)
        qsort(rows.v, rows.n, sizeof(*rows.v), by_id);
    if (files.n > 0)
        qsort(files.v, files.n, sizeof(*files.v), by_id);
    diffs = 0;
    while (i < rows.n || j < files.n) {
        int c = i == rows.n ? 1 : j == files.n ? -1 : strcmp(rows.v[i].id, files.v[j].id);
        if (c < 0) {
            fn(ctx, rows.v[i].id, "indexed, but no such record file");
            i++;
            diffs++;
        } else if (c > 0) {
            fn(ctx, files.v[j].id, "record file not in the index");
            j++;
            diffs++;
        } else {
            if (strcmp(rows.v[i].line, files.v[j].line) != 0) {
                char what[1024];
                snprintf(what, sizeof(what), "index has {%.450s}, file gives {%.450s}",
                         rows.v[i].line, files.v[j].line);
                fn(ctx, rows.v[i].id, what);
                diffs++;
            }
            i++;
            j++;
        }
    }
    {
        long bad = check_counts(db, err);
        char what[160];
        if (bad < 0) {
            diffs = -1;
            goto out;
        }
        if (bad > 0) {
            snprintf(what, sizeof(what),
                     "%ld counters differ from a count of the rows (records stats without "
                     "filters reads them)",
                     bad);
            fn(ctx, "(counts)", what);
            diffs++;
        }
    }
out:
    scan_free(sc);
    rec_store_close(rs);
    entries_free(&rows);
    entries_free(&files);
    return diffs;
}
