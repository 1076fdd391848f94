#include "watch/index_query.h"

#include <assert.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"

#define MAX_BINDS 16

/* A WHERE clause: fixed SQL text with numbered parameters, and their
 * values. No text from the user ever goes into the SQL itself. */
struct where {
    char sql[1536];
    size_t len;
    struct {
        const char *s; /* NULL: the integer */
        int64_t i;
    } v[MAX_BINDS];
    int n;
    bool text; /* the C-side text match is used */
};

static int
bind_s(struct where *w, const char *s)
{
    assert(w->n < MAX_BINDS);
    w->v[w->n].s = s;
    return ++w->n;
}

static int
bind_i(struct where *w, int64_t i)
{
    assert(w->n < MAX_BINDS);
    w->v[w->n].s = NULL;
    w->v[w->n].i = i;
    return ++w->n;
}

/* Append one condition; fmt holds only our own SQL and %d for parameter
 * numbers. */
static void add(struct where *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add(struct where *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    /* The conditions are ours and few (at most one per filter field): they
     * always fit; running out of room is a programmer error. */
    assert(w->len + 256 < sizeof(w->sql));
    w->len += (size_t)snprintf(w->sql + w->len, sizeof(w->sql) - w->len, "%s",
                               w->len == 0 ? "" : " AND ");
    va_start(ap, fmt);
    n = vsnprintf(w->sql + w->len, sizeof(w->sql) - w->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        w->len += (size_t)n;
}

/* The same meaning as watch/index.c's matches(): see struct index_filter.
 * w->sql is the conjunction ("" when f selects everything). */
static void
where_of(const struct index_filter *f, struct where *w)
{
    memset(w, 0, sizeof(*w));
    if (f == NULL)
        return;
    if (f->intent != NULL)
        add(w, "r.intent = ?%d", bind_s(w, f->intent));
    if (f->error_code != NULL) {
        int p = bind_s(w, f->error_code);
        add(w,
            "(r.error_code = ?%d OR EXISTS(SELECT 1 FROM attempts a WHERE a.rid = r.rid"
            " AND a.kind = %d AND a.error_code = ?%d))",
            p, DIGEST_STEP_FAIL, p);
    }
    if (f->failed_agent != NULL) {
        int p = bind_s(w, f->failed_agent);
        add(w,
            "((r.status = %d AND r.agent = ?%d) OR EXISTS(SELECT 1 FROM attempts a"
            " WHERE a.rid = r.rid AND a.kind = %d AND a.agent = ?%d))",
            RECORD_ERROR, p, DIGEST_STEP_FAIL, p);
    }
    if (f->status != NULL) {
        if (strcmp(f->status, "corrupt") == 0)
            add(w, "(r.flags & %u) != 0", (unsigned)DIGEST_CORRUPT);
        else
            add(w, "(r.flags & %u) = 0 AND r.status = ?%d", (unsigned)DIGEST_CORRUPT,
                bind_i(w, strcmp(f->status, "ok") == 0      ? RECORD_OK
                          : strcmp(f->status, "error") == 0 ? RECORD_ERROR
                                                            : RECORD_INCOMPLETE));
    }
    if (f->since_us != 0)
        add(w, "r.created_us >= ?%d", bind_i(w, f->since_us));
    if (f->until_us != 0)
        add(w, "r.created_us < ?%d", bind_i(w, f->until_us));
    if (f->agent != NULL) {
        int p = bind_s(w, f->agent);
        add(w,
            "(r.agent = ?%d OR EXISTS(SELECT 1 FROM attempts a WHERE a.rid = r.rid"
            " AND a.agent = ?%d))",
            p, p);
    }
    if (f->text != NULL && f->text[0] != '\0') {
        w->text = true;
        add(w, "intentus_text(r.id, r.intent, ?%d)", bind_s(w, f->text));
    }
}

/* --search: a case-insensitive substring of the id or the intent, as
 * strcasestr() finds it in index_query(); SQL's LIKE would also take % and
 * _ as wildcards, and its case folding is not the C library's. */
static void
text_fn(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    const char *id = (const char *)sqlite3_value_text(argv[0]);
    const char *intent = (const char *)sqlite3_value_text(argv[1]);
    const char *text = (const char *)sqlite3_value_text(argv[2]);

    (void)argc;
    sqlite3_result_int(cx, text != NULL && ((id != NULL && strcasestr(id, text) != NULL) ||
                                            (intent != NULL && strcasestr(intent, text) != NULL)));
}

static int
fail(struct index_db *db, const char *what, struct intentus_err *err)
{
    err_set(err, IERR_IO, "index %s: %s: %s", index_db_info(db)->path, what,
            sqlite3_errmsg(index_db_sqlite(db)));
    return -1;
}

static int
prepare(struct index_db *db, const char *sql, const struct where *w, sqlite3_stmt **st,
        struct intentus_err *err)
{
    sqlite3 *h = index_db_sqlite(db);

    *st = NULL;
    if (w != NULL && w->text &&
        sqlite3_create_function(h, "intentus_text", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                text_fn, NULL, NULL) != SQLITE_OK)
        return fail(db, "register intentus_text", err);
    if (sqlite3_prepare_v2(h, sql, -1, st, NULL) != SQLITE_OK)
        return fail(db, "prepare a query", err);
    for (int i = 0; w != NULL && i < w->n; i++) {
        if (w->v[i].s != NULL)
            sqlite3_bind_text(*st, i + 1, w->v[i].s, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(*st, i + 1, w->v[i].i);
    }
    return 0;
}

static const char *
col_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

int
index_query_prepare(struct index_db *db, const char *sql, const struct index_filter *f,
                    struct sqlite3_stmt **st, struct intentus_err *err)
{
    struct where w;
    const char *mark = strstr(sql, INDEX_QUERY_WHERE);
    char full[4096];

    where_of(f, &w);
    if (mark == NULL) {
        err_set(err, IERR_INVALID, "index query without %s", INDEX_QUERY_WHERE);
        return -1;
    }
    snprintf(full, sizeof(full), "%.*s(%s)%s", (int)(mark - sql), sql, w.len ? w.sql : "1",
             mark + strlen(INDEX_QUERY_WHERE));
    return prepare(db, full, &w, st, err) == 0 ? w.n : -1;
}

/* One read transaction, so a query sees one state of the index. */
static int
begin(struct index_db *db, struct intentus_err *err)
{
    return sqlite3_exec(index_db_sqlite(db), "BEGIN", NULL, NULL, NULL) == SQLITE_OK
               ? 0
               : fail(db, "begin", err);
}

static void
end(struct index_db *db)
{
    sqlite3_exec(index_db_sqlite(db), "COMMIT", NULL, NULL, NULL);
}

/* ---- select ---- */

struct steps {
    struct digest_step *v;
    size_t n, cap;
};

static void
steps_clear(struct steps *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->v[i].agent);
        free((char *)s->v[i].code);
    }
    s->n = 0;
}

/* The attempts of row rid, in their order, into s. */
static int
load_steps(sqlite3_stmt *st, sqlite3_int64 rid, struct steps *s)
{
    int rc;

    sqlite3_bind_int64(st, 1, rid);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct digest_step *d;
        if (s->n == s->cap) {
            size_t ncap = s->cap ? s->cap * 2 : 16;
            struct digest_step *p = realloc(s->v, ncap * sizeof(*p));
            if (p == NULL) {
                sqlite3_reset(st);
                return SQLITE_NOMEM;
            }
            s->v = p;
            s->cap = ncap;
        }
        d = &s->v[s->n++];
        d->agent = col_text(st, 0) ? strdup(col_text(st, 0)) : NULL;
        d->code = col_text(st, 2) ? strdup(col_text(st, 2)) : NULL;
        d->kind = (uint8_t)sqlite3_column_int(st, 1);
        d->latency_us = sqlite3_column_int64(st, 3);
        d->is_retry = (uint8_t)sqlite3_column_int(st, 4);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void
row_digest(sqlite3_stmt *rec, struct digest *d)
{
    memset(d, 0, sizeof(*d));
    d->id = (char *)col_text(rec, 1);
    d->created_us = sqlite3_column_int64(rec, 2);
    d->intent = (char *)col_text(rec, 3);
    d->strategy = (char *)col_text(rec, 4);
    d->agent = (char *)col_text(rec, 5);
    d->status = (enum record_status)sqlite3_column_int(rec, 6);
    d->error_code = (char *)col_text(rec, 7);
    d->node = (char *)col_text(rec, 8);
    d->duration_us = sqlite3_column_int64(rec, 9);
    d->attempts = sqlite3_column_int(rec, 10);
    d->retries = sqlite3_column_int(rec, 11);
    d->events = sqlite3_column_int(rec, 12);
    d->flags = (unsigned)sqlite3_column_int64(rec, 13);
    d->file_size = (uint64_t)sqlite3_column_int64(rec, 14);
    d->note = (char *)(col_text(rec, 15) ? col_text(rec, 15) : col_text(rec, 16));
}

long
index_query_select(struct index_db *db, const struct index_filter *f, bool newest_first,
                   size_t limit, index_db_each_fn fn, void *ctx, struct intentus_err *err)
{
    struct where w;
    char sql[2048];
    sqlite3_stmt *rec = NULL, *stp = NULL;
    struct steps s = { 0 };
    long visited = -1;
    int rc;

    where_of(f, &w);
    snprintf(sql, sizeof(sql),
             "SELECT r.rid, r.id, r.created_us, r.intent, r.strategy, r.agent, r.status,"
             " r.error_code, r.node, r.duration_us, r.attempts, r.retries, r.events, r.flags,"
             " r.file_size, r.corrupt, r.note FROM records r%s%s ORDER BY r.created_us %s,"
             " r.id %s LIMIT ?%d",
             w.len ? " WHERE " : "", w.sql, newest_first ? "DESC" : "ASC",
             newest_first ? "DESC" : "ASC", w.n + 1);
    if (begin(db, err) != 0)
        return -1;
    if (prepare(db, sql, &w, &rec, err) != 0 ||
        prepare(db,
                "SELECT agent, kind, error_code, latency_us, is_retry FROM attempts"
                " WHERE rid = ? ORDER BY seq",
                NULL, &stp, err) != 0)
        goto out;
    sqlite3_bind_int64(rec, w.n + 1, limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit);
    visited = 0;
    while ((rc = sqlite3_step(rec)) == SQLITE_ROW) {
        struct digest d;
        int stop;
        if (col_text(rec, 1) == NULL)
            continue;
        steps_clear(&s);
        if ((rc = load_steps(stp, sqlite3_column_int64(rec, 0), &s)) != SQLITE_OK)
            break;
        row_digest(rec, &d);
        d.steps = s.v;
        d.n_steps = s.n;
        visited++;
        stop = fn != NULL ? fn(ctx, &d) : 0;
        if (stop != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_NOMEM)
            err_set(err, IERR_NOMEM, NULL);
        else
            fail(db, "read the index", err);
        visited = -1;
    }
out:
    steps_clear(&s);
    free(s.v);
    sqlite3_finalize(rec);
    sqlite3_finalize(stp);
    end(db);
    return visited;
}

long
index_query_count(struct index_db *db, const struct index_filter *f, struct intentus_err *err)
{
    struct where w;
    char sql[2048];
    sqlite3_stmt *st = NULL;
    long n = -1;

    where_of(f, &w);
    if (w.len == 0) {
        /* Every record: the whole index's counter of record rows
         * (watch/index_counts.h, current in the same transaction as the
         * rows), one row instead of a pass over 1M of them. No counter
         * row is no record (a counter at zero is deleted); a database
         * without the table falls back to counting. */
        if (sqlite3_prepare_v2(index_db_sqlite(db),
                               "SELECT coalesce((SELECT n FROM counts WHERE kind = 0 AND"
                               " name = '' AND what = 0 AND sub = 0 AND code = ''), 0)",
                               -1, &st, NULL) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW)
                n = (long)sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
            if (n >= 0)
                return n;
        }
        st = NULL;
    }
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM records r%s%s", w.len ? " WHERE " : "", w.sql);
    if (prepare(db, sql, &w, &st, err) == 0) {
        if (sqlite3_step(st) == SQLITE_ROW)
            n = (long)sqlite3_column_int64(st, 0);
        else
            fail(db, "count", err);
    }
    sqlite3_finalize(st);
    return n;
}

/* ---- ids ---- */

long
index_query_prefix(struct index_db *db, const char *prefix, char **ids, size_t max,
                   struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t plen = strlen(prefix);
    long n = 0;
    int rc;

    /* The id column's unique index gives the ids in order from prefix on;
     * the first that does not start with it ends the run. */
    if (prepare(db, "SELECT id FROM records WHERE id >= ?1 ORDER BY id LIMIT ?2", NULL, &st, err) !=
        0)
        return -1;
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = col_text(st, 0);
        if (id == NULL || strncmp(id, prefix, plen) != 0) {
            rc = SQLITE_DONE;
            break;
        }
        if ((size_t)n < max && (ids[n] = strdup(id)) == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        for (long i = 0; i < n && (size_t)i < max; i++)
            free(ids[i]);
        if (rc == SQLITE_NOMEM)
            err_set(err, IERR_NOMEM, NULL);
        else
            fail(db, "look up ids", err);
        n = -1;
    }
    sqlite3_finalize(st);
    return n;
}

/* ---- retention ---- */

void
index_query_files_free(struct index_query_file *files, size_t n)
{
    for (size_t i = 0; files != NULL && i < n; i++) {
        free(files[i].id);
        free(files[i].intent);
    }
    free(files);
}

int
index_query_files(struct index_db *db, const struct index_filter *f, struct index_query_file **out,
                  size_t *n, struct intentus_err *err)
{
    struct where w;
    char sql[2048];
    sqlite3_stmt *st = NULL;
    struct index_query_file *v = NULL;
    size_t cap = 0, count = 0;
    int rc = SQLITE_ERROR;

    *out = NULL;
    *n = 0;
    where_of(f, &w);
    snprintf(sql, sizeof(sql),
             "SELECT r.id, r.intent, r.created_us, r.file_size, r.mtime_ns, r.inode, r.flags, %s"
             " FROM records r",
             w.len ? w.sql : "1");
    if (begin(db, err) != 0)
        return -1;
    if (prepare(db, sql, &w, &st, err) != 0)
        goto out;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct index_query_file *x;
        if (col_text(st, 0) == NULL)
            continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            struct index_query_file *p = realloc(v, ncap * sizeof(*p));
            if (p == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = p;
            cap = ncap;
        }
        x = &v[count];
        memset(x, 0, sizeof(*x));
        x->id = strdup(col_text(st, 0));
        x->intent = col_text(st, 1) ? strdup(col_text(st, 1)) : NULL;
        if (x->id == NULL || (col_text(st, 1) != NULL && x->intent == NULL)) {
            free(x->id);
            free(x->intent);
            rc = SQLITE_NOMEM;
            break;
        }
        x->created_us = sqlite3_column_int64(st, 2);
        x->size = sqlite3_column_int64(st, 3);
        x->mtime_ns = sqlite3_column_int64(st, 4);
        x->ino = (uint64_t)sqlite3_column_int64(st, 5);
        x->is_corrupt = (sqlite3_column_int64(st, 6) & DIGEST_CORRUPT) != 0;
        x->is_selected = sqlite3_column_int(st, 7) != 0;
        count++;
    }
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_NOMEM)
            err_set(err, IERR_NOMEM, NULL);
        else
            fail(db, "read the index", err);
        index_query_files_free(v, count);
        v = NULL;
        count = 0;
    }
out:
    sqlite3_finalize(st);
    end(db);
    *out = v;
    *n = count;
    return rc == SQLITE_DONE ? 0 : -1;
}
