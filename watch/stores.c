#include "watch/stores.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch/digest.h"
#include "watch/index_query.h"
#include "watch/store_pg.h"

const struct store_engine *const stores_builtin[] = {
    &store_engine_file,
    &store_engine_sqlite,
    &store_engine_postgres,
    NULL,
};

void
stores_filter(const struct store_filter *sf, struct index_filter *out)
{
    memset(out, 0, sizeof(*out));
    if (sf == NULL)
        return;
    out->intent = sf->intent;
    out->agent = sf->agent;
    out->status = sf->status;
    out->error_code = sf->error_code;
    out->text = sf->text;
    out->since_us = sf->since_us;
    out->until_us = sf->until_us;
    out->failed_agent = sf->failed_agent;
}

#define ROW_COLS                                                                                   \
    "r.id, r.created_us, r.intent, r.strategy, r.agent, r.status, r.error_code, r.node,"           \
    " r.note, r.corrupt, r.duration_us, r.attempts, r.retries, r.events, r.flags, r.file_size"

static const char *
col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Fill row from a statement whose first columns are ROW_COLS and the next
 * one the seq. Strings are borrowed from the statement. */
static void
row_of(sqlite3_stmt *st, struct store_row *row)
{
    memset(row, 0, sizeof(*row));
    row->id = (char *)col(st, 0);
    row->created_us = sqlite3_column_int64(st, 1);
    row->intent = (char *)col(st, 2);
    row->strategy = (char *)col(st, 3);
    row->agent = (char *)col(st, 4);
    row->status = (enum record_status)sqlite3_column_int(st, 5);
    row->error_code = (char *)col(st, 6);
    row->node = (char *)col(st, 7);
    row->note = (char *)(col(st, 9) != NULL ? col(st, 9) : col(st, 8));
    row->duration_us = sqlite3_column_int64(st, 10);
    row->attempts = sqlite3_column_int(st, 11);
    row->retries = sqlite3_column_int(st, 12);
    row->events = sqlite3_column_int(st, 13);
    row->flags = (unsigned)sqlite3_column_int64(st, 14);
    row->size = (uint64_t)sqlite3_column_int64(st, 15);
    row->seq = sqlite3_column_int64(st, 16);
}

static long
walk(struct index_db *db, sqlite3_stmt *st, store_row_fn fn, void *ctx, int64_t *last,
     struct intentus_err *err)
{
    long n = 0;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_row row;
        row_of(st, &row);
        if (row.id == NULL)
            continue;
        if (last != NULL)
            *last = row.seq;
        n++;
        if (fn != NULL) {
            int stop = fn(ctx, &row);
            if (stop != 0) {
                n = stop;
                rc = SQLITE_DONE;
                break;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        err_set(err, IERR_IO, "%s: query: %s", index_db_info(db)->path,
                sqlite3_errmsg(index_db_sqlite(db)));
        n = -1;
    }
    sqlite3_finalize(st);
    return n;
}

long
stores_index_query(struct index_db *db, const char *join, const char *seq,
                   const struct store_query *q, store_row_fn fn, void *ctx,
                   struct intentus_err *err)
{
    struct index_filter f;
    sqlite3_stmt *st = NULL;
    char sql[2048];
    const char *dir = q->newest_first ? "DESC" : "";
    int i;

