/* The record filters of `intentus records` (--intent, --agent, --status,
 * --error, --since, --search): as a watch/ index filter, and applied to one
 * record at a time through the index's own matching, so list, stats, tail
 * and gc all select exactly the same records. Declared in cli_records.h. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypt.h"
#include "core/rec_store.h"
#include "tui/cli.h"
#include "tui/cli_records.h"
#include "watch/digest.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/index_query.h"
#include "watch/scan.h"
#include "watch/stores.h"
#include "watch/tailer.h"

void
cli_records_filter(const struct rec_args *a, struct index_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->intent = a->intent;
    f->agent = a->agent;
    f->status = a->status;
    f->error_code = a->error_code;
    f->text = a->search;
    if (a->since_ms >= 0)
        f->since_us = clock_wall_us() - a->since_ms * 1000;
}

bool
cli_records_filtered(const struct rec_args *a)
{
    return a->intent != NULL || a->agent != NULL || a->status != NULL || a->error_code != NULL ||
           a->search != NULL || a->since_ms >= 0;
}

struct cli_select {
    struct index *probe; /* holds the one record being asked about */
    struct index_filter f;
};

struct cli_select *
cli_select_new(const struct rec_args *a)
{
    struct cli_select *s = calloc(1, sizeof(*s));

    if (s == NULL || (s->probe = index_new()) == NULL) {
        free(s);
        return NULL;
    }
    cli_records_filter(a, &s->f);
    return s;
}

void
cli_select_free(struct cli_select *s)
{
    if (s == NULL)
        return;
    index_free(s->probe);
    free(s);
}

const struct index_filter *
cli_select_filter(const struct cli_select *s)
{
    return &s->f;
}

/* The index's own matching (index_query), on a one-record index, so every
 * command selects exactly what `records list` with the same filters lists. */
bool
cli_select_digest(struct cli_select *s, const struct digest *d)
{
    bool match;

    if (index_upsert(s->probe, d, NULL) != 0)
        return false;
    match = index_query(s->probe, &s->f, false, 1, NULL, NULL) == 1;
    index_remove(s->probe, d->id);
    return match;
}

struct select_into {
    struct cli_select *sel;
    struct index *ix;
};

static int
emit_selected(void *ctx, const char *id, struct digest *d)
{
    struct select_into *si = ctx;

    if (d == NULL) {
        index_remove(si->ix, id);
        return 0;
    }
    if (cli_select_digest(si->sel, d))
        index_upsert(si->ix, d, NULL);
    digest_free(d);
    return 0;
}

int
cli_records_index(const char *dir, struct cli_select *sel, struct index *ix,
                  struct intentus_err *err)
{
    struct select_into si = { sel, ix };
    struct rec_store *rs;
    struct scan *sc;
    int rc;

    if (sel == NULL)
        return tailer_index_dir(dir, ix, err);
    rs = rec_store_open(dir, NULL, err);
    if (rs == NULL)
        return -1;
    sc = scan_new(NULL);
    if (sc == NULL) {
        rec_store_close(rs);
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    rc = scan_full(sc, rs, clock_mono_us(), emit_selected, &si, err);
    scan_free(sc);
    rec_store_close(rs);
    return rc;
}

static int
load_row(void *ctx, const struct digest *d)
{
    struct select_into *si = ctx;

    index_upsert(si->ix, d, NULL);
    return 0;
}

bool
cli_records_store_remote(const struct rec_args *a)
{
    const char *rest = NULL;
    const struct store_engine *e =
        a->store != NULL ? store_engine_find(stores_builtin, a->store, &rest, NULL) : NULL;

    return e != NULL && e != &store_engine_sqlite && e != &store_engine_file;
}

struct store_ids {
    char **ids;
    int64_t *created_us; /* the engine's time: a corrupt record's */
    size_t n, cap;
    bool failed;
};

static int
collect_id(void *ctx, const struct store_row *row)
{
    struct store_ids *si = ctx;

    if (si->n == si->cap) {
        size_t cap = si->cap ? si->cap * 2 : 256;
        char **ids = realloc(si->ids, cap * sizeof(*ids));
        int64_t *cr = ids != NULL ? realloc(si->created_us, cap * sizeof(*cr)) : NULL;
        if (ids != NULL)
            si->ids = ids;
        if (cr == NULL) {
            si->failed = true;
            return 1;
        }
        si->created_us = cr;
        si->cap = cap;
    }
    if ((si->ids[si->n] = strdup(row->id)) == NULL) {
        si->failed = true;
        return 1;
    }
    si->created_us[si->n++] = row->created_us;
    return 0;
}

/* One record: its text through the engine, digested as the file scan
 * digests a file (a corrupt record keeps the engine's stored time).
 * 0 (also when it was deleted since the query saw it), or -1 with err. */
static int
store_digest_into(struct store *st, const char *id, int64_t created_us, struct cli_select *sel,
                  struct index *ix, struct intentus_err *err)
{
    size_t len = 0, slen = 0;
    enum crypt_status cst = CRYPT_PLAIN;
    struct intentus_err why = { 0 };
    char *text = store_get(st, id, &slen, err), *plain = NULL;
    struct digest *d;

