#include "core/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/store.h"
#include "core/uuid.h"

struct writer_fate {
    pthread_mutex_t lock;
    pthread_cond_t decided;
    int refs; /* the submitter's and, until it decides, the writer's */
    enum writer_fate_state state;
    struct intentus_err err;
    writer_fate_fn fn;
    void *ctx;
};

/* A queued record and its fate (NULL when untracked). */
struct slot {
    cJSON *record;
    struct writer_fate *fate;
};

struct writer {
    enum writer_mode mode;
    bool fsync;
    enum writer_on_full on_full;
    struct rec_store *store; /* sync mode writes through the store */
    /* writer_opts.engine (borrowed): every record goes through it instead;
     * engine_lock makes the sync mode's callers take turns on it. */
    struct store *engine;
    pthread_mutex_t engine_lock;
    int dirfd; /* async mode writes files itself (no per-file dir fsync) */
    char *dir;
    pthread_mutex_t lock;
    pthread_cond_t nonempty, notfull, drained;
    struct slot *ring;
    struct slot *batch;           /* the writer thread's current group */
    struct intentus_err *results; /* per record of the batch: IERR_OK once on disk */
    size_t cap, head, len, max_batch;
    bool busy, stopping, started;
    pthread_t thread;
    struct writer_stats st;
    struct intentus_err last_err;
};

/* One record of a batch: temp file, optional fsync of the file, rename.
 * The directory is synced once for the whole batch by the caller. */
/* A record through the store engine: the text the file would hold, put
 * by execution id (a record already there with these bytes is written). */
static int
engine_put(struct writer *w, const cJSON *record, struct intentus_err *err)
{
    const char *id = record_id(record);
    struct buf text = BUF_INIT;
    int rc;

    if (json_print_pretty(record, &text) != 0) {
        err_set(err, IERR_NOMEM, "out of memory serialising record %s", id ? id : "(none)");
        return -1;
    }
    rc = store_put(w->engine, id, text.data, text.len, err) < 0 ? -1 : 0;
    buf_free(&text);
    return rc;
}

static int
save_one(struct writer *w, const cJSON *record, struct intentus_err *err)
{
    const char *id = record_id(record);
    char name[160], tmp[200], rnd[UUID_STR_LEN];
    struct buf text = BUF_INIT;
    int fd = -1, rc = -1;

    if (!rec_store_id_is_valid(id)) {
        err_set(err, IERR_INVALID, "record id '%s' is not a safe file name", id ? id : "(none)");
        return -1;
    }
    if (json_print_pretty(record, &text) != 0) {
        err_set(err, IERR_NOMEM, "out of memory serialising record %s", id);
        return -1;
    }
    if (rec_store_check_size(id, text.len, err) != 0)
        goto out;
    snprintf(name, sizeof(name), "%s.json", id);
    uuid_v4(rnd);
    snprintf(tmp, sizeof(tmp), ".%s.%.8s.tmp", name, rnd); /* hidden until renamed */
    fd = openat(w->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(err, IERR_IO, "cannot create %s/%s: %s", w->dir, tmp, strerror(errno));
        goto out;
    }
    if (rec_store_write_all(fd, text.data, text.len) != 0 || (w->fsync && fsync(fd) != 0) ||
        close(fd) != 0) {
        err_set(err, IERR_IO, "cannot write %s/%s: %s", w->dir, tmp, strerror(errno));
        fd = -1;
        unlinkat(w->dirfd, tmp, 0);
        goto out;
    }
    fd = -1;
    if (renameat(w->dirfd, tmp, w->dirfd, name) != 0) {
        err_set(err, IERR_IO, "cannot rename %s into place in %s: %s", name, w->dir,
                strerror(errno));
        unlinkat(w->dirfd, tmp, 0);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    buf_free(&text);
    return rc;
}

static struct writer_fate *
fate_new(void)
{
    struct writer_fate *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->decided, NULL);
    f->refs = 2;
    return f;
}

/* The writer's last word on a record: sets the state, wakes waiters, calls
 * the notify hook (outside the lock) and drops the writer's reference. */
static void
fate_decide(struct writer_fate *f, const struct intentus_err *result)
{
    writer_fate_fn fn;
    void *ctx;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->state = result->code == IERR_OK ? WRITER_FATE_WRITTEN : WRITER_FATE_FAILED;
    f->err = *result;
    fn = f->fn;
    ctx = f->ctx;
    pthread_cond_broadcast(&f->decided);
    pthread_mutex_unlock(&f->lock);
    if (fn != NULL)
        fn(ctx, f);
    writer_fate_release(f);
}

/* One group commit: write every record of the batch, sync the directory
 * once, then decide each record's fate. */
