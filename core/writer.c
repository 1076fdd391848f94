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
#include "core/uuid.h"

struct writer {
    enum writer_mode mode;
    bool fsync;
    enum writer_on_full on_full;
    struct rec_store *store; /* sync mode writes through the store */
    int dirfd;               /* async mode writes files itself (no per-file dir fsync) */
    char *dir;
    pthread_mutex_t lock;
    pthread_cond_t nonempty, notfull, drained;
    cJSON **ring;
    cJSON **batch; /* the writer thread's current group */
    size_t cap, head, len, max_batch;
    bool busy, stopping, started;
    pthread_t thread;
    struct writer_stats st;
    struct intentus_err last_err;
};

/* One record of a batch: temp file, optional fsync of the file, rename.
 * The directory is synced once for the whole batch by the caller. */
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

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    cJSON **batch = w->batch;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        size_t n = 0;
        uint64_t ok = 0, bad = 0;
        struct intentus_err err = { 0 };
        while (w->len == 0 && !w->stopping)
            pthread_cond_wait(&w->nonempty, &w->lock);
        if (w->len == 0)
            break;
        while (w->len > 0 && n < w->max_batch) {
            batch[n++] = w->ring[w->head];
            w->head = (w->head + 1) % w->cap;
            w->len--;
        }
        w->busy = true;
        pthread_cond_broadcast(&w->notfull);
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < n; i++) {
            if (save_one(w, batch[i], &err) == 0)
                ok++;
            else
                bad++;
            cJSON_Delete(batch[i]);
        }
        /* Group commit: the renames of the whole batch reach the disk with
         * one directory fsync. */
        if (w->fsync && ok > 0 && fsync(w->dirfd) != 0)
            err_set(&err, IERR_IO, "cannot fsync directory %s: %s", w->dir, strerror(errno));
        pthread_mutex_lock(&w->lock);
        w->st.written += ok;
        w->st.errors += bad;
        w->st.batches++;
        if (err.code != IERR_OK)
            w->last_err = err;
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
    w->store =
        rec_store_open(dir, &(struct rec_store_opts){ .create = true, .fsync = o.fsync }, err);
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
    w->ring = calloc(w->cap, sizeof(*w->ring));
    w->batch = calloc(w->max_batch, sizeof(*w->batch));
    if (w->dirfd < 0 || w->ring == NULL || w->batch == NULL) {
        err_set(err, IERR_IO, "record writer for %s: %s", dir,
                w->dirfd < 0 ? strerror(errno) : "out of memory");
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
    int rc = -1;

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
        w->ring[(w->head + w->len) % w->cap] = record;
        w->len++;
        record = NULL;
        pthread_cond_signal(&w->nonempty);
        rc = 0;
    }
    pthread_mutex_unlock(&w->lock);
    cJSON_Delete(record);
    return rc;
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
    for (size_t i = 0; i < w->len; i++)
        cJSON_Delete(w->ring[(w->head + i) % w->cap]);
    if (w->dirfd >= 0)
        close(w->dirfd);
    rec_store_close(w->store);
    pthread_cond_destroy(&w->drained);
    pthread_cond_destroy(&w->notfull);
    pthread_cond_destroy(&w->nonempty);
    pthread_mutex_destroy(&w->lock);
    free(w->ring);
    free(w->batch);
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
