/* intentus records migrate --from URL --to URL, records import --from URL
 * and records export --to URL: copy records between stores (core/store.h)
 * losslessly. Every record's text is copied byte for byte (a corrupt file's
 * bytes too: it stays what it was), put by execution id so a second run
 * copies nothing again (idempotent) and an interrupted one resumes where
 * it stopped; each copy is read back from the destination and its SHA-256
 * compared with the source's, so "copied" means verified. Destination
 * writes are batched (one transaction per batch on sqlite) and synced.
 *
 * Sealed records (recording.encryption) stay sealed: without --decrypt a
 * record is copied as the bytes the source holds (store_get_raw: the file
 * engine's sealed file, the sealed text of sqlite and postgres), and the
 * SHA-256 checked is the sealed bytes'. A database destination fills its
 * index columns from the plaintext, so a sealed record goes there only
 * when the reading keys open it; otherwise it fails, named, and nothing
 * is written for it. A file destination takes it either way (a file is
 * its bytes). With --decrypt the destination gets the plaintext. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/store.h"
#include "tui/cli.h"
#include "tui/cli_records.h"
#include "tui/fmt.h"
#include "watch/stores.h"

#define COPY_BATCH 256

struct copy_ids {
    char **id;
    unsigned *flags;
    size_t n, cap;
    bool failed;
};

static int
collect(void *ctx, const struct store_row *row)
{
    struct copy_ids *c = ctx;

    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        char **id = realloc(c->id, cap * sizeof(*id));
        unsigned *fl = id != NULL ? realloc(c->flags, cap * sizeof(*fl)) : NULL;
        if (id != NULL)
            c->id = id;
        if (fl == NULL) {
            c->failed = true;
            return 1;
        }
        c->flags = fl;
        c->cap = cap;
    }
    if ((c->id[c->n] = strdup(row->id)) == NULL) {
        c->failed = true;
        return 1;
    }
    c->flags[c->n++] = row->flags;
    return 0;
}

static void
copy_ids_free(struct copy_ids *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->id[i]);
    free(c->id);
    free(c->flags);
}

struct tally {
    size_t copied, present, failed, done, total;
    bool progress, tty;
    int64_t last_us;
};

static void
progress(const struct rec_args *a, struct tally *t, bool last)
{
    int64_t now = clock_mono_us();

    if (!t->progress)
        return;
    if (!last && now - t->last_us < (t->tty ? 200000 : 2000000))
        return;
    t->last_us = now;
    fprintf(stderr, "%s%s: %zu/%zu (%zu copied, %zu already there, %zu failed)%s",
            t->tty ? "\r" : "", a->cmd, t->done, t->total, t->copied, t->present, t->failed,
            t->tty && !last ? "" : "\n");
    fflush(stderr);
}

static void
fail_one(struct tally *t, const char *id, const char *why)
{
    char e[FMT_ESC_SIZE(512)];

    if (t->progress && t->tty)
        fputc('\n', stderr);
    t->last_us = 0;
    printf("FAIL %s: %s\n", id, cli_esc(why, e, sizeof(e)));
    t->failed++;
}

/* Whether the reading keys open the sealed text; why says why not. */
static bool
opens(const char *text, size_t len, char *why, size_t size)
{
    struct intentus_err err = { 0 };
    enum crypt_status st = CRYPT_PLAIN;
    char key[CRYPT_ID_HEX] = "?";
    size_t plen = 0;
    char *plain = crypt_open(crypt_reader(), CRYPT_RECORD, text, len, "sealed", &plen, &st, &err);

    if (plain != NULL) {
        explicit_bzero(plain, plen);
        free(plain);
        return true;
    }
    crypt_blob_key_id(text, len, key);
    if (st == CRYPT_NO_KEY || st == CRYPT_KEY_MISSING)
        snprintf(why, size,
                 "sealed with key %s and no key in the keyring opens it: the destination's index "
                 "needs its fields (give the key with --keyring, or copy plaintext with "
                 "--decrypt)",
                 key);
    else
        snprintf(why, size, "sealed, and it does not open (%s): not copied", err.msg);
    return false;
}

/* The destination's bytes of a batch's records, read back: the SHA-256 of
 * each one found (got, have), by index in the batch. */
struct readback {
    const struct copy_ids *ids;
    size_t lo, hi;
    char (*got)[65];
    bool *have;
};

static int
readback_one(void *ctx, const char *id, const char *text, size_t len)
{
    struct readback *rb = ctx;

    /* A linear search: a batch is COPY_BATCH ids, and each one is found
     * once; the round trip it saves costs far more. */
    for (size_t i = rb->lo; i < rb->hi; i++) {
        if (!rb->have[i - rb->lo] && strcmp(rb->ids->id[i], id) == 0) {
            json_sha256_hex(text, len, rb->got[i - rb->lo]);
            rb->have[i - rb->lo] = true;
            break;
        }
    }
    return 0;
}

