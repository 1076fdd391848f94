/* The persistent record index: one SQLite database per record directory
 * holding the digest (watch/digest.h) of every record file with the file's
 * identity (size, mtime, inode), and one row per agent step. Opening it
 * reconciles it with the directory: a scan (watch/scan.h) compares every
 * file's identity with the index and digests only new or changed files (on
 * one thread per core, one SQLite writer); rows of removed files are
 * deleted; all in one write transaction, so a reader never sees half an
 * update.
 *
 * What a reopen trusts: records are added, replaced and removed by
 * directory operations (create, rename, unlink), and each of those changes
 * the directory's mtime. A full reconcile stores the directory's identity
 * (device, inode, mtime) and marks it trusted when the directory and every
 * file in it were at least 3 s older than the listing (so a change after
 * the listing cannot share the listing's timestamp, and no file was still
 * being written in place). While the directory keeps that identity, a
 * reopen skips the per-file stat walk and reads nothing but the stored
 * counts. Not covered by the fast path: a file rewritten in place, without
 * a rename, after it had been quiet for 3 s (intentus and the reference
 * never do this; an editor saving in place would), and a wall clock set
 * back. `intentus index check` compares every row with the files and
 * finds those; `index rebuild` or any command's `--no-index` reads the
 * files themselves. The console's tailer indexes in-place writes it sees.
 *
 * Where it lives: <dir>/.intentus/index.sqlite (0600, in a 0700 folder);
 * when the record directory is not writable, $XDG_CACHE_HOME/intentus/
 * <hash of the directory's real path>.sqlite (else ~/.cache/intentus/).
 *
 * The record files stay the source of truth: an index that is missing,
 * does not open as SQLite, is corrupt or has another schema version is
 * deleted and rebuilt from the files, never trusted. SQLite's locking lets
 * several processes open one index at once (WAL journal: readers are not
 * blocked; one reconciling writer at a time, the others wait for it). */
#ifndef INTENTUS_WATCH_INDEX_DB_H
#define INTENTUS_WATCH_INDEX_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "watch/digest.h"

/* 2: records_intent, the index on (intent, created_us) of --intent queries;
 * 3: dirstate, the directory identity of the last trusted listing;
 * 4: attempts.tokens, the MODEL_CALL steps' tokens;
 * 5: records_created on created_us alone, the id's UNIQUE as the separate
 *    index records_id (built after the rows on a rebuild): 369 -> ~260 B per record */
#define INDEX_DB_SCHEMA 5

struct index_db;

/* What the last open did. */
struct index_db_info {
    char path[4096];       /* the database file */
    bool in_cache;         /* under the cache folder: the record dir is not writable */
    char rebuilt[256];     /* why the index was rebuilt ("" when it was trusted) */
    bool unchanged_dir;    /* the directory was as last listed: no per-file walk */
    size_t read, removed;  /* files digested, rows deleted by the reconcile */
    size_t records, steps; /* rows after it */
    size_t corrupt;        /* records that are corrupt files */
    int64_t db_bytes;      /* database file plus its WAL */
};

/* Open (creating or rebuilding as needed) the index of dir and reconcile
 * it. With rebuild, the index is deleted and built anew from the files.
 * NULL on failure with err set (directory unreadable, no usable place for
 * the index, a SQLite error other than corruption). */
struct index_db *index_db_open(const char *dir, bool rebuild, struct intentus_err *err);
/* The same schema in the database file path, for a store that keeps the
 * records themselves in it (watch/store_sqlite.c): no directory, no
 * reconcile, and never deleted or rebuilt (a foreign, corrupt or
 * other-version file is an error that names it). create: make a missing
 * file (0600); durable: every commit is synced (synchronous=FULL). The
 * info's row counts are not filled (0): counting costs a scan. */
struct index_db *index_db_open_path(const char *path, bool create, bool durable,
                                    struct intentus_err *err);
void index_db_close(struct index_db *db);
const struct index_db_info *index_db_info(const struct index_db *db);

/* Every indexed record as a digest (borrowed for the call), oldest first
 * (by creation time, then id); with newest > 0 only the newest that many.
 * Non-zero from fn stops the walk and is returned. */
typedef int (*index_db_each_fn)(void *ctx, const struct digest *d);
int index_db_each(struct index_db *db, size_t newest, index_db_each_fn fn, void *ctx,
                  struct intentus_err *err);

/* Keeping an open index current (the tailer does, watch/tailer.h): put
 * replaces the rows of id with d and the file identity it was read with,
 * remove deletes them. Changes from the first put or remove up to commit
 * are one write transaction (begin is implicit); readers see all or none
 * of them. -1 with err set on a SQLite error (the transaction is then
 * rolled back by the next commit, or by close). */
int index_db_begin(struct index_db *db, struct intentus_err *err);
int index_db_put(struct index_db *db, const char *id, const struct digest *d, int64_t mtime_ns,
                 uint64_t ino, struct intentus_err *err);
int index_db_remove(struct index_db *db, const char *id, struct intentus_err *err);
int index_db_commit(struct index_db *db, struct intentus_err *err);

/* Every row's file identity (what the reconcile compares). Non-zero from
 * fn stops the walk and is returned. */
typedef int (*index_db_identity_fn)(void *ctx, const char *id, int64_t size, int64_t mtime_ns,
                                    uint64_t ino);
int index_db_each_identity(struct index_db *db, index_db_identity_fn fn, void *ctx,
                           struct intentus_err *err);

/* Compare every row with a fresh read of the files (the brute force every
 * command did before the index). fn gets each difference: the record id
 * and what differs. Returns the number of differences, -1 on error. */
typedef void (*index_db_diff_fn)(void *ctx, const char *id, const char *what);
long index_db_check(struct index_db *db, index_db_diff_fn fn, void *ctx, struct intentus_err *err);

/* The open SQLite handle, borrowed: for the queries of watch/index_query.c. */
struct sqlite3;
struct sqlite3 *index_db_sqlite(struct index_db *db);

#endif
