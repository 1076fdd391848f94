/* file:DIR: today's layout, one <executionId>.json per record
 * (core/rec_store.h), written byte for byte as given; queries go through
 * the directory's persistent index (watch/index_db.h), reconciled with the
 * files each time a query starts, so they always see the files as they are
 * (the files stay the source of truth). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/rec_store.h"
#include "core/safe_file.h"
#include "watch/stores.h"

#define SEQ "r.rid"

struct file_store {
    struct store base;
    struct rec_store *rs;
    struct index_db *db; /* opened by the last query; NULL before */
};

static struct file_store *
of(struct store *s)
{
    return (struct file_store *)s;
}

static void file_close(struct store *s);

static struct store *
file_open(const char *url, const char *rest, const struct store_opts *opts,
          struct intentus_err *err)
{
    struct file_store *fs = calloc(1, sizeof(*fs));
    struct rec_store_opts ro = { 0 };

    if (fs == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    /* file:DIR and file://DIR alike */
    if (strncmp(rest, "//", 2) == 0)
        rest += 2;
    if (rest[0] == '\0') {
        err_set(err, IERR_CONFIG, "store URL %s names no directory (file:DIR)", url);
        goto fail;
    }
    ro.create = opts->create && !opts->read_only;
    ro.fsync = opts->fsync;
    ro.encrypt = opts->encrypt;
    ro.keys = opts->keys;
    fs->rs = rec_store_open(rest, &ro, err);
    if (fs->rs == NULL)
        goto fail;
    return &fs->base;
fail:
    file_close(&fs->base);
    return NULL;
}

static void
file_close(struct store *s)
{
    struct file_store *fs = of(s);

    if (fs == NULL)
        return;
    index_db_close(fs->db);
    rec_store_close(fs->rs);
    free(fs);
}

static char *
file_get(struct store *s, const char *id, size_t *len, struct intentus_err *err)
{
    struct intentus_err e = { 0 };
    char *text = rec_store_read(of(s)->rs, id, len, &e);

    if (text == NULL) {
        char p[160];
        snprintf(p, sizeof(p), "%s.json", id);
        /* rec_store_read says IO for a missing file; tell absence apart. */
        if (faccessat(rec_store_dirfd(of(s)->rs), p, F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
            errno == ENOENT) {
            snprintf(p, sizeof(p), "%s.json.gz", id);
            if (faccessat(rec_store_dirfd(of(s)->rs), p, F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
                errno == ENOENT)
                e.code = IERR_NOT_FOUND;
        }
        if (err != NULL)
            *err = e;
    }
    return text;
}

/* The bytes of <id>.json as they are (sealed stays sealed). A record
 * archived as <id>.json.gz is its text (gunzipped) when it is plain; a
 * sealed archive holds the gzip sealed, not a sealed record text, so it is
 * refused, naming it. */
static char *
file_get_raw(struct store *s, const char *id, size_t *len, struct intentus_err *err)
{
    struct file_store *fs = of(s);
    struct intentus_err e = { 0 };
    enum crypt_status st = CRYPT_PLAIN;
    char name[160], shown[4400], *text;
    int fd;

    snprintf(name, sizeof(name), "%s.json", id);
    snprintf(shown, sizeof(shown), "%s/%s", rec_store_dir(fs->rs), name);
    fd = safe_file_open(rec_store_dirfd(fs->rs), name, shown, REC_STORE_MAX_FILE, &e);
    if (fd >= 0) {
        text = safe_file_read_fd(fd, shown, REC_STORE_MAX_FILE, len, err);
        close(fd);
        return text;
    }
    if (e.code != IERR_NOT_FOUND) {
        if (err != NULL)
            *err = e;
        return NULL;
    }
    text = rec_store_read_st(fs->rs, id, len, &st, err);
    if (text == NULL) {
        if (st == CRYPT_PLAIN)
            return file_get(s, id, len, err); /* tells absence apart */
        return NULL;
    }
    if (st == CRYPT_OK) {
        explicit_bzero(text, *len);
        free(text);
        err_set(err, IERR_INVALID,
                "%s/%s.json.gz is a sealed archive (the gzip is sealed, not the record text): "
                "copy it with --decrypt",
                rec_store_dir(fs->rs), id);
        return NULL;
    }
    return text;
}

static int
file_put(struct store *s, const char *id, const char *text, size_t len, struct intentus_err *err)
{
    struct file_store *fs = of(s);
    struct intentus_err e = { 0 };
    size_t old_len = 0;
    /* Sealed bytes are compared with the file's bytes, a text with the
     * file's text (opened when the file is sealed). */
    bool sealed = crypt_is_sealed(text, len);
    char *old = sealed ? file_get_raw(s, id, &old_len, &e) : file_get(s, id, &old_len, &e);
    int rc;

    if (old == NULL && e.code != IERR_NOT_FOUND) {
        if (err != NULL)
            *err = e;
        return -1;
    }
    if (old == NULL) {
        if (rec_store_put_text(fs->rs, id, text, len, err) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
        /* Someone stored it meanwhile: compare with theirs. */
        old = sealed ? file_get_raw(s, id, &old_len, err) : file_get(s, id, &old_len, err);
        if (old == NULL)
            return -1;
    }
    rc = old_len == len && memcmp(old, text, len) == 0 ? 1 : -1;
    if (rc < 0)
        err_set(err, IERR_INVALID,
                "record %s is already stored in %s with different content (%zu bytes there, %zu "
                "given)",
                id, rec_store_dir(fs->rs), old_len, len);
    free(old);
    return rc;
}

static int
file_del(struct store *s, const char *id, struct intentus_err *err)
{
    struct file_store *fs = of(s);
    char name[160];
    int rc;

    snprintf(name, sizeof(name), "%s.json", id);
    rc = unlinkat(rec_store_dirfd(fs->rs), name, 0);
    if (rc != 0 && errno == ENOENT) {
        snprintf(name, sizeof(name), "%s.json.gz", id);
        rc = unlinkat(rec_store_dirfd(fs->rs), name, 0);
    }
    if (rc != 0) {
        err_set(err, errno == ENOENT ? IERR_NOT_FOUND : IERR_IO, "cannot delete %s/%s: %s",
                rec_store_dir(fs->rs), name, strerror(errno));
        return -1;
    }
    if (s->opts.fsync && fsync(rec_store_dirfd(fs->rs)) != 0) {
        err_set(err, IERR_IO, "cannot fsync directory %s: %s", rec_store_dir(fs->rs),
                strerror(errno));
        return -1;
    }
    return 0;
}

struct index_db *
store_file_index(struct store *s, struct intentus_err *err)
{
    struct file_store *fs = of(s);

    index_db_close(fs->db);
    fs->db = index_db_open(rec_store_dir(fs->rs), false, err);
    return fs->db;
}

const char *
store_file_dir(const struct store *s)
{
    return rec_store_dir(((const struct file_store *)s)->rs);
}

static long
file_query(struct store *s, const struct store_query *q, store_row_fn fn, void *ctx,
           struct intentus_err *err)
{
    struct index_db *db = store_file_index(s, err);

    return db != NULL ? stores_index_query(db, "", SEQ, q, fn, ctx, err) : -1;
}

static long
file_count(struct store *s, const struct store_filter *f, struct intentus_err *err)
{
    struct index_db *db = store_file_index(s, err);

    return db != NULL ? stores_index_count(db, f, err) : -1;
}

/* seq is the index row's rid: a new or rewritten file gets a larger one. */
static long
file_follow(struct store *s, int64_t *cursor, int timeout_ms, store_row_fn fn, void *ctx,
            struct intentus_err *err)
{
    int64_t start = clock_mono_us();

    for (;;) {
        struct index_db *db = store_file_index(s, err);
        long n;
        if (db == NULL)
            return -1;
        if (*cursor < 0)
            return stores_index_last(db, "", SEQ, cursor, err) == 0 ? 0 : -1;
        n = stores_index_since(db, "", SEQ, *cursor, 1000, fn, ctx, cursor, err);
        if (n != 0 || timeout_ms <= 0 || clock_mono_us() - start >= (int64_t)timeout_ms * 1000)
            return n;
        struct timespec ts = { 0, 100L * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

const struct store_engine store_engine_file = {
    .scheme = "file",
    .summary = "file:DIR  one JSON file per record (the default)",
    .open = file_open,
    .close = file_close,
    .put = file_put,
    .begin = NULL,
    .commit = NULL,
    .get = file_get,
    .get_raw = file_get_raw,
    .del = file_del,
    .query = file_query,
    .count = file_count,
    .follow = file_follow,
    .verify = NULL,
};