/* Every record of the batch that was put (state non-zero) read back into
 * rb: without --decrypt first in one request for the whole batch (one
 * round trip on postgres instead of one per record), then one by one
 * whatever that did not bring (--decrypt, a failed request, a record not
 * found), so an error names the record it is about; a record that cannot
 * be read back is failed and its state set to 0. */
static void
read_back(const struct rec_args *a, struct store *to, int *state, struct readback *rb,
          struct tally *t)
{
    struct intentus_err err = { 0 };
    const char **want = calloc(rb->hi - rb->lo, sizeof(*want));
    size_t n = 0;

    for (size_t i = rb->lo; want != NULL && i < rb->hi; i++)
        if (state[i - rb->lo] != 0)
            want[n++] = rb->ids->id[i];
    if (!a->decrypt && n > 0)
        (void)store_get_raw_each(to, want, n, readback_one, rb, &err);
    free(want);
    for (size_t i = rb->lo; i < rb->hi; i++) {
        size_t len = 0;
        char *text;
        if (state[i - rb->lo] == 0 || rb->have[i - rb->lo])
            continue;
        err_clear(&err);
        /* The bytes the destination holds: a sealed file read back sealed. */
        text = a->decrypt ? store_get_open(to, rb->ids->id[i], &len, NULL, &err)
                          : store_get_raw(to, rb->ids->id[i], &len, &err);
        if (text == NULL) {
            fail_one(t, rb->ids->id[i], err.msg);
            state[i - rb->lo] = 0;
            continue;
        }
        json_sha256_hex(text, len, rb->got[i - rb->lo]);
        rb->have[i - rb->lo] = true;
        if (a->decrypt)
            explicit_bzero(text, len);
        free(text);
    }
}

/* One batch: put each record, commit, then read every put back
 * (read_back) and compare its SHA-256 with the source's. */
static int
copy_batch(const struct rec_args *a, struct store *from, struct store *to, struct copy_ids *ids,
           size_t lo, size_t hi, struct tally *t)
{
    char(*sum)[65] = calloc(hi - lo, sizeof(*sum));
    char(*got)[65] = calloc(hi - lo, sizeof(*got));
    bool *have = calloc(hi - lo, sizeof(*have));
    int *state = calloc(hi - lo, sizeof(*state)); /* 0 failed, 1 put, 2 already there */
    struct readback rb;
    struct intentus_err err = { 0 };
    bool db_dest = strcmp(store_scheme(to), "file") != 0;
    char why[600];
    int rc = -1;

    if (sum == NULL || got == NULL || have == NULL || state == NULL) {
        cli_error(a->cmd, "out of memory");
        goto out;
    }
    if (store_begin(to, &err) != 0) {
        cli_error(a->cmd, "%s", err.msg);
        goto out;
    }
    for (size_t i = lo; i < hi; i++) {
        size_t len = 0;
        char *text;
        int r;
        /* --decrypt: the plaintext, whichever engine sealed it; else the
         * bytes as stored, sealed or not. */
        text = a->decrypt ? store_get_open(from, ids->id[i], &len, NULL, &err)
                          : store_get_raw(from, ids->id[i], &len, &err);
        if (text == NULL) {
            fail_one(t, ids->id[i], err.msg);
            continue;
        }
        if (!a->decrypt && db_dest && crypt_is_sealed(text, len) &&
            !opens(text, len, why, sizeof(why))) {
            free(text);
            fail_one(t, ids->id[i], why);
            continue;
        }
        json_sha256_hex(text, len, sum[i - lo]);
        r = store_put(to, ids->id[i], text, len, &err);
        if (a->decrypt)
            explicit_bzero(text, len);
        free(text);
        if (r < 0)
            fail_one(t, ids->id[i], err.msg);
        else
            state[i - lo] = r == 0 ? 1 : 2;
    }
    if (store_commit(to, &err) != 0) {
        cli_error(a->cmd, "%s", err.msg);
        goto out;
    }
    rb = (struct readback){ .ids = ids, .lo = lo, .hi = hi, .got = got, .have = have };
    read_back(a, to, state, &rb, t);
    for (size_t i = lo; i < hi; i++) {
        if (state[i - lo] == 0)
            continue;
        if (strcmp(got[i - lo], sum[i - lo]) != 0) {
            fail_one(t, ids->id[i], "read back from the destination, its SHA-256 differs");
            continue;
        }
        if (state[i - lo] == 1)
            t->copied++;
        else
            t->present++;
    }
    t->done = hi;
    progress(a, t, false);
    rc = 0;
out:
    free(sum);
    free(got);
    free(have);
    free(state);
    return rc;
}

