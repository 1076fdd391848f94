/* sqlite:PATH: the records themselves in one SQLite database (WAL
 * journal). The tables are the index's (watch/index_db.c: records and
 * attempts, filled from the digest of each record's text) plus texts,
 * which holds every record's JSON text byte for byte and its insertion
 * sequence (the cursor of follow). A put, or a batch between begin and
 * commit, is one transaction; with fsync the commit is synced
 * (synchronous=FULL), so a record is durable once acknowledged.
 *
 * Encryption at rest (opts.encrypt, core/crypt.h): each record is sealed
 * with the keyring's writing key before it is stored, as the file engine
 * seals files and postgres its rows; texts holds the sealed bytes, the
 * index columns come from the plaintext before sealing (so filters, stats
 * and gc's plans need no key). get gives the stored bytes; store_get_open
 * opens them. Bytes put already sealed (a migrate that keeps them sealed)
 * are stored as they are, their columns from their plaintext when a key
 * opens them. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypt.h"
#include "core/rec_store.h"
#include "watch/digest.h"
#include "watch/stores.h"

#define JOIN "JOIN texts t ON t.id = r.id"
#define SEQ "t.seq"
#define STORE_KIND "intentus-store"
#define STORE_VERSION "1"
/* store_meta's count of deletions (absent: none yet), bumped in the
 * deleting transaction, so a reader notices records another process
 * deleted (store_sqlite_deletes). */
#define DELETES "deletes"