static void
write_batch(struct writer *w, size_t n)
{
    uint64_t ok = 0, bad = 0;
    struct intentus_err dir_err = { 0 }, *last = NULL;

    /* With an engine the batch is one transaction: acknowledged (written)
     * only once the commit returned, durable then when fsync is on. */
    if (w->engine != NULL && store_begin(w->engine, &dir_err) != 0)
        ok = 0;
    for (size_t i = 0; i < n; i++) {
        err_clear(&w->results[i]);
        if (dir_err.code == IERR_OK &&
            (w->engine != NULL ? engine_put(w, w->batch[i].record, &w->results[i])
                               : save_one(w, w->batch[i].record, &w->results[i])) == 0)
            ok++;
        cJSON_Delete(w->batch[i].record);
    }
    if (w->engine != NULL) {
        if (dir_err.code == IERR_OK && store_commit(w->engine, &dir_err) != 0 &&
            dir_err.code == IERR_OK)
            dir_err.code = IERR_IO;
    } else if (w->fsync && ok > 0 && fsync(w->dirfd) != 0) {
        /* Group commit: the renames of the whole batch reach the disk with
         * one directory fsync; without it they are not durable, so not
         * written. */
        err_set(&dir_err, IERR_IO, "cannot fsync directory %s: %s", w->dir, strerror(errno));
    }
    ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (w->results[i].code == IERR_OK && dir_err.code != IERR_OK)
            w->results[i] = dir_err;
        if (w->results[i].code == IERR_OK) {
            ok++;
        } else {
            bad++;
            last = &w->results[i];
        }
    }
    pthread_mutex_lock(&w->lock);
    w->st.written += ok;
    w->st.errors += bad;
    w->st.batches++;
    if (last != NULL)
        w->last_err = *last;
    pthread_mutex_unlock(&w->lock);
    /* Counted before anyone hears of it, so stats never lag a fate. */
    for (size_t i = 0; i < n; i++)
        fate_decide(w->batch[i].fate, &w->results[i]);
}

static void *
writer_main(void *arg)
{
    struct writer *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        size_t n = 0;
        while (w->len == 0 && !w->stopping)
            pthread_cond_wait(&w->nonempty, &w->lock);
        if (w->len == 0)
            break;
        while (w->len > 0 && n < w->max_batch) {
            w->batch[n++] = w->ring[w->head];
            w->head = (w->head + 1) % w->cap;
            w->len--;
        }
        w->busy = true;
        pthread_cond_broadcast(&w->notfull);
        pthread_mutex_unlock(&w->lock);
        write_batch(w, n);
        pthread_mutex_lock(&w->lock);
        w->busy = false;
        pthread_cond_broadcast(&w->drained);
    }
    w->busy = false;
    pthread_cond_broadcast(&w->drained);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct writer *
writer_open(const char *dir, const struct writer_opts *opts, struct intentus_err *err)
{
    struct writer *w = calloc(1, sizeof(*w));
    struct writer_opts o = opts != NULL ? *opts : (struct writer_opts){ 0 };

    if (w == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    w->mode = o.mode;
    w->fsync = o.fsync;
    w->on_full = o.on_full;
    w->cap = o.capacity > 0 ? o.capacity : 1024;
    w->max_batch = o.max_batch > 0 ? o.max_batch : 128;
    w->dirfd = -1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->nonempty, NULL);
    pthread_cond_init(&w->notfull, NULL);
    pthread_cond_init(&w->drained, NULL);
    pthread_mutex_init(&w->engine_lock, NULL);
    w->engine = o.engine;
    if (w->engine != NULL) {
        w->dir = strdup(store_url(w->engine));
        if (w->dir == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            goto fail;
        }
        if (w->mode == WRITER_SYNC)
            return w;
        goto start;
    }
    w->store = rec_store_open(
        dir,
        &(struct rec_store_opts){
            .create = true, .fsync = o.fsync, .encrypt = o.keys != NULL, .keys = o.keys },
        err);
    if (w->store == NULL)
        goto fail;
    w->dir = strdup(dir);
    if (w->dir == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    if (w->mode == WRITER_SYNC)
        return w;
    w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        err_set(err, IERR_IO, "record writer for %s: %s", dir, strerror(errno));
        goto fail;
    }
start:
    w->ring = calloc(w->cap, sizeof(*w->ring));
    w->batch = calloc(w->max_batch, sizeof(*w->batch));
    w->results = calloc(w->max_batch, sizeof(*w->results));
    if (w->ring == NULL || w->batch == NULL || w->results == NULL) {
        err_set(err, IERR_NOMEM, "record writer for %s: out of memory", w->dir);
        goto fail;
    }
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        err_set(err, IERR_IO, "record writer for %s: cannot start its thread", dir);
        goto fail;
    }
    w->started = true;
    return w;
fail:
    writer_close(w);
    return NULL;
}

int
writer_submit(struct writer *w, cJSON *record, struct intentus_err *err)
{
    return writer_submit_tracked(w, record, NULL, err);
}

int
writer_submit_tracked(struct writer *w, cJSON *record, struct writer_fate **fate,
                      struct intentus_err *err)
{
    struct writer_fate *f = NULL;
    int rc = -1;