static struct store *
open_one(const struct rec_args *a, const char *url, bool dest, struct intentus_err *err)
{
    struct store_opts o = { .create = dest, .fsync = dest, .read_only = !dest };
    struct store *s = store_open_url(stores_builtin, url, &o, err);

    if (s == NULL)
        cli_error(a->cmd, "%s %s: %s", dest ? "--to" : "--from", url, err->msg);
    return s;
}

/* The store this command otherwise reads (--store, --dir, the config). */
static int
own_url(const struct rec_args *a, char *url, size_t size)
{
    struct config *cfg = NULL;
    const char *dir;

    if (a->store != NULL) {
        snprintf(url, size, "%s", a->store);
        return 0;
    }
    dir = cli_records_dir_of(a, &cfg);
    if (dir == NULL)
        return -1;
    if (a->dir == NULL && cfg != NULL && cfg->store_url != NULL)
        snprintf(url, size, "%s", cfg->store_url);
    else
        store_url_for_dir(dir, url, size);
    config_free(cfg);
    return 0;
}

int
cli_records_copy(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    char own[STORE_URL_MAX], e1[FMT_ESC_SIZE(512)], e2[FMT_ESC_SIZE(512)];
    const char *from_url = a->from, *to_url = a->to;
    struct store *from = NULL, *to = NULL;
    struct store_filter f = { 0 };
    struct store_query q = { .filter = &f };
    struct copy_ids ids = { 0 };
    struct tally t = { 0 };
    struct index_filter xf;
    int rc = EXIT_FAIL;

    if (a->first_arg < argc)
        return cli_usage_error(a->cmd, "unexpected argument '%s'", argv[a->first_arg]);
    if (strcmp(a->cmd, "records migrate") == 0) {
        if (from_url == NULL || to_url == NULL)
            return cli_usage_error(a->cmd, "give both --from URL and --to URL");
        if (a->store != NULL || a->dir != NULL)
            return cli_usage_error(a->cmd, "%s: the stores are --from and --to",
                                   a->store != NULL ? "--store" : "--dir");
    } else {
        if (strcmp(a->cmd, "records import") == 0 ? from_url == NULL : to_url == NULL)
            return cli_usage_error(a->cmd, "missing %s URL", from_url == NULL ? "--from" : "--to");
        if (own_url(a, own, sizeof(own)) != 0)
            return EXIT_USAGE;
        if (from_url == NULL)
            from_url = own;
        else
            to_url = own;
    }
    if (strcmp(from_url, to_url) == 0)
        return cli_usage_error(a->cmd, "--from and --to are the same store (%s)", from_url);
    if (cli_keys_from_flag(a->cmd, a->keyring) != 0)
        return EXIT_USAGE;
    /* Usage errors (a bad URL) before anything is opened or created. */
    if (store_engine_find(stores_builtin, from_url, NULL, &err) == NULL ||
        store_engine_find(stores_builtin, to_url, NULL, &err) == NULL)
        return cli_usage_error(a->cmd, "%s", err.msg);
    if ((from = open_one(a, from_url, false, &err)) == NULL ||
        (to = open_one(a, to_url, true, &err)) == NULL)
        goto out;
    cli_records_filter(a, &xf);
    f = (struct store_filter){ .intent = xf.intent,
                               .agent = xf.agent,
                               .status = xf.status,
                               .error_code = xf.error_code,
                               .text = xf.text,
                               .since_us = xf.since_us };
    if (store_query(from, &q, collect, &ids, &err) < 0 || ids.failed) {
        cli_error(a->cmd, "%s: %s", from_url, ids.failed ? "out of memory" : err.msg);
        goto out;
    }
    t.total = ids.n;
    t.tty = isatty(STDERR_FILENO) != 0;
    t.progress = a->progress || t.tty;
    t.last_us = clock_mono_us();
    for (size_t lo = 0; lo < ids.n; lo += COPY_BATCH) {
        size_t hi = lo + COPY_BATCH < ids.n ? lo + COPY_BATCH : ids.n;
        if (copy_batch(a, from, to, &ids, lo, hi, &t) != 0)
            goto out;
    }
    progress(a, &t, true);
    printf("%zu copied, %zu already there, %zu failed (%s -> %s)\n", t.copied, t.present, t.failed,
           cli_esc(from_url, e1, sizeof(e1)), cli_esc(to_url, e2, sizeof(e2)));
    rc = t.failed > 0 ? EXIT_FAIL : EXIT_OK;
out:
    copy_ids_free(&ids);
    store_close(from);
    store_close(to);
    return rc;
}
