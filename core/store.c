#include "core/store.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/rec_store.h"

const struct store_engine *
store_engine_find(const struct store_engine *const *engines, const char *url, const char **rest,
                  struct intentus_err *err)
{
    const char *colon = url != NULL ? strchr(url, ':') : NULL;
    const char *slash = url != NULL ? strchr(url, '/') : NULL;
    char known[256] = "";
    size_t n, used = 0;

    if (url == NULL || url[0] == '\0') {
        err_set(err, IERR_CONFIG, "store URL is empty");
        return NULL;
    }
    /* No scheme (or a ':' only after a '/', as in a path): a directory. */
    if (colon == NULL || (slash != NULL && slash < colon)) {
        for (size_t i = 0; engines != NULL && engines[i] != NULL; i++)
            if (strcmp(engines[i]->scheme, "file") == 0) {
                if (rest != NULL)
                    *rest = url;
                return engines[i];
            }
        err_set(err, IERR_CONFIG, "store URL %s: no file engine is built in", url);
        return NULL;
    }
    n = (size_t)(colon - url);
    for (size_t i = 0; engines != NULL && engines[i] != NULL; i++) {
        const char *sc = engines[i]->scheme;
        bool hit = strlen(sc) == n && strncmp(sc, url, n) == 0;
        if (!hit && strcmp(sc, "postgres") == 0 && n == 10 && strncmp(url, "postgresql", n) == 0)
            hit = true;
        if (hit) {
            if (rest != NULL)
                *rest = colon + 1;
            return engines[i];
        }
        int w = snprintf(known + used, sizeof(known) - used, "%s%s:", used ? ", " : "", sc);
        if (w > 0 && (size_t)w < sizeof(known) - used)
            used += (size_t)w;
    }
    err_set(err, IERR_CONFIG, "store URL %s: unknown scheme \"%.*s\" (known: %s)", url, (int)n, url,
            used ? known : "none");
    return NULL;
}

struct store *
store_open_url(const struct store_engine *const *engines, const char *url,
               const struct store_opts *opts, struct intentus_err *err)
{
    static const struct store_opts none = { 0 };
    const char *rest = NULL;
    const struct store_engine *e = store_engine_find(engines, url, &rest, err);
    struct store *s;

    if (e == NULL)
        return NULL;
    if (strlen(url) >= STORE_URL_MAX) {
        err_set(err, IERR_CONFIG, "store URL is longer than %d bytes", STORE_URL_MAX - 1);
        return NULL;
    }
    if (opts == NULL)
        opts = &none;
    s = e->open(url, rest, opts, err);
    if (s == NULL)
        return NULL;
    s->engine = e;
    snprintf(s->url, sizeof(s->url), "%s", url);
    s->opts = *opts;
    return s;
}

void
store_close(struct store *s)
{
    if (s != NULL)
        s->engine->close(s);
}

const char *
store_url(const struct store *s)
{
    return s->url;
}

const char *
store_scheme(const struct store *s)
{
    return s->engine->scheme;
}

static int
check_id(const struct store *s, const char *id, struct intentus_err *err)
{
    if (id == NULL || !rec_store_id_is_valid(id)) {
        err_set(err, IERR_INVALID, "store %s: invalid record id \"%s\"", s->url,
                id != NULL ? id : "(null)");
        return -1;
    }
    return 0;
}

static int
check_writable(const struct store *s, struct intentus_err *err)
{
    if (s->opts.read_only) {
        err_set(err, IERR_USAGE, "store %s is open read-only", s->url);
        return -1;
    }
    return 0;
}

int
store_put(struct store *s, const char *id, const char *text, size_t len, struct intentus_err *err)
{
    if (check_id(s, id, err) != 0 || check_writable(s, err) != 0 ||
        rec_store_check_size(id, len, err) != 0)
        return -1;
    return s->engine->put(s, id, text, len, err);
}

int
store_begin(struct store *s, struct intentus_err *err)
{
    if (check_writable(s, err) != 0)
        return -1;
    return s->engine->begin != NULL ? s->engine->begin(s, err) : 0;
}

int
store_commit(struct store *s, struct intentus_err *err)
{
    return s->engine->commit != NULL ? s->engine->commit(s, err) : 0;
}

char *
store_get(struct store *s, const char *id, size_t *len, struct intentus_err *err)
{
    size_t dummy;

    if (check_id(s, id, err) != 0)
        return NULL;
    return s->engine->get(s, id, len != NULL ? len : &dummy, err);
}

char *
store_get_open(struct store *s, const char *id, size_t *len, enum crypt_status *st,
               struct intentus_err *err)
{
    enum crypt_status dummy_st;
    size_t dummy, slen = 0;
    char *text, *plain, shown[STORE_URL_MAX + 160];

    if (st == NULL)
        st = &dummy_st;
    if (len == NULL)
        len = &dummy;
    *st = CRYPT_PLAIN;
    text = store_get(s, id, &slen, err);
    if (text == NULL || !crypt_is_sealed(text, slen)) {
        *len = slen;
        return text;
    }
    snprintf(shown, sizeof(shown), "%s: record %s", s->url, id);
    plain = crypt_open(s->opts.keys != NULL ? s->opts.keys : crypt_reader(), CRYPT_RECORD, text,
                       slen, shown, len, st, err);
    free(text); /* ciphertext: nothing to wipe */
    return plain;
}