static const char STORE_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS texts("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, text BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS store_meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "INSERT OR IGNORE INTO store_meta VALUES('kind', '" STORE_KIND "');"
    "INSERT OR IGNORE INTO store_meta VALUES('version', '" STORE_VERSION "');";

struct sqlite_store {
    struct store base;
    struct index_db *db;
    sqlite3 *h;
    char path[4096];
    bool in_batch, in_savepoint;
    sqlite3_stmt *get, *ins, *del, *bump;
};

static struct sqlite_store *
of(struct store *s)
{
    return (struct sqlite_store *)s;
}

static int
fail(struct sqlite_store *ss, const char *what, struct intentus_err *err)
{
    err_set(err, IERR_IO, "store %s: %s: %s", ss->path, what, sqlite3_errmsg(ss->h));
    return -1;
}

/* A database holding index rows but no texts is a record index
 * (.intentus/index.sqlite), not a store: refuse it. */
static int
check_kind(struct sqlite_store *ss, struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    int has_texts = 0, has_rows = 0;

    if (sqlite3_prepare_v2(ss->h,
                           "SELECT (SELECT count(*) FROM sqlite_master WHERE name = 'texts'),"
                           " EXISTS(SELECT 1 FROM records)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(ss, "read the schema", err);
    if (sqlite3_step(st) == SQLITE_ROW) {
        has_texts = sqlite3_column_int(st, 0);
        has_rows = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (!has_texts && has_rows) {
        err_set(err, IERR_CONFIG,
                "%s is a record index (index rows, no record texts), not a sqlite: store",
                ss->path);
        return -1;
    }
    if (has_texts) {
        if (sqlite3_prepare_v2(ss->h, "SELECT v FROM store_meta WHERE k = 'version'", -1, &st,
                               NULL) != SQLITE_OK)
            return fail(ss, "read store_meta", err);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW ||
            strcmp((const char *)sqlite3_column_text(st, 0), STORE_VERSION) != 0) {
            err_set(err, IERR_CONFIG, "%s: store version %s, this intentus reads version %s",
                    ss->path, rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "none",
                    STORE_VERSION);
            sqlite3_finalize(st);
            return -1;
        }
        sqlite3_finalize(st);
        return 0;
    }
    if (ss->base.opts.read_only) {
        err_set(err, IERR_NOT_FOUND, "%s holds no store", ss->path);
        return -1;
    }
    if (sqlite3_exec(ss->h, STORE_SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
        return fail(ss, "create the store tables", err);
    return 0;
}

static void sqlite_close(struct store *s);

static struct store *
sqlite_open(const char *url, const char *rest, const struct store_opts *opts,
            struct intentus_err *err)
{
    struct sqlite_store *ss = calloc(1, sizeof(*ss));

    if (ss == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    ss->base.opts = *opts;
    /* sqlite:PATH and sqlite://PATH alike */
    if (strncmp(rest, "//", 2) == 0)
        rest += 2;
    if (rest[0] == '\0') {
        err_set(err, IERR_CONFIG, "store URL %s names no database file (sqlite:PATH)", url);
        goto fail;
    }
    if (opts->encrypt && (opts->keys == NULL || crypt_keyring_write_id(opts->keys) == NULL)) {
        err_set(err, IERR_CONFIG,
                "store %s: recording.encryption needs a keyring holding a key (intentus keys "
                "new)",
                url);
        goto fail;
    }
    snprintf(ss->path, sizeof(ss->path), "%s", rest);
    ss->db = index_db_open_path(ss->path, opts->create && !opts->read_only, opts->fsync, err);
    if (ss->db == NULL)
        goto fail;
    ss->h = index_db_sqlite(ss->db);
    if (check_kind(ss, err) != 0)
        goto fail;
    if (sqlite3_prepare_v2(ss->h, "SELECT text FROM texts WHERE id = ?1", -1, &ss->get, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(ss->h, "INSERT INTO texts(id, text) VALUES(?1, ?2)", -1, &ss->ins,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(ss->h, "DELETE FROM texts WHERE id = ?1", -1, &ss->del, NULL) !=
            SQLITE_OK ||
        (!opts->read_only &&
         sqlite3_prepare_v2(ss->h,
                            "INSERT INTO store_meta(k, v) VALUES('" DELETES "', '1')"
                            " ON CONFLICT(k) DO UPDATE SET v = CAST(v AS INTEGER) + 1",
                            -1, &ss->bump, NULL) != SQLITE_OK)) {
        fail(ss, "prepare", err);
        goto fail;
    }
    return &ss->base;
fail:
    sqlite_close(&ss->base);
    return NULL;
}

static void
sqlite_close(struct store *s)
{
    struct sqlite_store *ss = of(s);

    if (ss == NULL)
        return;
    sqlite3_finalize(ss->get);
    sqlite3_finalize(ss->ins);
    sqlite3_finalize(ss->del);
    sqlite3_finalize(ss->bump);
    index_db_close(ss->db); /* rolls back a batch never committed */
    free(ss);
}

static int
sqlite_begin(struct store *s, struct intentus_err *err)
{
    struct sqlite_store *ss = of(s);

    if (index_db_begin(ss->db, err) != 0)
        return -1;
    ss->in_batch = true;
    return 0;
}

static int
sqlite_commit(struct store *s, struct intentus_err *err)
{
    struct sqlite_store *ss = of(s);

    ss->in_batch = false;
    return index_db_commit(ss->db, err);
}

/* The stored text of id: 1 (into *text, *len; the caller frees), 0 absent,
 * -1 error. */
static int
lookup(struct sqlite_store *ss, const char *id, char **text, size_t *len, struct intentus_err *err)
{
    int rc;

    sqlite3_bind_text(ss->get, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(ss->get);
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(ss->get, 0);
        size_t n = (size_t)sqlite3_column_bytes(ss->get, 0);
        *text = malloc(n + 1);
        if (*text == NULL) {
            sqlite3_reset(ss->get);
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        if (n > 0)
            memcpy(*text, p, n);
        (*text)[n] = '\0';
        *len = n;
        sqlite3_reset(ss->get);
        return 1;
    }
    sqlite3_reset(ss->get);
    if (rc != SQLITE_DONE)
        return fail(ss, "read a record", err);
    return 0;
}

/* Each put and del is a savepoint inside the transaction (its own, or the
 * caller's batch): a failed one leaves nothing behind, and a batch goes
 * on without it. */
static int
savepoint(struct sqlite_store *ss, struct intentus_err *err)
{
    if (sqlite3_exec(ss->h, "SAVEPOINT one", NULL, NULL, NULL) != SQLITE_OK)
        return fail(ss, "savepoint", err);
    ss->in_savepoint = true;
    return 0;
}

static int
finish(struct sqlite_store *ss, bool own_tx, int rc, struct intentus_err *err)
{
    if (ss->in_savepoint) {
        if (rc < 0)
            sqlite3_exec(ss->h, "ROLLBACK TO one", NULL, NULL, NULL);
        sqlite3_exec(ss->h, "RELEASE one", NULL, NULL, NULL);
        ss->in_savepoint = false;
    }
    if (own_tx) {
        struct intentus_err cerr = { 0 };
        if (index_db_commit(ss->db, &cerr) != 0 && rc >= 0) {
            if (err != NULL)
                *err = cerr;
            rc = -1;
        }
    }
    return rc;
}

/* The plaintext of stored (or given) bytes for comparing two puts of one
 * record: a copy of text when it is not sealed, else opened with the
 * store's keys; NULL when no key opens it. */
static char *
plain_of(const struct sqlite_store *ss, const char *id, const char *text, size_t len,
         size_t *plain_len)
{
    enum crypt_status st;
    struct intentus_err e = { 0 };
    const struct crypt_keyring *kr =
        ss->base.opts.keys != NULL ? ss->base.opts.keys : crypt_reader();

    return crypt_open(kr, CRYPT_RECORD, text, len, id, plain_len, &st, &e);
}

static void
wipe_free(char *p, size_t len)
{
    if (p != NULL) {
        explicit_bzero(p, len);
        free(p);
    }
}

/* Whether the record stored as old is the one given: the same bytes, or
 * (sealed with another nonce, or sealed on one side) the same plaintext. */
static bool
same_record(const struct sqlite_store *ss, const char *id, const char *old, size_t old_len,
            const char *data, size_t dlen, const char *plain, size_t plain_len)
{
    size_t a_len = 0, b_len = 0;
    char *a, *b = NULL;
    bool same;

    if (old_len == dlen && memcmp(old, data, dlen) == 0)
        return true;
    if (!crypt_is_sealed(old, old_len) && !crypt_is_sealed(data, dlen))
        return false;
    a = plain_of(ss, id, old, old_len, &a_len);
    if (plain == NULL) {
        b = plain_of(ss, id, data, dlen, &b_len);
        plain = b;
        plain_len = b_len;
    }
    same = a != NULL && plain != NULL && a_len == plain_len && memcmp(a, plain, a_len) == 0;
    wipe_free(a, a_len);
    wipe_free(b, b_len);
    return same;
}

static int
sqlite_put(struct store *s, const char *id, const char *text, size_t len, struct intentus_err *err)
{
    struct sqlite_store *ss = of(s);
    bool own_tx = !ss->in_batch;
    struct digest *d = NULL;
    struct buf sealed = BUF_INIT;
    const char *data = text, *plain = NULL;
    size_t dlen = len, plain_len = 0;
    char *old = NULL;
    size_t old_len = 0;
    int rc = -1, found;

    /* Sealed here, before the transaction: the columns from the text. */
    if (s->opts.encrypt && !crypt_is_sealed(text, len)) {
        if (crypt_seal(s->opts.keys, CRYPT_RECORD, text, len, &sealed, err) != 0) {
            err_prefix(err, "store %s: record %s", ss->path, id);
            buf_free(&sealed);
            return -1;
        }
        data = sealed.data;
        dlen = sealed.len;
        plain = text;
        plain_len = len;
        if (rec_store_check_size(id, dlen, err) != 0) {
            buf_free(&sealed);
            return -1;
        }
    }
    if (own_tx && index_db_begin(ss->db, err) != 0) {
        buf_free(&sealed);
        return -1;
    }
    if (savepoint(ss, err) != 0)
        goto out;
    found = lookup(ss, id, &old, &old_len, err);
    if (found < 0)
        goto out;
    if (found) {
        if (same_record(ss, id, old, old_len, data, dlen, plain, plain_len)) {
            rc = 1;
        } else {
            err_set(err, IERR_INVALID,
                    "record %s is already stored in %s with different content (%zu bytes there, "
                    "%zu given)",
                    id, ss->path, old_len, dlen);
        }
        goto out;
    }
    d = stores_digest_stored(id, data, dlen, plain, plain_len, s->opts.keys);
    if (d == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    /* A corrupt text has no creation time of its own: when it was stored. */
    if ((d->flags & DIGEST_CORRUPT) && d->created_us == 0)
        d->created_us = clock_wall_us();
    if (index_db_put(ss->db, id, d, 0, 0, err) != 0)
        goto out;
    sqlite3_bind_text(ss->ins, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(ss->ins, 2, data, (int)dlen, SQLITE_STATIC);
    found = sqlite3_step(ss->ins);
    sqlite3_reset(ss->ins);
    sqlite3_clear_bindings(ss->ins);
    if (found != SQLITE_DONE) {
        fail(ss, "insert a record", err);
        goto out;
    }
    rc = 0;
out:
    digest_free(d);
    free(old);
    buf_free(&sealed);
    return finish(ss, own_tx, rc, err);
}

static char *
sqlite_get(struct store *s, const char *id, size_t *len, struct intentus_err *err)
{
    struct sqlite_store *ss = of(s);
    char *text = NULL;
    int rc = lookup(ss, id, &text, len, err);

    if (rc == 0)
        err_set(err, IERR_NOT_FOUND, "no record %s in %s", id, ss->path);
    return rc == 1 ? text : NULL;
}

static int
sqlite_del(struct store *s, const char *id, struct intentus_err *err)
{
    struct sqlite_store *ss = of(s);
    bool own_tx = !ss->in_batch;
    int rc = -1, st;

    if (own_tx && index_db_begin(ss->db, err) != 0)
        return -1;
    if (savepoint(ss, err) != 0)
        goto out;
    sqlite3_bind_text(ss->del, 1, id, -1, SQLITE_STATIC);
    st = sqlite3_step(ss->del);
    sqlite3_reset(ss->del);
    if (st != SQLITE_DONE) {
        fail(ss, "delete a record", err);
        goto out;
    }
    if (sqlite3_changes(ss->h) == 0) {
        err_set(err, IERR_NOT_FOUND, "no record %s in %s", id, ss->path);
        goto out;
    }
    if (index_db_remove(ss->db, id, err) != 0)
        goto out;
    st = sqlite3_step(ss->bump);
    sqlite3_reset(ss->bump);
    if (st != SQLITE_DONE) {
        fail(ss, "count a deletion", err);
        goto out;
    }
    rc = 0;
out:
    return finish(ss, own_tx, rc, err);
}

static long
sqlite_query(struct store *s, const struct store_query *q, store_row_fn fn, void *ctx,
             struct intentus_err *err)
{
    return stores_index_query(of(s)->db, JOIN, SEQ, q, fn, ctx, err);
}

static long
sqlite_count(struct store *s, const struct store_filter *f, struct intentus_err *err)
{
    return stores_index_count(of(s)->db, f, err);
}

static long
sqlite_follow(struct store *s, int64_t *cursor, int timeout_ms, store_row_fn fn, void *ctx,
              struct intentus_err *err)
{
    struct sqlite_store *ss = of(s);
    int64_t start = clock_mono_us();

    if (*cursor < 0)
        return stores_index_last(ss->db, JOIN, SEQ, cursor, err) == 0 ? 0 : -1;
    for (;;) {
        long n = stores_index_since(ss->db, JOIN, SEQ, *cursor, 1000, fn, ctx, cursor, err);
        if (n != 0 || timeout_ms <= 0 || clock_mono_us() - start >= (int64_t)timeout_ms * 1000)
            return n;
        struct timespec ts = { 0, 20L * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

int
store_sqlite_is_store(struct index_db *db, struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    int n = 0;

    if (sqlite3_prepare_v2(index_db_sqlite(db),
                           "SELECT count(*) FROM sqlite_master WHERE name = 'texts'", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (n == 0)
        err_set(err, IERR_CONFIG, "%s is not a sqlite: store (no record texts)",
                index_db_info(db)->path);
    return n > 0 ? 0 : -1;
}

int
store_sqlite_deletes(struct store *s, int64_t *n, struct intentus_err *err)
{
    struct sqlite_store *ss = of(s);
    sqlite3_stmt *st = NULL;
    int rc;

    *n = 0;
    if (sqlite3_prepare_v2(ss->h,
                           "SELECT CAST(v AS INTEGER) FROM store_meta WHERE k = '" DELETES "'", -1,
                           &st, NULL) != SQLITE_OK)
        return fail(ss, "read the count of deletions", err);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(ss, "read the count of deletions", err);
    return 0;
}

struct index_db *
store_sqlite_index(struct store *s)
{
    return of(s)->db;
}

const struct store_engine store_engine_sqlite = {
    .scheme = "sqlite",
    .summary = "sqlite:PATH  one SQLite database file (WAL journal)",
    .open = sqlite_open,
    .close = sqlite_close,
    .put = sqlite_put,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .get = sqlite_get,
    .del = sqlite_del,
    .query = sqlite_query,
    .count = sqlite_count,
    .follow = sqlite_follow,
    .verify = NULL,
};