    if (fate != NULL)
        *fate = NULL;
    if (w->mode == WRITER_SYNC && w->engine != NULL) {
        pthread_mutex_lock(&w->engine_lock);
        rc = engine_put(w, record, err);
        pthread_mutex_unlock(&w->engine_lock);
        cJSON_Delete(record);
        pthread_mutex_lock(&w->lock);
        if (rc == 0)
            w->st.written++;
        else
            w->st.errors++;
        pthread_mutex_unlock(&w->lock);
        return rc;
    }
    if (w->mode == WRITER_SYNC) {
        rc = rec_store_save(w->store, record, err);
        cJSON_Delete(record);
        pthread_mutex_lock(&w->lock);
        if (rc == 0)
            w->st.written++;
        else
            w->st.errors++;
        pthread_mutex_unlock(&w->lock);
        return rc;
    }
    if (fate != NULL && (f = fate_new()) == NULL) {
        err_set(err, IERR_NOMEM, "record writer for %s: out of memory", w->dir);
        cJSON_Delete(record);
        pthread_mutex_lock(&w->lock);
        w->st.errors++;
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    while (w->len == w->cap && w->on_full == WRITER_BLOCK && !w->stopping)
        pthread_cond_wait(&w->notfull, &w->lock);
    if (w->stopping) {
        err_set(err, IERR_INVALID, "record writer for %s is closing", w->dir);
        w->st.errors++;
    } else if (w->len == w->cap) {
        w->st.dropped++;
        err_set(err, IERR_LIMIT,
                "record dropped: writer queue full (%zu records; recording.on_full is drop)",
                w->cap);
    } else {
        w->ring[(w->head + w->len) % w->cap] = (struct slot){ record, f };
        w->len++;
        record = NULL;
        if (fate != NULL)
            *fate = f;
        f = NULL;
        pthread_cond_signal(&w->nonempty);
        rc = 0;
    }
    pthread_mutex_unlock(&w->lock);
    cJSON_Delete(record);
    if (f != NULL) { /* never queued: nobody holds it */
        f->refs = 1;
        writer_fate_release(f);
    }
    return rc;
}

enum writer_fate_state
writer_fate_get(struct writer_fate *f, struct intentus_err *err)
{
    enum writer_fate_state st;

    pthread_mutex_lock(&f->lock);
    st = f->state;
    if (st == WRITER_FATE_FAILED && err != NULL)
        *err = f->err;
    pthread_mutex_unlock(&f->lock);
    return st;
}

int
writer_fate_wait(struct writer_fate *f, struct intentus_err *err)
{
    enum writer_fate_state st;

    pthread_mutex_lock(&f->lock);
    while (f->state == WRITER_FATE_PENDING)
        pthread_cond_wait(&f->decided, &f->lock);
    st = f->state;
    if (st == WRITER_FATE_FAILED && err != NULL)
        *err = f->err;
    pthread_mutex_unlock(&f->lock);
    return st == WRITER_FATE_WRITTEN ? 0 : -1;
}

void
writer_fate_notify(struct writer_fate *f, writer_fate_fn fn, void *ctx)
{
    bool now;

    pthread_mutex_lock(&f->lock);
    now = f->state != WRITER_FATE_PENDING;
    if (!now) {
        f->fn = fn;
        f->ctx = ctx;
    }
    pthread_mutex_unlock(&f->lock);
    if (now)
        fn(ctx, f);
}

void
writer_fate_release(struct writer_fate *f)
{
    bool last;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    last = --f->refs == 0;
    pthread_mutex_unlock(&f->lock);
    if (!last)
        return;
    pthread_cond_destroy(&f->decided);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void
writer_flush(struct writer *w)
{
    if (w == NULL || !w->started)
        return;
    pthread_mutex_lock(&w->lock);
    while (w->len > 0 || w->busy)
        pthread_cond_wait(&w->drained, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void
writer_close(struct writer *w)
{
    if (w == NULL)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true; /* the thread drains the queue before it exits */
        pthread_cond_broadcast(&w->nonempty);
        pthread_cond_broadcast(&w->notfull);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    for (size_t i = 0; w->ring != NULL && i < w->len; i++) { /* only when the thread never ran */
        struct slot *sl = &w->ring[(w->head + i) % w->cap];
        struct intentus_err gone = { 0 };
        err_set(&gone, IERR_IO, "record writer for %s closed before the record was written",
                w->dir);
        cJSON_Delete(sl->record);
        fate_decide(sl->fate, &gone);
    }
    if (w->dirfd >= 0)
        close(w->dirfd);
    rec_store_close(w->store);
    pthread_cond_destroy(&w->drained);
    pthread_cond_destroy(&w->notfull);
    pthread_cond_destroy(&w->nonempty);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->engine_lock);
    free(w->ring);
    free(w->batch);
    free(w->results);
    free(w->dir);
    free(w);
}

void
writer_stats(struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->st;
    out->queued = w->len;
    pthread_mutex_unlock(&w->lock);
}

void
writer_last_error(struct writer *w, struct intentus_err *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->last_err;
    pthread_mutex_unlock(&w->lock);
}

const char *
writer_dir(const struct writer *w)
{
    return w->dir;
}

enum writer_mode
writer_mode(const struct writer *w)
{
    return w->mode;
}