char *
store_get_raw(struct store *s, const char *id, size_t *len, struct intentus_err *err)
{
    size_t dummy;

    if (check_id(s, id, err) != 0)
        return NULL;
    if (len == NULL)
        len = &dummy;
    return s->engine->get_raw != NULL ? s->engine->get_raw(s, id, len, err)
                                      : s->engine->get(s, id, len, err);
}

long
store_get_raw_each(struct store *s, const char *const *ids, size_t n, store_text_fn fn, void *ctx,
                   struct intentus_err *err)
{
    long visited = 0;

    for (size_t i = 0; i < n; i++)
        if (check_id(s, ids[i], err) != 0)
            return -1;
    if (s->engine->get_raw_each != NULL)
        return s->engine->get_raw_each(s, ids, n, fn, ctx, err);
    for (size_t i = 0; i < n; i++) {
        struct intentus_err e = { 0 };
        size_t len = 0;
        char *text = store_get_raw(s, ids[i], &len, &e);
        int rc;
        if (text == NULL) {
            if (e.code == IERR_NOT_FOUND)
                continue;
            if (err != NULL)
                *err = e;
            return -1;
        }
        rc = fn(ctx, ids[i], text, len);
        free(text);
        if (rc != 0)
            return rc;
        visited++;
    }
    return visited;
}

int
store_del(struct store *s, const char *id, struct intentus_err *err)
{
    if (check_id(s, id, err) != 0 || check_writable(s, err) != 0)
        return -1;
    return s->engine->del(s, id, err);
}

long
store_query(struct store *s, const struct store_query *q, store_row_fn fn, void *ctx,
            struct intentus_err *err)
{
    static const struct store_query all = { 0 };

    return s->engine->query(s, q != NULL ? q : &all, fn, ctx, err);
}

long
store_count(struct store *s, const struct store_filter *f, struct intentus_err *err)
{
    return s->engine->count(s, f, err);
}

long
store_follow(struct store *s, int64_t *cursor, int timeout_ms, store_row_fn fn, void *ctx,
             struct intentus_err *err)
{
    if (s->engine->follow == NULL) {
        err_set(err, IERR_USAGE, "store %s cannot be followed", s->url);
        return -1;
    }
    return s->engine->follow(s, cursor, timeout_ms, fn, ctx, err);
}

int
store_verify(struct store *s, const char *id, struct intentus_err *err)
{
    size_t len = 0;
    char *text;
    cJSON *rec;
    int rc;

    if (check_id(s, id, err) != 0)
        return -1;
    if (s->engine->verify != NULL)
        return s->engine->verify(s, id, err);
    /* A sealed text (sqlite, postgres) is opened first: its tag is checked,
     * then the record as on files. */
    text = store_get_open(s, id, &len, NULL, err);
    if (text == NULL)
        return -1;
    rec = record_parse(text, len, err);
    explicit_bzero(text, len);
    free(text);
    if (rec == NULL) {
        err_prefix(err, "store %s: record %s", s->url, id);
        return -1;
    }
    if (strcmp(record_id(rec), id) != 0) {
        err_set(err, IERR_VERIFY, "header.executionId '%s' does not match the record id %s",
                record_id(rec), id);
        rc = -1;
    } else {
        rc = envelope_validate(cJSON_GetObjectItemCaseSensitive(rec, "envelope"), err);
        if (rc == 0)
            rc = record_verify_hash(rec, err);
    }
    cJSON_Delete(rec);
    return rc;
}

static int
dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst != NULL ? 0 : -1;
}

int
store_stats(struct store *s, const struct store_filter *f, const struct agg_opts *o,
            struct index_stats *out, struct intentus_err *err)
{
    if (s->engine->stats == NULL)
        return 1;
    return s->engine->stats(s, f, o, out, err) == 0 ? 0 : -1;
}

struct store_row *
store_row_copy(const struct store_row *row)
{
    struct store_row *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    *c = *row;
    if (dup_str(&c->id, row->id) != 0 || dup_str(&c->intent, row->intent) != 0 ||
        dup_str(&c->strategy, row->strategy) != 0 || dup_str(&c->agent, row->agent) != 0 ||
        dup_str(&c->error_code, row->error_code) != 0 || dup_str(&c->node, row->node) != 0 ||
        dup_str(&c->note, row->note) != 0) {
        store_row_free(c);
        return NULL;
    }
    return c;
}

void
store_row_free(struct store_row *row)
{
    if (row == NULL)
        return;
    free(row->id);
    free(row->intent);
    free(row->strategy);
    free(row->agent);
    free(row->error_code);
    free(row->node);
    free(row->note);
    free(row);
}

int
store_url_for_dir(const char *dir, char *buf, size_t size)
{
    int n = snprintf(buf, size, "file:%s", dir);

    return n >= 0 && (size_t)n < size ? 0 : -1;
}