    if (text == NULL) {
        if (err->code != IERR_NOT_FOUND)
            return -1;
        memset(err, 0, sizeof(*err));
        return 0;
    }
    /* A sealed record (an engine that encrypts): digested from its
     * plaintext when a reading key opens it, as watch/scan.c digests a
     * sealed file, so the answer is the file engine's. */
    len = slen;
    if (crypt_is_sealed(text, slen)) {
        plain = crypt_open(crypt_reader(), CRYPT_RECORD, text, slen, id, &len, &cst, &why);
    }
    if (cst == CRYPT_PLAIN)
        d = digest_from_text(id, text, len, NULL);
    else if (plain != NULL)
        d = digest_from_text(id, plain, len, NULL);
    else
        d = digest_corrupt(id, 0, why.msg);
    if (plain != NULL) {
        explicit_bzero(plain, len);
        free(plain);
    }
    free(text);
    if (d == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    if (cst == CRYPT_OK) {
        d->flags |= DIGEST_SEALED;
        free(d->note);
        d->note = NULL;
    } else if (cst == CRYPT_NO_KEY || cst == CRYPT_KEY_MISSING) {
        d->flags |= DIGEST_LOCKED;
    } else if (cst == CRYPT_TAMPERED || cst == CRYPT_BAD_FORMAT) {
        d->flags |= DIGEST_TAMPERED;
    } else if (cst == CRYPT_TRUNCATED) {
        d->flags |= DIGEST_TRUNCATED;
    }
    d->file_size = slen;
    if (d->flags & DIGEST_CORRUPT)
        d->created_us = created_us;
    if (sel == NULL || cli_select_digest(sel, d))
        index_upsert(ix, d, NULL);
    digest_free(d);
    return 0;
}

int
cli_records_index_store(const struct rec_args *a, struct cli_select *sel, struct index *ix,
                        struct intentus_err *err)
{
    struct store_opts o = { .read_only = true };
    struct store *st = store_open_url(stores_builtin, a->store, &o, err);
    struct store_filter sf = { 0 };
    struct store_query q = { .filter = sel != NULL ? &sf : NULL };
    struct store_ids ids = { 0 };
    int rc = -1;