    stores_filter(q->filter, &f);
    snprintf(sql, sizeof(sql),
             "SELECT " ROW_COLS ", %s FROM records r %s WHERE " INDEX_QUERY_WHERE
             " AND (:aid IS NULL OR (r.created_us, r.id) %s (:aus, :aid))"
             " ORDER BY r.created_us %s, r.id %s LIMIT :lim",
             seq, join, q->newest_first ? "<" : ">", dir, dir);
    if (index_query_prepare(db, sql, q->filter != NULL ? &f : NULL, &st, err) < 0)
        return -1;
    if ((i = sqlite3_bind_parameter_index(st, ":aid")) > 0 && q->after_id != NULL)
        sqlite3_bind_text(st, i, q->after_id, -1, SQLITE_STATIC);
    if ((i = sqlite3_bind_parameter_index(st, ":aus")) > 0)
        sqlite3_bind_int64(st, i, q->after_created_us);
    if ((i = sqlite3_bind_parameter_index(st, ":lim")) > 0)
        sqlite3_bind_int64(st, i, q->limit > 0 ? (sqlite3_int64)q->limit : -1);
    return walk(db, st, fn, ctx, NULL, err);
}

long
stores_index_since(struct index_db *db, const char *join, const char *seq, int64_t after,
                   size_t limit, store_row_fn fn, void *ctx, int64_t *last,
                   struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    char sql[1024];

    snprintf(sql, sizeof(sql),
             "SELECT " ROW_COLS ", %s FROM records r %s WHERE %s > ?1 ORDER BY %s LIMIT ?2", seq,
             join, seq, seq);
    if (sqlite3_prepare_v2(index_db_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK) {
        err_set(err, IERR_IO, "%s: %s", index_db_info(db)->path,
                sqlite3_errmsg(index_db_sqlite(db)));
        return -1;
    }
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, limit > 0 ? (sqlite3_int64)limit : -1);
    return walk(db, st, fn, ctx, last, err);
}

int
stores_index_last(struct index_db *db, const char *join, const char *seq, int64_t *out,
                  struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    char sql[512];
    int rc;

    snprintf(sql, sizeof(sql), "SELECT coalesce(max(%s), 0) FROM records r %s", seq, join);
    if (sqlite3_prepare_v2(index_db_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK)
        goto fail;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        goto fail;
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
fail:
    err_set(err, IERR_IO, "%s: %s", index_db_info(db)->path, sqlite3_errmsg(index_db_sqlite(db)));
    sqlite3_finalize(st);
    return -1;
}

long
stores_index_count(struct index_db *db, const struct store_filter *sf, struct intentus_err *err)
{
    struct index_filter f;

    stores_filter(sf, &f);
    return index_query_count(db, sf != NULL ? &f : NULL, err);
}

struct index_db *
stores_index_of(struct store *s, struct intentus_err *err)
{
    if (s->engine == &store_engine_file)
        return store_file_index(s, err);
    if (s->engine == &store_engine_sqlite)
        return store_sqlite_index(s);
    err_set(err, IERR_USAGE, "store %s has no SQLite index", store_url(s));
    return NULL;
}

struct digest *
stores_digest_stored(const char *id, const char *text, size_t len, const char *plain,
                     size_t plain_len, const struct crypt_keyring *keys)
{
    enum crypt_status st = plain != NULL ? CRYPT_OK : CRYPT_PLAIN;
    struct intentus_err why = { 0 };
    char *opened = NULL;
    struct digest *d;

    if (plain == NULL && crypt_is_sealed(text, len)) {
        opened = crypt_open(keys != NULL ? keys : crypt_reader(), CRYPT_RECORD, text, len, id,
                            &plain_len, &st, &why);
        if (opened == NULL) {
            d = digest_corrupt(id, 0, why.msg);
            if (d != NULL) {
                d->flags |= st == CRYPT_NO_KEY || st == CRYPT_KEY_MISSING ? DIGEST_LOCKED
                            : st == CRYPT_TRUNCATED                       ? DIGEST_TRUNCATED
                                                                          : DIGEST_TAMPERED;
                d->file_size = len;
            }
            return d;
        }
        plain = opened;
    }
    d = plain != NULL ? digest_from_text(id, plain, plain_len, NULL)
                      : digest_from_text(id, text, len, NULL);
    if (opened != NULL) {
        explicit_bzero(opened, plain_len);
        free(opened);
    }
    if (d == NULL)
        return NULL;
    if (st == CRYPT_OK) {
        d->flags |= DIGEST_SEALED;
        free(d->note);
        d->note = NULL;
    }
    d->file_size = len;
    return d;
}