    if (st == NULL) {
        err_prefix(err, "%s", a->store);
        return -1;
    }
    if (sel != NULL) {
        /* The filters as the engine's WHERE clause (fewer texts fetched);
         * each record is then matched as the index matches it. */
        sf = (struct store_filter){ .intent = sel->f.intent,
                                    .agent = sel->f.agent,
                                    .status = sel->f.status,
                                    .error_code = sel->f.error_code,
                                    .text = sel->f.text,
                                    .since_us = sel->f.since_us };
    }
    /* The ids first: an engine may stream the query on the connection a
     * get needs (postgres), so no get runs inside the walk. */
    if (store_query(st, &q, collect_id, &ids, err) < 0 || ids.failed) {
        if (ids.failed)
            err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < ids.n; i++) {
        if (store_digest_into(st, ids.ids[i], ids.created_us[i], sel, ix, err) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        err_prefix(err, "%s", a->store);
    for (size_t i = 0; i < ids.n; i++)
        free(ids.ids[i]);
    free(ids.ids);
    free(ids.created_us);
    store_close(st);
    return rc;
}

int
cli_records_index_of(const struct rec_args *a, const char *dir, struct cli_select *sel,
                     struct index *ix, struct intentus_err *err)
{
    if (cli_records_store_remote(a))
        return cli_records_index_store(a, sel, ix, err);
    return cli_records_index(dir, sel, ix, err);
}

struct index_db *
cli_records_store_db(const struct rec_args *a, struct intentus_err *err)
{
    struct index_db *db;
    const char *rest = NULL;
    const struct store_engine *e = store_engine_find(stores_builtin, a->store, &rest, err);

    if (e == NULL)
        return NULL;
    if (e != &store_engine_sqlite) {
        err_set(err, IERR_USAGE, "%s: the %s engine has no local record index for %s", a->store,
                e->scheme, a->cmd);
        return NULL;
    }
    if (strncmp(rest, "//", 2) == 0)
        rest += 2;
    db = index_db_open_path(rest, false, false, err);
    if (db != NULL && store_sqlite_is_store(db, err) != 0) {
        index_db_close(db);
        return NULL;
    }
    return db;
}

struct index_db *
cli_records_db(const struct rec_args *a, const char *dir, struct intentus_err *err)
{
    struct intentus_err why = { 0 };
    struct index_db *db;

    memset(err, 0, sizeof(*err));
    /* Another engine than files: its index is the store; it cannot fall
     * back to files, so a failure is an error (err set). */
    if (a->store != NULL) {
        /* An engine with no local SQLite file (postgres): NULL, err
         * clear; the command reads through cli_records_index_of. */
        if (cli_records_store_remote(a))
            return NULL;
        db = cli_records_store_db(a, err);
        if (db == NULL && err->code == IERR_OK)
            err->code = IERR_IO;
        return db;
    }
    if (a->no_index)
        return NULL;
    db = index_db_open(dir, false, &why);
    if (db != NULL)
        return db;
    /* The index is a cache: without it the files still answer. */
    if (why.code == IERR_NOT_FOUND)
        err_set(err, why.code, "%s", why.msg);
    else
        cli_error(a->cmd, "%s; reading the record files instead", why.msg);
    return NULL;
}

void
cli_records_db_failed(const struct rec_args *a, const struct intentus_err *why)
{
    if (a->store != NULL)
        cli_error(a->cmd, "%s: %s", a->store, why->msg);
    else
        cli_error(a->cmd, "%s; reading the record files instead", why->msg);
}

int
cli_records_load(const struct rec_args *a, const char *dir, struct cli_select *sel, size_t newest,
                 struct index *ix, struct intentus_err *err)
{
    struct select_into si = { sel, ix };
    struct intentus_err why = { 0 };
    struct index_db *db = cli_records_db(a, dir, err);
    long rc;

    if (db == NULL)
        return err->code != 0 ? -1 : cli_records_index_of(a, dir, sel, ix, err);
    /* The filters are the query's WHERE clause (watch/index_query.h). */
    if (sel == NULL)
        rc = index_db_each(db, newest, load_row, &si, &why);
    else
        rc = index_query_select(db, &sel->f, false, 0, load_row, &si, &why) < 0 ? -1 : 0;
    index_db_close(db);
    if (rc != 0 && a->store != NULL) {
        *err = why;
        return -1;
    }
    if (rc != 0) {
        cli_error(a->cmd, "%s; reading the record files instead", why.msg);
        index_clear(ix);
        return cli_records_index(dir, sel, ix, err);
    }
    return 0;
}
